"""An ``--out`` folder remembers the command that writes it, so rerunning it resumes.

A long command (``hwnas search``, ``hwnas arena``) writes ``run.json`` into its
output folder before any work: the options that decide the result. Run again
with the same options, the folder is resumed ("resuming from ..." on stderr)
and the command picks up what its strategy saved there; with other options it
is a one-line error (use another ``--out``, or ``--fresh`` to start over in
it). ``--fresh`` removes ``run.json`` and the files :func:`open_run` is told
belong to a run, never anything else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.console import Console

from hwnas import interrupt
from hwnas.errors import HwnasError

RUN_FILE = "run.json"
_created: dict[str, Path | None] = {}  # out -> the topmost folder open_run made (None: none)


def open_run(
    out: Path,
    command: str,
    identity: dict[str, Any],
    fresh: bool = False,
    state_files: Iterable[str] = (),
) -> bool:
    """Claim ``out`` for this run; True when an earlier run of the same command is resumed.

    ``identity`` holds the options that decide the result (JSON values).
    ``state_files`` are glob patterns (relative to ``out``) that ``fresh``
    deletes along with ``run.json``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise HwnasError(f"--out {out} is a file", "give a folder (it is created if missing)")
    path = out / RUN_FILE
    wanted = json.loads(json.dumps({"command": command, **identity}, default=str))
    if fresh:
        for pattern in (RUN_FILE, *state_files):
            for old in out.glob(pattern):
                if old.is_file():
                    old.unlink()
    resumed = False
    _created.pop(str(out), None)
    if path.exists():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if previous != wanted:
            raise HwnasError(
                f"--out {out} holds another run ({_difference(previous, wanted)})",
                f"use another --out, or add --fresh to start over in {out}",
            )
        resumed = True
        Console(stderr=True).print(f"resuming from {out}", highlight=False, soft_wrap=True)
    else:
        try:
            missing = [f for f in (out, *out.parents) if not f.exists()]
            _created[str(out)] = missing[-1] if missing else None  # the topmost folder made
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(wanted, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        except OSError as exc:
            fix = "give a writable folder"
            raise HwnasError(f"cannot write to --out {out}: {exc}", fix) from exc
    interrupt.state_kept(f"{command} state in {out}")
    return resumed


def release_unused(out: Path) -> None:
    """Undo :func:`open_run` for a command rejected before it wrote anything into ``out``.

    Removes the ``run.json`` it just wrote when that is the only file there
    (and the folder when it made it), so bad input leaves nothing behind.
    """
    out = Path(out)
    if str(out) not in _created:
        return
    top = _created.pop(str(out))
    if [p.name for p in out.iterdir()] == [RUN_FILE]:
        (out / RUN_FILE).unlink()
        if top is not None:  # remove the folders open_run made, up to the topmost
            folder = out
            while True:
                folder.rmdir()
                if folder == top:
                    break
                folder = folder.parent


def _difference(previous: Any, wanted: dict[str, Any]) -> str:
    if not isinstance(previous, dict):
        return f"an unreadable {RUN_FILE}"
    for key in sorted(set(previous) | set(wanted)):
        if previous.get(key) != wanted.get(key):
            return f"{key}: {previous.get(key)!r} there, {wanted.get(key)!r} now"
    return "the same options"
