"""``python -m hwnas.plugins.hurricane``: ``hwnas supernet train`` as a module (for torchrun).

Data-parallel training on several processes or machines::

    torchrun --standalone --nproc_per_node 2 -m hwnas.plugins.hurricane --profile tiny \\
             --steps 500 --checkpoint sn.pt
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from rich.console import Console

from hwnas.errors import HwnasError
from hwnas.plugins.hurricane.commands import train


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``train`` command; a user error is one line on stderr and exit status 2."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(train)
    try:
        app(
            args=list(argv) if argv is not None else None,
            prog_name="python -m hwnas.plugins.hurricane",
        )
    except HwnasError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
