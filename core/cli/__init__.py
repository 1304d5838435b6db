"""The ``hwnas`` command line: the generic commands, plus every command a plugin declares.

Importing :mod:`hwnas.cli.common` (what plugin command modules do) does not
build the application; :func:`main` and ``app`` do, on first use.
"""

from __future__ import annotations

from typing import Any


def main() -> None:
    """Console entry point (see :func:`hwnas.cli.root.main`)."""
    from hwnas.cli.root import main as run

    run()


def __getattr__(name: str) -> Any:
    if name == "app":
        from hwnas.cli.root import app

        return app
    raise AttributeError(name)


__all__ = ["app", "main"]
