"""The progress bar every long hwnas step shows (rich, on stderr)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bar(
    enabled: bool = True, label: str | None = None, transient: bool = False, terminal_only=True
) -> Progress:
    """A rich progress bar on stderr: description, bar, done/total, elapsed and remaining time.

    Keeps stdout clean for ``--json``. With ``terminal_only`` it shows only
    when stderr is a terminal (captured output keeps the one-line error
    contract); ``label`` is a bold prefix before each task's description.
    """
    console = Console(stderr=True)
    prefix = f"[bold]{label}[/bold] " if label else ""
    return Progress(
        TextColumn(prefix + "{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=not enabled or (terminal_only and not console.is_terminal),
    )
