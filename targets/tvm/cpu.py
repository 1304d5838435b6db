"""``tvm-cpu``: TVM (Relax) on the host CPU, untuned or tuned with MetaSchedule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError
from hwnas.target import Target, cpu_model
from hwnas.targets.tvm import common, rules
from hwnas.timing import Measurement, TimingProtocol
from hwnas.workload import Workload

MODES = ("rules", "default", "tuned")


class TvmCpuTarget(Target):
    """TVM on the host CPU (LLVM with the detected ``mcpu``), timed by ``time_evaluator``.

    Options:

    - ``mode``: ``"rules"`` (the default) schedules every fused function with
      the rules of :mod:`hwnas.targets.tvm.rules` (no search, well under a
      second per workload). ``"default"`` compiles with TVM's own pipeline
      and no schedule: on CPU that code is one scalar loop nest per operator,
      the honest *unscheduled* TVM number. ``"tuned"`` runs MetaSchedule
      first (see :mod:`hwnas.targets.tvm.tuning`); tasks without a tuning
      record get the rule-based schedule.
    - ``threads``: TVM runtime threads (and the target's ``num-cores``);
      ``None`` means ``$TVM_NUM_THREADS`` or all physical cores.
    - ``trials``: MetaSchedule trial budget per compile (tuned only), spent
      on tasks not yet in the database.
    - ``max_trials_per_task``: per-task cap; default an even split.
    - ``work_dir``: the persistent tuning database; default
      ``<hwnas cache>/tvm-tuning/<fingerprint key>``, so runs and workloads
      with the same target and budget share records.
    """

    name = "tvm-cpu"

    def __init__(
        self,
        mode: str = "rules",
        threads: int | None = None,
        trials: int = 64,
        max_trials_per_task: int | None = None,
        work_dir: str | Path | None = None,
    ) -> None:
        if mode not in MODES:
            raise HwnasError(
                f"tvm-cpu: unknown mode {mode!r}", f"choose one of: {', '.join(MODES)}"
            )
        if not isinstance(trials, int) or trials < 0:
            raise HwnasError(f"tvm-cpu: trials must be an integer >= 0, got {trials!r}")
        self.mode = mode
        self.threads = common.host_threads(threads)
        self.trials = trials
        self.max_trials_per_task = max_trials_per_task
        self._work_dir = Path(work_dir) if work_dir is not None else None
        self._target = None

    # -- target description ---------------------------------------------------
    @property
    def tvm_target(self):
        """The ``tvm.target.Target``: LLVM for the host triple and detected CPU, ``num-cores``."""
        if self._target is None:
            import tvm

            codegen = tvm.target.codegen
            self._target = tvm.target.Target(
                {
                    "kind": "llvm",
                    "mtriple": codegen.llvm_get_system_triple(),
                    "mcpu": codegen.llvm_get_system_cpu(),
                    "num-cores": self.threads,
                }
            )
        return self._target

    @property
    def work_dir(self) -> Path:
        """Where the MetaSchedule database lives (created on first tuning)."""
        if self._work_dir is None:
            from hwnas.onnx_cache import cache_dir

            self._work_dir = cache_dir() / "tvm-tuning" / f"{self.name}-{self.fingerprint_key()}"
        return self._work_dir

    def available(self) -> str | None:
        """``None`` when TVM imports and was built with LLVM, else why not."""
        try:
            import tvm
        except ImportError as exc:
            return f"needs apache-tvm: pip install 'hwnas[tvm]' ({exc})"
        if not tvm.runtime.enabled("llvm"):
            return "this TVM build has no LLVM backend"
        return None

    def fingerprint(self) -> dict[str, Any]:
        """Target, mode (and tuning budget), TVM versions, LLVM target, CPU model, threads."""
        fingerprint = {
            "target": self.name,
            "mode": self.mode,
            **common.tvm_versions(),
            "llvm_target": common.target_string(self.tvm_target),
            "cpu": cpu_model(),
            "threads": self.threads,
        }
        if self.mode == "tuned":
            fingerprint["trials"] = self.trials
            fingerprint["max_trials_per_task"] = self.max_trials_per_task
        return fingerprint

    # -- compile and time ------------------------------------------------------
    def compile(self, workload: Workload) -> common.TvmCompiled:
        """Import the workload's ONNX export and build it (tuning first in ``tuned`` mode)."""
        return self.compile_relax(
            common.import_workload(workload), common.example_numpy(workload), workload.key
        )

    def compile_onnx(
        self, path: str | Path, example_input, key: str = "onnx"
    ) -> common.TvmCompiled:
        """Compile an ONNX file directly (e.g. one exported from a module with known weights)."""
        return self.compile_relax(common.import_onnx(path), example_input, key)

    def compile_relax(self, mod, example_input, key: str) -> common.TvmCompiled:
        """Build a Relax module for the host; in ``tuned`` mode tune missing tasks first."""
        import tvm

        info: dict[str, Any] = {"target": common.target_string(self.tvm_target), "mode": self.mode}
        if self.mode == "tuned":
            from hwnas.targets.tvm import tuning
            from hwnas.targets.tvm.fold import fold_with_numpy

            mod, report = tuning.tune_and_apply(
                tuning.prepare(fold_with_numpy(mod), self.tvm_target),
                self.tvm_target,
                self.work_dir,
                self.trials,
                self.max_trials_per_task,
                self.threads,
            )
            info["tuning"] = report.as_dict()
            # Tasks MetaSchedule has no record for get the rule-based schedule.
            mod, rules_report = rules.apply_rules(mod, self.tvm_target)
            info["rules"] = rules_report.as_dict()
            executable = rules.build(mod, self.tvm_target)
        elif self.mode == "rules":
            executable, report = rules.compile_with_rules(mod, self.tvm_target)
            info["rules"] = report.as_dict()
        else:
            executable = tvm.compile(mod, target=self.tvm_target)
        return common.TvmCompiled(key, example_input, executable=executable, info=info)

    def save_artifact(self, onnx_path, out_dir):
        """Compile the ONNX file for this CPU and export the shared library (``*.tvm.so``)."""
        import numpy
        import onnx

        model = onnx.load(str(onnx_path))
        dims = model.graph.input[0].type.tensor_type.shape.dim
        example = numpy.zeros([d.dim_value for d in dims], dtype=numpy.float32)
        compiled = self.compile_onnx(onnx_path, example, key=str(onnx_path))
        out = Path(out_dir) / f"{Path(onnx_path).stem}.{self.name}.so"
        compiled.executable.export_library(str(out))
        return out

    def run(self, compiled: common.TvmCompiled, x=None):
        """Run the compiled module once on ``x`` (default its example input); returns numpy."""
        import tvm
        from tvm import relax

        device = tvm.cpu()
        vm = relax.VirtualMachine(compiled.executable, device)
        x = compiled.example_input if x is None else x
        return vm["main"](tvm.runtime.tensor(x, device)).numpy()

    def time(self, compiled: common.TvmCompiled, protocol: TimingProtocol) -> Measurement:
        """Time on the host with ``threads`` TVM runtime threads."""
        import tvm
        from tvm import relax

        runtime_threads = common.config_threads(self.threads)
        if runtime_threads != self.threads:
            raise RuntimeError(f"TVM runtime has {runtime_threads} threads, wanted {self.threads}")
        device = tvm.cpu()
        vm = relax.VirtualMachine(compiled.executable, device)
        inputs = [tvm.runtime.tensor(compiled.example_input, device)]
        result = common.time_vm(vm, device, inputs, protocol, self.threads)
        return common.with_info(result, compiled)
