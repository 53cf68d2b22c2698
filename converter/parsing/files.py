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
import stat
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..fields import FieldDictionary, default_dictionary
from .definitions import ParserDefinition, default_definitions
from .engine import Context, JsonParser, LineError, TextParser, parser_for
from .redaction import default_redactor
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
    """(source, named explicitly) for every file: folders are walked recursively, hidden ones too,
    sorted. Named paths are taken as they are (a pipe such as `<(zcat x.gz)` too)."""
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


def display(path: str) -> str:
    """A path as it may be written out: bytes that are not UTF-8 shown as \\xNN escapes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _not_a_regular_file(path: str) -> str | None:
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    return None if stat.S_ISREG(mode) else "not a regular file (a pipe, socket or device)"


NO_EVIDENCE, SHAPE, KNOWN = 0, 1, 2
UNSPECIFIC_ACTIONS = {"unknown"}


def _evidence(definition: ParserDefinition, parser: TextParser | JsonParser, text: str) -> int:
    """How much a line looks like `definition`'s log: its shape only, or a message the parser knows."""
    if definition.format == "text":
        if definition.detect_line is None or definition.detect_line.search(text) is None:
            return NO_EVIDENCE
    else:
        assert isinstance(parser, JsonParser)
        try:
            obj, _ = parser.decode(text)
        except Exception:  # a line that does not decode is no evidence
            return NO_EVIDENCE
        if not parser.matches_keys(obj):
            return NO_EVIDENCE
    try:
        if isinstance(parser, TextParser):
            events = parser.parse(text, Context("-"))
        else:
            events = [event for _index, event in parser.parse(text, Context("-"))]
    except Exception:  # detection only weighs evidence; the parse errors are reported later
        return SHAPE
    unspecific = UNSPECIFIC_ACTIONS | definition.detect_unspecific
    return KNOWN if any(e.get("action") not in unspecific for e in events) else SHAPE


def _looks_like_document(definition: ParserDefinition, sample: list[str]) -> bool:
    """A pretty-printed JSON document: a lone `{` first, and the definition's keys as JSON keys."""
    if definition.format != "json" or not definition.documents or not sample or sample[0].strip() != "{":
        return False
    joined = "\n".join(sample)
    return any(all(f'"{key}"' in joined for key in keys) for keys in definition.detect_keys)


def detect_log_type(definitions: dict[str, ParserDefinition], sample: list[str], source: str,
                    parsers: dict[str, TextParser | JsonParser], explicit: bool = True) -> str | None:
    """The log type the sampled lines look like most: lines with known messages count first, then
    lines of the right shape, then the file name. A file found by walking a folder needs at least
    one known message (a shape alone is too weak: other tools log `[time] [level] ...` or slog
    JSON too); a file named on the command line needs the shape, or else a name that only one log type
    claims (its lines are then rejected with the reasons that log type gives)."""
    scores: dict[str, tuple[int, int]] = {}
    for log_type, definition in definitions.items():
        evidence = [_evidence(definition, parsers[log_type], text) for text in sample]
        known, shaped = evidence.count(KNOWN), sum(1 for e in evidence if e >= SHAPE)
        if shaped == 0 and _looks_like_document(definition, sample):
            known, shaped = len(sample), len(sample)
        scores[log_type] = (known, shaped)
    path = source.replace("\\", "/")
    by_name = [t for t, d in definitions.items() if d.detect_path is not None and d.detect_path.search(path)]
    candidates = {t: sc for t, sc in scores.items() if sc[1] > 0 and (explicit or sc[0] > 0)}
    if not candidates:
        return by_name[0] if (explicit and len(by_name) == 1) else None
    best = max(candidates.values())
    leaders = sorted(t for t, sc in candidates.items() if sc == best)
    named = [t for t in leaders if t in by_name]
    return (named or leaders)[0]


