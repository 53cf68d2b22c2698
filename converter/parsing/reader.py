"""Read raw log lines from files: gzip by content, UTF-8 strictly, CRLF, huge lines, never a crash.

Every physical line comes out once, numbered from 1, either with its text or with the reason it
cannot be used (not UTF-8, too long). A trailing newline at the end of a file does not make an extra
empty line; a final line without a newline is still a line.
"""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

DEFAULT_MAX_LINE_BYTES = 1 << 20  # 1 MiB
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class RawLine:
    number: int
    text: str | None  # None when `error` says why the line is unusable
    error: str | None = None
    warning: str | None = None  # the line is usable, but was repaired (invalid UTF-8 replaced)


class InputError(Exception):
    """A whole input could not be read (missing file, unreadable, corrupt gzip stream)."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


def open_binary(source: str) -> BinaryIO:
    """Open `source` (a path, or `-` for standard input), transparently gunzipping by content."""
    if source == "-":
        raw: BinaryIO = sys.stdin.buffer
    else:
        try:
            raw = open(source, "rb")  # noqa: SIM115 - closed by the caller
        except OSError as exc:
            raise InputError(source, f"cannot open: {exc.strerror or exc}") from None
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
    if buffered.peek(2)[:2] != GZIP_MAGIC:
        return buffered
    unzipped = gzip.GzipFile(fileobj=buffered, mode="rb")
    try:
        unzipped.peek(1)
    except (OSError, EOFError, zlib.error):
        # Starts like gzip but is not: read the bytes as they are (a file can be re-read; stdin cannot).
        if source == "-":
            raise InputError(source, "starts with the gzip signature but is not a gzip stream") from None
        buffered.close()
        return open(source, "rb")
    return unzipped  # type: ignore[return-value]


def _decode(number: int, data: bytes) -> RawLine:
    """The text of a line: a trailing CR and a leading byte-order mark dropped; bytes that are not
    UTF-8 become U+FFFD and a warning (the line is still parsed, so nobody hides a line from the
    rules with one bad byte)."""
    if data.endswith(b"\r"):
        data = data[:-1]
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    try:
        return RawLine(number, data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        bad = sum(1 for ch in data.decode("utf-8", errors="replace") if ch == "\ufffd")
        return RawLine(number, data.decode("utf-8", errors="replace"), None,
                       f"not valid UTF-8: {bad} byte sequence(s) replaced with U+FFFD (the first at offset {exc.start})")


def iter_lines(source: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[RawLine]:
    """Yield every line of `source`. Raises InputError when the input itself cannot be read."""
    stream = open_binary(source)
    number = 0
    try:
        while True:
            try:
                chunk = stream.readline(max_line_bytes + 2)  # the limit counts the text, not CR LF
            except (OSError, EOFError, zlib.error) as exc:
                raise InputError(source, f"read failed after line {number}: {exc}") from None
            if not chunk:
                return
            number += 1
            body = chunk[:-1] if chunk.endswith(b"\n") else chunk
            body_size = len(body) - (1 if body.endswith(b"\r") else 0)
            if chunk.endswith(b"\n") and body_size <= max_line_bytes:
                yield _decode(number, body)
                continue
            if len(chunk) <= max_line_bytes + 1 and body_size <= max_line_bytes:  # last line, no newline
                yield _decode(number, body)
                return
            # Longer than the limit: skip to the end of the line without holding it in memory.
            size = len(body)
            ended = chunk.endswith(b"\n")
            while not ended:
                try:
                    more = stream.readline(1 << 16)
                except (OSError, EOFError, zlib.error) as exc:
                    raise InputError(source, f"read failed in line {number}: {exc}") from None
                if not more:
                    break
                ended = more.endswith(b"\n")
                size += len(more) - (1 if ended else 0)
            yield RawLine(number, None, f"line too long ({size} bytes; the limit is {max_line_bytes})")
            if not ended:
                return
    finally:
        if source != "-":
            stream.close()


