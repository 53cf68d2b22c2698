"""Run the same Sigma rules over the same parsed events in three engines, for the differential tests:
our DuckDB engine, pySigma's SQLite backend in SQLite (what Zircolite does), and Elastic's `eql`
Python engine (pySigma's EQL output, Elasticsearch syntax). Each returns, per rule id, the set of
(source relative to the corpus, line) it matched, or the reason it cannot run the rule."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import eql
from sigma.backends.elasticsearch import EqlBackend
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from converter.fields import default_dictionary
from converter.pipelines import pipeline
from converter.replay import load_case
from converter.tuning import Tuning, load_tuning
from converter.local.correlations import run_correlation
from converter.local.events import create_events_table, to_arrow
from converter.local.rules import RuleSet, compile_rules, rule_files
from converter.parsing.files import Options, Summary, parse_inputs

Match = set[tuple[str, int]]


@dataclass
class Corpus:
    root: Path
    events: list[dict[str, Any]]
    expected: dict[str, Match] = field(default_factory=dict)
    tuning: Tuning = field(default_factory=load_tuning)

    def where(self, event: dict[str, Any]) -> tuple[str, int]:
        return Path(event["source"]).relative_to(self.root).as_posix(), event["line"]


def load_corpus(root: Path) -> Corpus:
    """A replay case (tests/replay/<case>/): its raw logs parsed, its expected alerts, its tuning."""
    case = load_case(root)
    summary = Summary()
    events = [e for e in parse_inputs([str(p) for p in case.log_files()], Options(), summary) if "error" not in e]
    assert summary.rejected == 0, f"{root}: the replay corpus has lines that do not parse"
    tuning = load_tuning().with_values(case.tuning)
    return Corpus(root, events, case.expected, tuning)


def local_pipeline(corpus: Corpus):  # type: ignore[no-untyped-def]
    """Our local pipeline (dictionary names, the case's tuning): the other engines run the same rules."""
    return pipeline("local", default_dictionary(), corpus.tuning)


def all_rules(rules_dir: Path) -> SigmaCollection:
    texts = [p.read_text(encoding="utf-8") for p in rule_files(rules_dir)]
    return SigmaCollection.from_yaml("\n---\n".join(texts))


def _log_types(rule: SigmaRule | SigmaCorrelationRule, collection: SigmaCollection) -> list[str]:
    if isinstance(rule, SigmaRule):
        source = default_dictionary().logsource_of(rule.logsource.product, rule.logsource.service, rule.logsource.category)
        return [source.log_type] if source is not None else []
    types: list[str] = []
    for reference in rule.rules:
        base = reference.rule
        types.extend(t for t in _log_types(base, collection) if t not in types)
    return types


def alerting_rules(collection: SigmaCollection) -> list[SigmaRule | SigmaCorrelationRule]:
    return [r for r in collection.rules if r._output]


def converted(backend: Any, collection: SigmaCollection) -> dict[str, list[Any] | str]:
    """Each alerting rule's queries, or the backend's reason for refusing it. Single-event rules
    first: a correlation needs its base rules converted by the same backend."""
    out: dict[str, list[Any] | str] = {}
    for rule in sorted(collection.rules, key=lambda r: isinstance(r, SigmaCorrelationRule)):
        output = rule._output
        rule._output = True
        try:
            queries = backend.convert_correlation_rule(rule) if isinstance(rule, SigmaCorrelationRule) else backend.convert_rule(rule)
        except Exception as exc:
            queries = f"{type(exc).__name__}: {exc}"
        finally:
            rule._output = output
        if output:
            out[str(rule.id)] = queries
    return out


# --- DuckDB (ours) ----------------------------------------------------------------------------------

def duckdb_matches(rules_dir: Path, corpus: Corpus, base_rules: bool = False) -> tuple[dict[str, Match | str], RuleSet]:
    """Per rule id, the lines the local engine matches; with `base_rules`, also those of the rules
    only a correlation uses (Sigma `generate: false`), which never alert on their own."""
    dictionary = default_dictionary()
    ruleset = compile_rules(rules_dir, dictionary, corpus.tuning)
    con = duckdb.connect()
    create_events_table(con, to_arrow(corpus.events, dictionary))
    where = {rowid: corpus.where(e) for rowid, e in enumerate(corpus.events)}
    out: dict[str, Match | str] = {}
    for rule in ruleset.rules:
        if rule.refused:
            out[rule.id] = rule.refused
        elif isinstance(rule.rule, SigmaCorrelationRule):
            alerts = run_correlation(con, rule, ruleset)
            out[rule.id] = {where[r] for a in alerts for r in a.rowids}
        elif rule.alerts or (base_rules and rule.condition is not None):
            rows = con.execute(f"SELECT rowid FROM events WHERE coalesce(({rule.condition}), FALSE)").fetchall()
            out[rule.id] = {where[r[0]] for r in rows}
    return out, ruleset


# --- SQLite (pySigma's sqlite backend, the Zircolite approach) ----------------------------------------

_SQLITE_TYPES = {"long": "INTEGER", "double": "REAL"}


def sqlite_database(corpus: Corpus) -> sqlite3.Connection:
    dictionary = default_dictionary()
    con = sqlite3.connect(":memory:")
    columns = dictionary.column_names()  # SQLite ignores the case of column names, like DuckDB
    con.execute("CREATE TABLE logs (" + ", ".join(f'"{c}" {_SQLITE_TYPES.get(dictionary[c].type, "TEXT")}' for c in columns) + ")")
    for rowid, event in enumerate(corpus.events, start=1):
        values = []
        for name in dictionary.event_names(event.get("log_type")):
            v = event.get(name)
            if isinstance(v, (list, dict)):
                v = json.dumps(v)
            elif isinstance(v, bool):
                v = "true" if v else "false"
            values.append(v)
        con.execute(f"INSERT INTO logs (rowid, {', '.join(chr(34) + c + chr(34) for c in columns)}) "
                    f"VALUES (?, {', '.join('?' for _ in columns)})", [rowid, *values])
    return con


def sqlite_matches(collection: SigmaCollection, corpus: Corpus) -> dict[str, Match | str]:
    con = sqlite_database(corpus)
    where = {rowid: corpus.where(e) for rowid, e in enumerate(corpus.events, start=1)}
    out: dict[str, Match | str] = {}
    conversions = converted(sqliteBackend(processing_pipeline=local_pipeline(corpus)), collection)
    for rule in alerting_rules(collection):
        types = _log_types(rule, collection)
        scope = f"(SELECT rowid AS rowid, * FROM logs WHERE log_type IN ({', '.join(repr(t) for t in types)})) logs"
        queries = conversions[str(rule.id)]
        if isinstance(queries, str):
            out[str(rule.id)] = f"sqlite backend refuses: {queries}"
            continue
        hits: Match = set()
        for query in queries:
            query = query.replace(" FROM logs", " FROM " + scope)
            if isinstance(rule, SigmaCorrelationRule):
                for row in con.execute(query).fetchall():
                    event_ids = json.loads(row[8])
                    hits.update(where[int(e.split(":")[-1])] for e in event_ids)
            else:
                query = query.replace("SELECT * FROM", "SELECT rowid FROM", 1)
                hits.update(where[r[0]] for r in con.execute(query).fetchall())
        out[str(rule.id)] = hits
    return out


# --- eql (Elastic's Python engine, pySigma's EQL output) ---------------------------------------------

def _epoch_ns(timestamp: str) -> int:
    base, _, fraction = timestamp.rstrip("Z").partition(".")
    moment = dt.datetime.fromisoformat(base).replace(tzinfo=dt.UTC)
    return int(moment.timestamp()) * 1_000_000_000 + int((fraction + "000000000")[:9])


def eql_matches(collection: SigmaCollection, corpus: Corpus) -> dict[str, Match | str]:
    out: dict[str, Match | str] = {}
    conversions = converted(EqlBackend(processing_pipeline=local_pipeline(corpus)), collection)
    for rule in alerting_rules(collection):
        types = _log_types(rule, collection)
        queries = conversions[str(rule.id)]
        if isinstance(queries, str):
            out[str(rule.id)] = f"eql backend refuses: {queries}"
            continue
        try:
            with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions, eql.parser.allow_runs:
                parsed = [eql.parse_query(q) for q in queries]
        except Exception as exc:
            out[str(rule.id)] = f"eql refuses: {type(exc).__name__}: {exc}"
            continue
        hits: Match = set()
        events = sorted((e for e in corpus.events if e.get("log_type") in types), key=lambda e: _epoch_ns(e["timestamp"]))
        for query in parsed:
            engine = eql.PythonEngine({"time_unit": 1_000_000_000})
            found: list[Any] = []
            engine.add_output_hook(lambda result, found=found: found.extend(result.events))
            engine.add_query(query)
            engine.stream_events([eql.Event(e["log_type"], _epoch_ns(e["timestamp"]), e) for e in events])
            hits.update(corpus.where(event.data) for event in found)
        out[str(rule.id)] = hits
    return out
