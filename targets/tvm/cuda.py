"""``tvm-cuda``: TVM for an NVIDIA GPU with the default GPU schedules (dlight rules)."""

from __future__ import annotations

from typing import Any

from hwnas.target import Target
from hwnas.targets.tvm import common
from hwnas.timing import Measurement, TimingProtocol
from hwnas.workload import Workload


class TvmCudaTarget(Target):
    """TVM on CUDA GPU 0: ``Target({"kind": "cuda", "arch": arch}, host=llvm)``.

    ``compile`` runs TVM's CUDA pipeline inside a ``with target:`` scope
    (its dlight rules give every kernel a default GPU schedule, no search);
    it needs no GPU, and the library carries CUDA source that the runtime
    compiles on the GPU machine (NVRTC, or ``TVM_CUDA_COMPILE_MODE=nvcc``).
    ``time`` runs only where ``tvm.cuda(0)`` exists and the TVM runtime was
    built with CUDA; :meth:`available` names what is missing otherwise.

    Options: ``arch`` (``sm_80``, ``sm_89``, ...). Untested here: timing
    (this machine has no GPU, and the PyPI TVM wheel's runtime has no CUDA).
    """

    name = "tvm-cuda"

    def __init__(self, arch: str = "sm_80") -> None:
        self.arch = arch
        self._target = None

    @property
    def tvm_target(self):
        """The CUDA target with an LLVM host."""
        if self._target is None:
            import tvm

            self._target = tvm.target.Target(
                {"kind": "cuda", "arch": self.arch}, host={"kind": "llvm"}
            )
        return self._target

    def available(self) -> str | None:
        """Why this cannot time here: TVM runtime without CUDA, or no CUDA GPU."""
        import tvm

        if not tvm.runtime.enabled("cuda"):
            return (
                "the installed TVM runtime was built without CUDA (PyPI apache-tvm): "
                "install a CUDA-enabled TVM on a machine with an NVIDIA GPU"
            )
        if not tvm.cuda(0).exist:
            return "no CUDA GPU found (tvm.cuda(0) does not exist)"
        return None

    def fingerprint(self) -> dict[str, Any]:
        """Target, TVM versions, CUDA target and the GPU's name/compute version when present."""
        import tvm

        device = tvm.cuda(0)
        gpu = (
            {"gpu": device.device_name, "compute_version": device.compute_version}
            if tvm.runtime.enabled("cuda") and device.exist
            else {}
        )
        return {
            "target": self.name,
            "mode": "default",
            **common.tvm_versions(),
            "cuda_target": common.target_string(self.tvm_target),
            **gpu,
        }

    def compile(self, workload: Workload) -> common.TvmCompiled:
        """Build with TVM's default CUDA pipeline (dlight schedules); no GPU needed."""
        import tvm

        mod = common.import_workload(workload)
        with self.tvm_target:
            executable = tvm.compile(mod, target=self.tvm_target)
        info = {"target": common.target_string(self.tvm_target)}
        return common.TvmCompiled(
            workload.key, common.example_numpy(workload), executable=executable, info=info
        )

    @staticmethod
    def cuda_source(compiled: common.TvmCompiled) -> str:
        """The CUDA C source inside the compiled library (evidence of device code)."""
        sources = []
        pending = list(compiled.executable.mod.imports)
        while pending:
            module = pending.pop()
            if module.kind == "cuda":
                sources.append(str(module.inspect_source()))
            pending.extend(module.imports)
        return "\n".join(sources)

    def time(self, compiled: common.TvmCompiled, protocol: TimingProtocol) -> Measurement:
        """Time on GPU 0 with ``time_evaluator`` (the device synchronises per repeat)."""
        import tvm
        from tvm import relax

        reason = self.available()
        if reason:
            raise RuntimeError(f"tvm-cuda cannot time here: {reason}")
        device = tvm.cuda(0)
        vm = relax.VirtualMachine(compiled.executable, device)
        inputs = [tvm.runtime.tensor(compiled.example_input, device)]
        return common.with_info(common.time_vm(vm, device, inputs, protocol, None), compiled)
