"""The one exception the input layer raises: a whole file cannot be used."""

from __future__ import annotations


class InputFileError(Exception):
    """A whole-file problem: unreadable, unknown format, required column absent, clashing headers.

    Row-level problems never raise; they become reject rows.  ``message`` always says what is
    wrong *and* what to do about it, so the CLI can print it as is.
    """

    def __init__(self, file: str, message: str) -> None:
        self.file = file
        self.message = message
        super().__init__(f"{file}: {message}")
