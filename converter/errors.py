"""Errors that name the file, line and reason, for content and input problems."""

from __future__ import annotations

from pathlib import Path


class KamalSiemError(Exception):
    """Base class for errors reported to the user without a traceback."""


class ContentError(KamalSiemError):
    """A problem in project content (fields.yml, a parser definition, a rule)."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {reason}")


class ContentErrors(KamalSiemError):
    """Several content problems found in one pass, reported together."""

    def __init__(self, errors: list[ContentError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))
