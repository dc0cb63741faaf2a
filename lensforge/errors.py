"""The one exception type for expected failures (see DESIGN.md, Errors)."""

from __future__ import annotations


class LensforgeError(Exception):
    """An expected failure with a message meant for a person.

    The CLI prints it on one line and exits non-zero; the app shows it on the page.
    Tracebacks are reserved for bugs.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")
