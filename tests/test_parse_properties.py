"""Property tests: arbitrary bytes never crash the parser and never lose a line."""

from __future__ import annotations

import gzip
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converter.parsing.files import Options, Summary, parse_inputs

from .conftest import ROOT

REAL_LINES = [line.encode() for path in sorted((ROOT / "tests" / "parsers").rglob("*"))
              if path.is_file() and not path.name.endswith("-expected.json")
              for line in path.read_text(encoding="utf-8").splitlines()][:400]

line_bytes = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(REAL_LINES),
    st.builds(lambda line, cut: line[:cut], st.sampled_from(REAL_LINES), st.integers(0, 300)),
    st.sampled_from([b"", b"{", b"}", b"[", b"\r", b"\x00", b"{}", b"null", b'{"log":"{\\"time\\":1}\\n","stream":"x"}',
                     b'{"log":"panic: boom\\n","stream":"stderr","time":"2026-01-01T00:00:00Z"}', b'{"log":"","stream":"stdout"}']),
)
file_bytes = st.builds(lambda lines, sep, tail: sep.join(lines) + tail,
                       st.lists(line_bytes, max_size=25), st.sampled_from([b"\n", b"\r\n"]), st.sampled_from([b"", b"\n"]))

NAMES = ["shop-production-audit.log", "kamal-proxy.log", "docker-events.jsonl", "otel.json", "endpoint-process.ndjson", "plain.txt"]


def _physical_lines(data: bytes) -> int:
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def check(path: Path, data: bytes, log_type: str | None) -> None:
    summary = Summary()
    events = list(parse_inputs([str(path)], Options(log_type=log_type, max_line_bytes=1024), summary))
    [stats] = summary.sources
    assert stats.failed is None
    expected = _physical_lines(data)
    assert stats.lines == expected
    if stats.skipped:
        return
    assert stats.parsed + stats.rejected == expected
    numbers = [e["line"] for e in events]
    assert numbers == sorted(numbers), "events come out in input order"
    assert set(numbers) <= set(range(1, expected + 1))
    rejected = [e for e in events if "error" in e]
    assert len(rejected) == stats.rejected
    # a line with no output at all can only be inside a multi-line JSON document that gave events
    silent = set(range(1, expected + 1)) - set(numbers)
    assert not silent or stats.events > 0
    for event in events:
        assert set(event) >= {"source", "line"}
        assert ("error" in event) != ("action" in event)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=file_bytes, name=st.sampled_from(NAMES), log_type=st.sampled_from([None, "audit", "run", "proxy", "docker", "process"]),
       gz=st.booleans())
def test_arbitrary_bytes_never_crash_and_never_lose_a_line(tmp_path_factory, data: bytes, name: str,
                                                            log_type: str | None, gz: bool) -> None:
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    check(path, data, log_type)
