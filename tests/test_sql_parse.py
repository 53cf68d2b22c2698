"""The vectorized SQL parser of the local engine reads every line exactly as the Python parser does.

Each sample (the golden corpora, the bundled samples, generated odd lines) goes through both; every
field of every event must be equal, and the summary counts too."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pytest

from converter.fields import default_dictionary
from converter.local.event_batches import EventSource
from converter.local.events import row_event
from converter.local.sql_text import literal_frame
from converter.parsing.definitions import default_definitions
from converter.parsing.files import Options, Summary, parse_inputs
from converter.parsing.redaction import default_redactor

from .conftest import ROOT


FAST: list[int] = []


def both(paths: list[str]) -> tuple[dict, dict, Summary, Summary]:  # type: ignore[type-arg]
    dictionary = default_dictionary()
    con = duckdb.connect()
    sql_summary = Summary()
    source = EventSource(con, default_definitions(), dictionary, default_redactor(), Options(), sql_summary)
    names = dictionary.column_names()
    got = {}
    for view in source.batches(paths):
        for row in con.execute(f"SELECT {', '.join(chr(34) + n + chr(34) for n in names)} FROM {view}").fetchall():
            event = row_event(row, dictionary, names.index("log_type"))
            got[(event["source"], event["line"], event.get("record"))] = event
    FAST.append(source.fast_lines)
    python_summary = Summary()
    want = {(e["source"], e["line"], e.get("record")): e for e in parse_inputs(paths, Options(), python_summary) if "error" not in e}
    return got, want, sql_summary, python_summary


def assert_same(paths: list[str]) -> int:
    got, want, sql_summary, python_summary = both(paths)
    assert set(got) == set(want)
    for key, event in want.items():
        assert got[key] == event, key
    counts = [(s.source, s.lines, s.parsed, s.rejected, s.events, s.skipped) for s in sql_summary.sources]
    assert counts == [(s.source, s.lines, s.parsed, s.rejected, s.events, s.skipped) for s in python_summary.sources]
    return len(want)


def test_golden_corpora_and_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert assert_same(["tests/parsers/audit", "tests/parsers/proxy", "samples"]) > 190
    assert FAST[-1] > 150  # most lines are Kamal's own form and take the vectorized path


def mutated(base: list[bytes], noise: list[bytes], count: int, seed: int) -> list[bytes]:
    """`count` real lines with up to two pieces of `noise` inserted at random places (reproducible)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        line = bytearray(rng.choice(base))
        for _ in range(rng.randint(0, 2)):
            at = rng.randint(0, len(line))
            line[at:at] = rng.choice(noise)
        lines.append(bytes(line))
    return lines


def test_odd_proxy_lines_fall_back_to_python(tmp_path: Path) -> None:
    base = [line for path in sorted((ROOT / "tests/parsers/proxy").glob("*.log"))
            for line in path.read_bytes().splitlines() if line]
    noise = [b'"', b"\\", b",", b":1", b"null", b"[]", b"{}", b'"time":"x",', b"NaN", b"\\u0000", b" ", b"\xff",
             b'"msg":"Request",', b'"port":"443",', b'"tls":"true",', b",]", b",}", b'"hosts":[],', b'"status":1e3,',
             b'"client_addr":"1.2.3.04",', b'"time":"2026-09-01T10:00:00.000Z",']
    lines = mutated(base, noise, 2000, seed=7)
    path = tmp_path / "kamal-proxy.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert assert_same([str(path)]) > 100


def test_odd_lines_fall_back_to_python(tmp_path: Path) -> None:
    """Generated variants of real lines: forged tags, control characters, zones, CRLF, blanks, bad bytes."""
    base = [line for line in (ROOT / "tests/parsers/audit/kamal2/home/deploy/.kamal/shop-api-production-audit.log")
            .read_bytes().splitlines() if line]
    noise = [b"] [", b"[", b"]", b"\t", b"\x1b", b" ", b"\xff", b"'", b"Z", b".123", b"+02:00", b"", b"\r", b"[]"]
    lines = mutated(base, noise, 600, seed=42)
    (tmp_path / ".kamal").mkdir()
    path = tmp_path / ".kamal" / "shop-api-production-audit.log"
    path.write_bytes(b"\n".join(lines) + b"\r\n\n   \n\xef\xbb\xbf" + base[0] + b"\n")
    assert assert_same([str(tmp_path)]) > 400


def test_literal_frames_cut_exactly() -> None:
    assert literal_frame("^(?:Booted (?P<accessory>[^ ]+) accessory)$") == ("accessory", "Booted ", " accessory")
    assert literal_frame("^(?:Executed cmd '(?P<cmd>.*)' on (?P<host>[^ ']+))$") is None
    assert literal_frame("^(?:Removed (?P<a>[^ ]+)(?: on all servers)?)$") is None
    assert literal_frame("^(?:a\\.b (?P<x>[0-9]+))$") == ("x", "a.b ", "")
