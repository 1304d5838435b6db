"""One-shot supernet training on real images (SPOS), BN recalibration and evaluation.

- :mod:`.data`: image data sets as in-memory tensors (IDX, image folder, CIFAR-10), splits;
- :mod:`.model`: :class:`~.model.Supernet`, single-path forward, subnet extraction;
- :mod:`.train`: SPOS training (resumable, deterministic, torchrun data parallel);
- :mod:`.checkpoint`: atomic checkpoint files and their shape checks;
- :mod:`.evaluate`: BN recalibration, :class:`~.evaluate.SubnetEvaluator`,
  :class:`~.evaluate.SupernetAccuracy`;
- :mod:`.scratch`: one architecture trained from scratch, scored on the test set.
"""