class SourceParser:
    """Parses one input with one definition, accounting for every line."""

    def __init__(self, source: str, definition: ParserDefinition, parser: TextParser | JsonParser,
                 options: Options, stats: SourceStats) -> None:
        self.source = source
        self.display = display(source)
        self.redactor = default_redactor()
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
        return {"source": self.display, "line": number}

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
            yield self.reject(raw.number, self.redactor.text(str(exc)))
            return
        except Exception as exc:
            yield self.reject(raw.number, f"internal error while parsing this line ({type(exc).__name__}); please report it")
            return
        self.stats.parsed += 1
        for index, event in results:
            self.stats.events += 1
            head = self._base(raw.number)
            if index is not None:
                head["record"] = index
            if raw.warning:
                event = {**event, "warnings": [raw.warning, *event.get("warnings", [])]}
            yield {**head, **event}

    def document(self, lines: list[RawLine], complete: bool) -> Iterator[dict[str, Any]]:
        """A pretty-printed JSON document (lines[0] is a lone `{`). One that does not parse is read
        again line by line, so a stray `{` costs nothing but its own line."""
        first = lines[0].number
        if complete and all(r.text is not None for r in lines):
            text = "\n".join(r.text or "" for r in lines)
            try:
                obj = json.loads(text)
                if not isinstance(obj, dict):
                    raise LineError("expected a JSON object")
                assert isinstance(self.parser, JsonParser)
                records = list(self.parser.parse_object(obj, self.ctx))
                offsets = object_offsets(text)
            except Exception:
                pass
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
            yield from self.line(raw)

    def run(self, lines: Iterator[RawLine]) -> Iterator[dict[str, Any]]:
        pending: list[RawLine] | None = None
        closing = "}"
        size = 0
        for raw in lines:
            self.stats.lines += 1
            if pending is not None:
                pending.append(raw)
                size += len(raw.text or "")
                if raw.text is not None and raw.text.rstrip() == closing:
                    yield from self.document(pending, complete=True)
                    pending = None
                elif size > MAX_DOCUMENT_CHARS:
                    yield from self.document(pending, complete=False)
                    pending = None
                continue
            if self.definition.documents and raw.text is not None and raw.text.strip() == "{":
                pending, size = [raw], 1
                closing = raw.text[: len(raw.text) - len(raw.text.lstrip())] + "}"  # same indentation
                continue
            yield from self.line(raw)
        if pending is not None:
            yield from self.document(pending, complete=False)


def _safe(lines: Iterator[RawLine], stats: SourceStats) -> Generator[RawLine, None, None]:
    """The lines of an input up to a read failure, which is recorded (the lines before it count)."""
    try:
        yield from lines
    except InputError as exc:
        stats.failed = exc.reason


@dataclass
class OpenedInput:
    """One input, its log type told (None: not recognized, and named explicitly) and its lines."""

    source: str
    stats: SourceStats
    log_type: str | None
    lines: Iterator[RawLine]  # every line from the first, the sampled ones included
    reader: Generator[RawLine, None, None]  # the underlying reader, to close it early


def open_inputs(paths: list[str], options: Options, summary: Summary, definitions: dict[str, ParserDefinition],
                parsers: dict[str, TextParser | JsonParser]) -> Iterator[OpenedInput]:
    """Each input with its log type: from `--log-type`, or detected from its first lines. Walked files
    that are not regular files or not Kamal logs are skipped (counted, and named in the summary)."""
    for source, explicit in expand_inputs(paths):
        stats = SourceStats(display(source), options.log_type)
        summary.sources.append(stats)
        if not explicit and (problem := _not_a_regular_file(source)):
            stats.skipped = problem
            continue
        lines = _safe(iter_lines(source, options.max_line_bytes), stats)
        sample: list[RawLine] = []
        log_type = options.log_type
        if log_type is None:
            for raw in lines:
                sample.append(raw)
                if sum(1 for r in sample if r.text and r.text.strip()) >= SAMPLE_LINES:
                    break
            texts = [r.text for r in sample if r.text and r.text.strip()]
            log_type = detect_log_type(definitions, texts, source, parsers, explicit)
            stats.log_type = log_type
        if log_type is None and not explicit:
            stats.lines = len(sample) + sum(1 for _ in lines)
            stats.skipped = "not recognized as a Kamal log"
            continue
        yield OpenedInput(source, stats, log_type, _chain(sample, lines), lines)


def parse_inputs(paths: list[str], options: Options, summary: Summary,
                 definitions: dict[str, ParserDefinition] | None = None,
                 dictionary: FieldDictionary | None = None) -> Iterator[dict[str, Any]]:
    """Every event and rejected line of `paths`, in input order; `summary` is filled as it goes."""
    definitions = definitions or default_definitions()
    dictionary = dictionary or default_dictionary()
    parsers = {t: parser_for(d, dictionary) for t, d in definitions.items()}
    for opened in open_inputs(paths, options, summary, definitions, parsers):
        stats = opened.stats
        if opened.log_type is None:
            for raw in opened.lines:
                stats.lines += 1
                stats.rejected += 1
                yield {"source": stats.source, "line": raw.number,
                       "error": raw.error or "could not tell which Kamal log this file is (use --log-type)"}
            continue
        parser = SourceParser(opened.source, definitions[opened.log_type], parsers[opened.log_type], options, stats)
        yield from parser.run(opened.lines)


def _chain(first: list[RawLine], rest: Iterator[RawLine]) -> Iterator[RawLine]:
    yield from first
    yield from rest


