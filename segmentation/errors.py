"""Errors an analyst sees: one line, naming the file, row and column where it applies."""

from __future__ import annotations


class SegmentationError(Exception):
    """Any failure the CLI reports as `Error: <message>` with a non-zero exit."""


class InputError(SegmentationError):
    """Bad input data; the message names where it is, so the analyst can fix it."""

    def __init__(
        self,
        message: str,
        path: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        where = [
            p
            for p in (
                path,
                f"row {row}" if row is not None else None,
                f"column '{column}'" if column else None,
            )
            if p
        ]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.path, self.row, self.column = path, row, column


class PublishError(SegmentationError):
    """Publishing to Redis failed; the previously active version stays active."""


def first_line(exc: BaseException) -> str:
    """The first line of an error from a library (Spark's span pages), for one-line messages."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
