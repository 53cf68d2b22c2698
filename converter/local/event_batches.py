"""Parse inputs into batches of events in DuckDB: text logs (audit) with the SQL parser, vectorized,
and the lines it leaves (and the JSON logs) with the Python parser. Summary counts as `parse`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import duckdb

from ..fields import FieldDictionary
from ..parsing import audit_tags
from ..parsing.definitions import ParserDefinition
from ..parsing.engine import parser_for
from ..parsing.files import Options, SourceParser, SourceStats, Summary, open_inputs
from ..parsing.reader import InputError, RawLine, _decode
from ..parsing.redaction import Redactor
from .events import to_arrow
from .ingest import batches
from .sql_json import json_query, supports
from .sql_text import SQL_TYPES, text_query

PYTHON_BATCH = 50_000


class EventSource:
    """Turns inputs into DuckDB tables of events, one batch at a time (bounded memory)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, definitions: dict[str, ParserDefinition],
                 dictionary: FieldDictionary, redactor: Redactor, options: Options, summary: Summary) -> None:
        self.con = con
        self.definitions = definitions
        self.dictionary = dictionary
        self.redactor = redactor
        self.options = options
        self.summary = summary
        self.parsers = {t: parser_for(d, dictionary, redactor) for t, d in definitions.items()}
        self.queries = {t: text_query(d, dictionary, redactor) for t, d in definitions.items() if d.format == "text"}
        self.queries.update({t: json_query(d, dictionary, redactor) for t, d in definitions.items() if supports(d)})
        # the same queries over `wanted_lines`: the few lines `full_rows` parses again in full
        self.wanted_queries = {t: text_query(d, dictionary, redactor, lines="wanted_lines")
                               for t, d in definitions.items() if d.format == "text"}
        self.wanted_queries.update({t: json_query(d, dictionary, redactor, lines="wanted_lines")
                                    for t, d in definitions.items() if supports(d)})
        # one column for fields whose names differ only in case (different log types): DuckDB ignores case
        self.columns = ", ".join('"' + c + '"' for c in dictionary.column_names())
        self.fast_lines = 0  # lines the SQL parser read (the rest went to the Python parser)
        self.progress: Callable[[str, int], None] | None = None  # (source, position in the file) as it reads
        # When set, the SQL parser computes only these columns for every line (the rest are NULL in the
        # batch view); `full_rows` parses the lines a caller wants in full.
        self.needed: set[str] | None = None
        self._full_query: str | None = None
        self._full_columns = ""
        self.typed_names = {t: [f.name for f in dictionary if t in f.sources] for t in definitions}
        self.log_type: str | None = None  # of the batch `batches` last yielded (one input file, one log type)

    # -- Python-parsed events -----------------------------------------------------------------------------
    def _store_python(self, events: list[dict[str, Any]]) -> None:
        """Events the Python parser made, as the table `python_events`."""
        self.con.register("batch_arrow", to_arrow(events, self.dictionary))
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE python_events AS SELECT {self.columns} FROM batch_arrow")
        self.con.unregister("batch_arrow")

    def _python_view(self, events: list[dict[str, Any]]) -> str:
        self._store_python(events)
        self.con.execute("CREATE OR REPLACE TEMP VIEW batch_events AS SELECT *, FALSE AS _sql FROM python_events")
        return "batch_events"

    def full_rows(self, view: str, keys: str) -> list[tuple[Any, ...]]:
        """Every dictionary column of the events of the current batch named in the table `keys`
        (source, line, record, _sql): lines the SQL parser read are parsed again in full, only these."""
        rows = self.con.execute(
            f"SELECT {', '.join('v.' + c for c in self.columns.split(', '))} FROM {view} v "
            f"JOIN {keys} k ON v.source = k.source AND v.line = k.line AND v.record IS NOT DISTINCT FROM k.record "
            "WHERE NOT v._sql AND NOT k._sql").fetchall()
        if self._full_query is not None:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE wanted_lines AS SELECT * FROM lines WHERE line IN (SELECT line FROM {keys} WHERE _sql)")
            rows += self.con.execute(f"SELECT {self._full_columns} FROM ({self._full_query})").fetchall()
        return rows

    def batches(self, paths: list[str]) -> Iterator[str]:
        """Names of DuckDB tables, each a batch of parsed events (rejected lines are left out)."""
        for opened in open_inputs(paths, self.options, self.summary, self.definitions, self.parsers):
            source, stats, log_type = opened.source, opened.stats, opened.log_type
            if log_type is None:  # named explicitly, not recognized: every line is rejected
                for _raw in opened.lines:
                    stats.lines += 1
                    stats.rejected += 1
                continue
            definition = self.definitions[log_type]
            self.log_type = log_type
            parser = SourceParser(source, definition, self.parsers[log_type], self.options, stats)
            if source != "-" and log_type in self.queries and stats.failed is None:
                opened.reader.close()  # the vectorized reader reads the file again, from the start
                yield from self._sql_batches(source, parser, stats)
            else:
                yield from self._python_batches(parser.run(opened.lines))
            if self.progress is not None and source != "-":
                self.progress(source, os.path.getsize(source))

    def _python_batches(self, events: Iterator[dict[str, Any]]) -> Iterator[str]:
        pending: list[dict[str, Any]] = []
        for event in events:
            if "error" in event:
                continue
            pending.append(event)
            if len(pending) >= PYTHON_BATCH:
                yield self._python_view(pending)
                pending = []
        if pending:
            yield self._python_view(pending)

    def _view_columns(self, log_type: str, produced: list[str]) -> str:
        """Every column of the events table, from the SQL parser's output where it has the field."""
        names = self.dictionary.event_names(log_type)
        return ", ".join(f'"{name}" AS "{column}"' if name in produced else f'NULL::{SQL_TYPES[self.dictionary[column].type]} AS "{column}"'
                         for column, name in zip(self.dictionary.column_names(), names, strict=True))

    def _sql_batches(self, source: str, parser: SourceParser, stats: SourceStats) -> Iterator[str]:
        stem = parser.ctx.path_captures.get("_file_stem")
        dest = audit_tags.file_destination(stem, parser.definition.known_destinations)
        self.con.execute("CREATE OR REPLACE TEMP TABLE files (source VARCHAR, _file_stem VARCHAR, _file_dest VARCHAR)")
        self.con.execute("INSERT INTO files VALUES (?, ?, ?)", [parser.display, stem, dest])
        query = self.queries[parser.definition.log_type]
        try:
            report = self.progress

            def tell(position: int) -> None:
                if report is not None:
                    report(source, position)

            for batch in batches(source, parser.display, self.options.max_line_bytes, tell):
                stats.lines += batch.count
                self.con.register("lines", batch.lines)
                produced = [n for n in self.typed_names[parser.definition.log_type] if self.needed is None or n in self.needed]
                self.con.execute("CREATE OR REPLACE TEMP TABLE parsed AS SELECT "
                                 f"{', '.join(chr(34) + n + chr(34) for n in produced)}, _slow FROM ({query})")
                self._full_query = self.wanted_queries[parser.definition.log_type]
                self._full_columns = self._view_columns(parser.definition.log_type, self.typed_names[parser.definition.log_type])
                fast = self.con.execute("SELECT count(*) FROM parsed WHERE NOT _slow").fetchall()[0][0]
                stats.parsed += fast
                stats.events += fast
                self.fast_lines += fast
                leftovers = list(batch.leftovers)
                leftovers.extend((n, t.encode("utf-8")) for n, t in self.con.execute(
                    "SELECT line, raw FROM lines WHERE line IN (SELECT line FROM parsed WHERE _slow)").fetchall())
                leftovers.sort()
                python_events: list[dict[str, Any]] = []
                for number, data in leftovers:
                    body = data[:-1] if data.endswith(b"\n") else data
                    size = len(body) - (1 if body.endswith(b"\r") else 0)
                    raw = _decode(number, body) if size <= self.options.max_line_bytes else RawLine(
                        number, None, f"line too long ({len(body)} bytes; the limit is {self.options.max_line_bytes})")
                    python_events.extend(e for e in parser.line(raw) if "error" not in e)
                self._store_python(python_events)
                # a view, not a copy: the columns this log type cannot fill stay constant NULLs
                columns = self._view_columns(parser.definition.log_type, produced)
                self.con.execute(f"CREATE OR REPLACE TEMP VIEW batch_events AS SELECT {columns}, TRUE AS _sql FROM parsed "
                                 "WHERE NOT _slow UNION ALL SELECT *, FALSE AS _sql FROM python_events")
                yield "batch_events"
                self.con.unregister("lines")
                self._full_query = None
        except InputError as exc:
            stats.failed = exc.reason
