"""User-facing errors: one line that names the problem and the fix."""

from __future__ import annotations


class HwnasError(Exception):
    """An error caused by input or environment, shown as one line (exit status 2).

    ``fix`` says what the user can do about it; the CLI prints
    ``error: <message> (<fix>)`` and never a traceback.
    """

    #: Exit status of the CLI, and the word its one line starts with.
    exit_status = 2
    label = "error"

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} ({self.fix})" if self.fix else self.message


class UnknownPluginError(HwnasError):
    """A target, strategy or search space name that no plugin provides."""


class PluginUnavailableError(HwnasError):
    """A plugin exists but cannot run here (missing runtime, SDK or device)."""


class ArchitectureError(HwnasError):
    """A malformed architecture: wrong length, unknown choice, bad syntax."""


class DuplicatePluginError(HwnasError):
    """Two plugins register the same name for the same kind."""


class ResultUnmet(HwnasError):
    """The command ran and wrote its results, but they miss what was asked (exit status 1).

    Example: no searched architecture meets the latency limit when measured
    on the target. Shown as one ``warning:`` line.
    """

    exit_status = 1
    label = "warning"
