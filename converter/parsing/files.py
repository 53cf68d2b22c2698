"""Parse whole inputs: walk folders, detect each file's log type from its content, account for every line.

Every physical line of every file ends up in exactly one of: an event (or several: an OTLP request
holds many records), a line of a multi-line JSON document that gave events, or a rejected line with
the reason. Files found by walking a folder whose content is not a Kamal log are skipped and named in
the summary; files named on the command line are always parsed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..fields import FieldDictionary, default_dictionary
from .definitions import ParserDefinition, default_definitions
from .engine import Context, JsonParser, LineError, TextParser, parser_for
from .jsonpos import object_offsets
from .reader import DEFAULT_MAX_LINE_BYTES, InputError, RawLine, iter_lines

SAMPLE_LINES = 25
MAX_DOCUMENT_CHARS = 64 << 20


@dataclass
class SourceStats:
    source: str
    log_type: str | None
    lines: int = 0
    parsed: int = 0
    rejected: int = 0
    events: int = 0
    skipped: str | None = None  # why a walked file was not parsed
    failed: str | None = None  # why the input could not be read at all


@dataclass
class Summary:
    sources: list[SourceStats] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return sum(s.lines for s in self.sources)

    @property
    def rejected(self) -> int:
        return sum(s.rejected for s in self.sources)

    @property
    def failed(self) -> list[SourceStats]:
        return [s for s in self.sources if s.failed]


@dataclass(frozen=True)
class Options:
    log_type: str | None = None  # force every input to this type
    assumed_tz: dt.tzinfo = dt.UTC
    assumed_tz_name: str = "UTC"
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES


def expand_inputs(paths: list[str]) -> list[tuple[str, bool]]:
    """(source, named explicitly) for every file: folders are walked recursively, hidden ones too, sorted."""
    out: list[tuple[str, bool]] = []
    for given in paths:
        if given != "-" and os.path.isdir(given):
            found: list[str] = []
            for root, dirs, files in os.walk(given):
                dirs.sort()
                found.extend(os.path.join(root, name) for name in sorted(files))
            out.extend((path, False) for path in found)
        else:
            out.append((given, True))
    return out


def _looks_like(definition: ParserDefinition, parser: TextParser | JsonParser, text: str) -> bool:
    if definition.format == "text":
        return definition.detect_line is not None and definition.detect_line.search(text) is not None
    assert isinstance(parser, JsonParser)
    try:
        obj, _ = parser.decode(text)
    except LineError:
        return False
    return parser.matches_keys(obj)


def _looks_like_document(definition: ParserDefinition, sample: list[str]) -> bool:
    """A pretty-printed JSON document: a lone `{` first, and the definition's keys as JSON keys."""
    if definition.format != "json" or not sample or sample[0].strip() != "{":
        return False
    joined = "\n".join(sample)
    return any(all(f'"{key}"' in joined for key in keys) for keys in definition.detect_keys)


def detect_log_type(definitions: dict[str, ParserDefinition], sample: list[str], source: str,
                    parsers: dict[str, TextParser | JsonParser]) -> str | None:
    """The log type most of the sampled lines look like; the file name breaks ties and decides alone
    only when the sample has no lines."""
    scores: dict[str, int] = {}
    for log_type, definition in definitions.items():
        score = sum(1 for text in sample if _looks_like(definition, parsers[log_type], text))
        if score == 0 and _looks_like_document(definition, sample):
            score = len(sample)
        scores[log_type] = score
    path = source.replace("\\", "/")
    by_name = [t for t, d in definitions.items() if d.detect_path is not None and d.detect_path.search(path)]
    best = max(scores.values(), default=0)
    if best == 0:
        return by_name[0] if (not sample and len(by_name) == 1) else None
    leaders = sorted(t for t, s in scores.items() if s == best)
    named = [t for t in leaders if t in by_name]
    return (named or leaders)[0]


