"""The raw lines of the bundled samples, the replay corpora and the parser test corpora, each with
what `kamal-siem parse` makes of it, for the tests of the Elasticsearch ingest pipelines."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converter.parsing.files import Options, Summary, parse_inputs

from .conftest import ROOT

CORPORA = (ROOT / "samples", ROOT / "tests" / "replay", ROOT / "tests" / "parsers")


@dataclass
class Line:
    path: Path
    number: int
    text: str
    events: list[dict[str, Any]]  # the parser's events of this line (several for an OTLP batch)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.number}"

    @property
    def log_type(self) -> str:
        return str(self.events[0]["log_type"])


def raw_lines(path: Path) -> list[str]:
    """The lines as a shipper sends them: without the line end (`\\n` or `\\r\\n`)."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    lines = data.decode("utf-8", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def corpus_files() -> list[Path]:
    return [p for base in CORPORA for p in sorted(base.rglob("*"))
            if p.is_file() and p.name != "case.yml" and not p.name.endswith("-expected.json")]


def corpus_lines() -> list[Line]:
    out: list[Line] = []
    for path in corpus_files():
        by_line: dict[int, list[dict[str, Any]]] = {}
        for event in parse_inputs([str(path)], Options(), Summary()):
            by_line.setdefault(event["line"], []).append(event)
        raw = raw_lines(path)
        out += [Line(path, number, raw[number - 1], events) for number, events in sorted(by_line.items())]
    return out


def shipped(line: Line | str, path: str | Path = "/var/log/kamal/x.log") -> dict[str, Any]:
    """The document Filebeat's filestream input sends for a line."""
    if isinstance(line, Line):
        return {"@timestamp": SHIPPED_AT, "message": line.text, "log": {"file": {"path": str(line.path)}}}
    return {"@timestamp": SHIPPED_AT, "message": line, "log": {"file": {"path": str(path)}}}


SHIPPED_AT = "2026-12-01T00:00:00.000Z"
