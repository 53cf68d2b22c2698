"""Read raw log files into Arrow batches of lines for DuckDB, vectorized (numpy), in bounded memory.

A file is read in chunks that end at a line break; each chunk becomes an Arrow table of
(source, line, raw) without per-line Python. Lines the vectorized path cannot take as they are
(not UTF-8, over the length limit, blank) are handed back as raw bytes with their numbers, for the
Python parser, which reports or repairs them exactly as `kamal-siem parse` does.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ..parsing.reader import UTF8_BOM, InputError, open_binary

CHUNK_BYTES = 32 << 20


@dataclass
class LineBatch:
    source: str
    lines: pa.Table  # source, line, raw: the lines the SQL parser takes
    leftovers: list[tuple[int, bytes]] = field(default_factory=list)  # (number, bytes) for the Python parser
    count: int = 0  # physical lines in the chunk


def _position(stream: BinaryIO) -> int:
    """How far into the file on disk the stream has read (the compressed file for gzip)."""
    underlying = getattr(stream, "fileobj", None) or stream
    try:
        return int(underlying.tell())
    except (OSError, ValueError):
        return 0


def _chunks(source: str, progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The file's bytes in pieces that end at a line break (the last may not). `progress` is told
    the position in the file on disk after each read."""
    stream = open_binary(source)
    carry = b""
    try:
        while True:
            try:
                block = stream.read(CHUNK_BYTES)
            except (OSError, EOFError, zlib.error) as exc:
                if carry:
                    yield carry
                raise InputError(source, f"read failed: {exc}") from None
            if progress is not None:
                progress(_position(stream))
            if not block:
                if carry:
                    yield carry
                return
            block = carry + block
            cut = block.rfind(b"\n")
            if cut == -1:
                carry = block
                continue
            carry = block[cut + 1:]
            yield block[: cut + 1]
    finally:
        stream.close()


def batches(source: str, display: str, max_line_bytes: int,
            progress: Callable[[int], None] | None = None) -> Iterator[LineBatch]:
    """The lines of `source` in chunks. `raw` keeps each line's line break (zero-copy: the strings
    share the chunk's bytes); the SQL parser drops it. Lines the vectorized path must not take (not
    UTF-8, over the limit, starting with a byte-order mark) are `leftovers` for the Python parser."""
    number = 1
    for chunk in _chunks(source, progress):
        data = np.frombuffer(chunk, dtype=np.uint8)
        breaks = np.flatnonzero(data == 10)
        ends = breaks if chunk.endswith(b"\n") else np.append(breaks, len(chunk))
        starts = np.concatenate(([0], breaks + 1))[: len(ends)]
        count = len(ends)
        if count == 0:
            continue
        text_ends = ends - ((ends > starts) & (data[np.maximum(ends - 1, 0)] == 13))
        slow = (text_ends - starts) > max_line_bytes
        if len(data):
            slow |= (data[np.minimum(starts, len(data) - 1)] == UTF8_BOM[0]) & (text_ends - starts >= 3)
        valid = True
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError:
            valid = False
            for i in range(count):
                try:
                    chunk[starts[i]:text_ends[i]].decode("utf-8")
                except UnicodeDecodeError:
                    slow[i] = True
        leftovers = [(number + int(i), bytes(chunk[starts[i]:ends[i] + 1])) for i in np.flatnonzero(slow)]
        if valid:
            # every line, line break included, as one zero-copy Arrow array over the chunk
            offsets = np.append(starts, ends[-1] + 1 if chunk.endswith(b"\n") else len(chunk)).astype(np.int64)
            raw = pa.LargeStringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(chunk))
            keep_mask = pa.array(~slow)
            lines = pa.table({"line": pa.array(np.arange(number, number + count, dtype=np.int64)), "raw": raw})
            lines = lines.filter(keep_mask) if slow.any() else lines
        else:  # rare: a chunk with bytes that are not UTF-8 keeps only its valid lines, copied
            keep = np.flatnonzero(~slow)
            texts = [chunk[starts[i]:ends[i] + 1].decode("utf-8") for i in keep]
            lines = pa.table({"line": pa.array(keep + number, pa.int64()), "raw": pa.array(texts, pa.large_string())})
        source_array = pa.DictionaryArray.from_arrays(pa.array(np.zeros(lines.num_rows, dtype=np.int32)), pa.array([display]))
        yield LineBatch(display, lines.add_column(0, "source", source_array), leftovers, count)
        number += count
