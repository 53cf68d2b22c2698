"""The baseline of benchmarks/hunt.py: the approach Zircolite takes, parse the events in Python, load
them into SQLite and run each rule's query from pySigma's SQLite backend.

Run as a script (a process of its own, so its peak memory is its own): prints `<events> <alerts>`."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule

from converter.fields import default_dictionary
from converter.local.rules import rule_files
from converter.parsing.files import Options, Summary, parse_inputs
from converter.pipelines import pipeline
from converter.tuning import load_tuning


def main(log: str, rules_dir: str) -> None:
    dictionary = default_dictionary()
    columns = dictionary.column_names()  # SQLite ignores the case of column names (Image, image)
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE logs (" + ", ".join(f'"{c}"' for c in columns) + ")")
    insert = f"INSERT INTO logs VALUES ({', '.join('?' for _ in columns)})"
    batch = []
    events = 0
    for event in parse_inputs([log], Options(), Summary()):
        if "error" in event:
            continue
        events += 1
        values = (event.get(name) for name in dictionary.event_names(event.get("log_type")))
        batch.append([json.dumps(v) if isinstance(v, (list, dict)) else v for v in values])
        if len(batch) >= 50_000:
            con.executemany(insert, batch)
            batch = []
    con.executemany(insert, batch)
    texts = [p.read_text(encoding="utf-8") for p in rule_files(Path(rules_dir))]
    collection = SigmaCollection.from_yaml("\n---\n".join(texts))
    collection.resolve_rule_references()
    # the same rules as hunt: our local pipeline (field names, tuning placeholders, log source scope)
    backend = sqliteBackend(processing_pipeline=pipeline("local", dictionary, load_tuning()))
    alerts = 0
    for rule in sorted(collection.rules, key=lambda r: isinstance(r, SigmaCorrelationRule)):
        output = rule._output
        rule._output = True  # a correlation's base rule is converted too (its queries are not run)
        try:
            queries = backend.convert_correlation_rule(rule) if isinstance(rule, SigmaCorrelationRule) else backend.convert_rule(rule)
        finally:
            rule._output = output
        if not output:
            continue
        for query in queries:
            alerts += len(con.execute(query).fetchall())
    print(events, alerts)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
