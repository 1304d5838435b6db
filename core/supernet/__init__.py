"""One-shot supernet training on real images (SPOS), BN recalibration and evaluation."""
