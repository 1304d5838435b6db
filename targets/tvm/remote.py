"""What the TVM targets for remote devices share: build a library here, time it over RPC."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from hwnas.target import Target
from hwnas.targets.tvm import common
from hwnas.workload import Workload


class RemoteLibraryTarget(Target):
    """Base of ``tvm-arm`` and ``tvm-hexagon``: compile to a shared library, time it remotely.

    Subclasses set ``tvm_target`` (a property), ``remote`` (an
    :class:`~hwnas.targets.tvm.rpc.RemoteRunner`) and :meth:`fcompile` (how the
    objects are linked for the device). Libraries live in a per-instance
    temporary directory that :meth:`close` removes.
    """

    remote = None
    #: ``"default"`` (TVM's pipeline, unscheduled on CPUs) or ``"rules"`` (:mod:`.rules`).
    mode = "default"
    _build_dir: common.BuildDir | None = None

    def fingerprint(self) -> dict[str, Any]:
        """Target, TVM versions, the LLVM target string and the device key."""
        return {
            "target": self.name,
            "mode": self.mode,
            **common.tvm_versions(),
            "llvm_target": common.target_string(self.tvm_target),
            "device_key": self.remote.key,
        }

    def fcompile(self):
        """The ``fcompile`` that ``export_library`` links the device library with."""
        raise NotImplementedError

    def compile_only(self, workload: Workload, path: str | Path) -> Path:
        """Compile ``workload`` into the device library ``path`` (no device needed)."""
        import tvm

        mod = common.import_workload(workload)
        if self.mode == "rules":
            from hwnas.targets.tvm import rules

            executable, _ = rules.compile_with_rules(mod, self.tvm_target)
        else:
            executable = tvm.compile(mod, target=self.tvm_target)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        executable.export_library(str(path), fcompile=self.fcompile())
        return path

    def compile(self, workload: Workload) -> common.TvmCompiled:
        """Compile into this instance's build directory."""
        if self._build_dir is None:
            self._build_dir = common.BuildDir(self, prefix=f"hwnas-{self.name}-")
        digest = hashlib.sha256(workload.key.encode()).hexdigest()[:16]
        library = self.compile_only(workload, self._build_dir.path / f"w{digest}.so")
        info = {"target": common.target_string(self.tvm_target), "library": library.name}
        return common.TvmCompiled(
            workload.key, common.example_numpy(workload), library=library, info=info
        )

    def close(self) -> None:
        """Release the device session and delete the build directory."""
        if self.remote is not None:
            self.remote.close()
        if self._build_dir is not None:
            self._build_dir.close()
            self._build_dir = None
