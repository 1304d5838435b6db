"""Targets that misbehave on purpose, loaded into worker processes via HWNAS_PLUGINS."""

from __future__ import annotations

import os
import time

import hwnas
from hwnas.timing import time_callable


class SleepTarget(hwnas.Target):
    """Works: 'compiles' in ``compile_s`` seconds and runs a 0.2 ms sleep."""

    def __init__(self, compile_s: float = 0.0, mode: str = "ok"):
        self.compile_s = compile_s
        self.mode = mode

    def fingerprint(self):
        return {"target": "sleep", "mode": self.mode}

    def compile(self, workload):
        time.sleep(self.compile_s)
        if self.mode == "crash" and "c16" in workload.key:
            os._exit(139)  # what a segfaulting compiler looks like from outside
        if self.mode == "hang" and "c16" in workload.key:
            time.sleep(3600)
        if self.mode == "error" and "c16" in workload.key:
            raise RuntimeError("unsupported operator Conv with 16 channels")
        return workload.build()

    def time(self, compiled, protocol):
        return time_callable(lambda: time.sleep(0.0002), protocol)


@hwnas.hookimpl
def hwnas_targets():
    yield hwnas.TargetSpec(name="test-sleep", summary="sleeps (tests only)", factory=SleepTarget)