class SourceParser:
    """Parses one input with one definition, accounting for every line."""

    def __init__(self, source: str, definition: ParserDefinition, parser: TextParser | JsonParser,
                 options: Options, stats: SourceStats) -> None:
        self.source = source
        self.definition = definition
        self.parser = parser
        self.stats = stats
        path = source.replace("\\", "/")
        captures: dict[str, str] = {}
        for rx in definition.path_regexes:
            m = rx.search(path)
            if m:
                captures = {k: v for k, v in m.groupdict().items() if v}
                break
        self.ctx = Context(source, captures, options.assumed_tz, options.assumed_tz_name)

    def _base(self, number: int) -> dict[str, Any]:
        return {"source": self.source, "line": number}

    def reject(self, number: int, reason: str) -> dict[str, Any]:
        self.stats.rejected += 1
        return {**self._base(number), "log_type": self.definition.log_type, "error": reason}

    def line(self, raw: RawLine) -> Iterator[dict[str, Any]]:
        if raw.text is None:
            yield self.reject(raw.number, raw.error or "unreadable line")
            return
        if not raw.text.strip():
            yield self.reject(raw.number, "blank line")
            return
        try:
            if isinstance(self.parser, TextParser):
                results: list[tuple[int | None, dict[str, Any]]] = [(None, e) for e in self.parser.parse(raw.text, self.ctx)]
            else:
                results = self.parser.parse(raw.text, self.ctx)
        except LineError as exc:
            yield self.reject(raw.number, str(exc))
            return
        self.stats.parsed += 1
        for index, event in results:
            self.stats.events += 1
            head = self._base(raw.number)
            if index is not None:
                head["record"] = index
            yield {**head, **event}

    def document(self, lines: list[RawLine], complete: bool) -> Iterator[dict[str, Any]]:
        """A multi-line JSON document (lines[0] is a lone `{`)."""
        first = lines[0].number
        bad = next((r for r in lines if r.text is None), None)
        if bad is not None:
            reason = f"the JSON document starting on line {first} has an unreadable line {bad.number}: {bad.error}"
        elif not complete:
            reason = f"unterminated JSON document starting on line {first}"
        else:
            text = "\n".join(r.text or "" for r in lines)
            try:
                obj = json.loads(text)
                if not isinstance(obj, dict):
                    raise LineError("expected a JSON object")
                assert isinstance(self.parser, JsonParser)
                records = list(self.parser.parse_object(obj, self.ctx))
                offsets = object_offsets(text)
            except (json.JSONDecodeError, RecursionError, ValueError) as exc:
                reason = f"invalid JSON document starting on line {first}: {exc}"
            else:
                self.stats.parsed += len(lines)
                for index, path, event in records:
                    self.stats.events += 1
                    offset = offsets.get(path, 0)
                    head = self._base(first + text.count("\n", 0, offset))
                    if index is not None:
                        head["record"] = index
                    yield {**head, **event}
                return
        for raw in lines:
            yield self.reject(raw.number, reason if raw.number == first else
                              f"part of the JSON document starting on line {first}: {reason}")

    def run(self, lines: Iterator[RawLine]) -> Iterator[dict[str, Any]]:
        pending: list[RawLine] | None = None
        size = 0
        for raw in lines:
            self.stats.lines += 1
            if pending is not None:
                pending.append(raw)
                size += len(raw.text or "")
                if raw.text is not None and raw.text.rstrip() == "}":
                    yield from self.document(pending, complete=True)
                    pending = None
                elif size > MAX_DOCUMENT_CHARS:
                    yield from self.document(pending, complete=False)
                    pending = None
                continue
            if self.definition.format == "json" and raw.text is not None and raw.text.strip() == "{":
                pending, size = [raw], 1
                continue
            yield from self.line(raw)
        if pending is not None:
            yield from self.document(pending, complete=False)


def parse_inputs(paths: list[str], options: Options, summary: Summary,
                 definitions: dict[str, ParserDefinition] | None = None,
                 dictionary: FieldDictionary | None = None) -> Iterator[dict[str, Any]]:
    """Every event and rejected line of `paths`, in input order; `summary` is filled as it goes."""
    definitions = definitions or default_definitions()
    dictionary = dictionary or default_dictionary()
    parsers = {t: parser_for(d, dictionary) for t, d in definitions.items()}
    for source, explicit in expand_inputs(paths):
        stats = SourceStats(source, options.log_type)
        summary.sources.append(stats)
        try:
            lines = iter_lines(source, options.max_line_bytes)
            sample: list[RawLine] = []
            log_type = options.log_type
            if log_type is None:
                for raw in lines:
                    sample.append(raw)
                    if sum(1 for r in sample if r.text and r.text.strip()) >= SAMPLE_LINES:
                        break
                texts = [r.text for r in sample if r.text and r.text.strip()]
                log_type = detect_log_type(definitions, texts, source, parsers)
                stats.log_type = log_type
            if log_type is None:
                if not explicit:
                    stats.lines = len(sample) + sum(1 for _ in lines)
                    stats.skipped = "not recognized as a Kamal log"
                    continue
                for raw in _chain(sample, lines):
                    stats.lines += 1
                    stats.rejected += 1
                    yield {"source": source, "line": raw.number,
                           "error": raw.error or "could not tell which Kamal log this file is (use --log-type)"}
                continue
            parser = SourceParser(source, definitions[log_type], parsers[log_type], options, stats)
            yield from parser.run(_chain(sample, lines))
        except InputError as exc:
            stats.failed = exc.reason


def _chain(first: list[RawLine], rest: Iterator[RawLine]) -> Iterator[RawLine]:
    yield from first
    yield from rest


