"""Targets that misbehave on purpose, loaded into worker processes via HWNAS_PLUGINS."""

from __future__ import annotations

import os
import time
from pathlib import Path

import hwnas
from hwnas.timing import time_callable


class SleepTarget(hwnas.Target):
    """Works: 'compiles' in ``compile_s`` seconds and runs a 0.2 ms sleep."""

    def __init__(self, compile_s: float = 0.0, mode: str = "ok", starts_to_die: str = ""):
        self.compile_s = compile_s
        self.mode = mode
        if starts_to_die:  # a file counting worker starts that die silently, as a crash would
            counter = Path(starts_to_die)
            left = int(counter.read_text())
            if left > 0:
                counter.write_text(str(left - 1))
                os._exit(255)

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
