"""Run by the tests with the ES|QL analyzer's own Python (>= 3.12, .tools/esql, `make tools`):
parse and analyze ES|QL queries against a field schema with Elastic's detection-rules-esql-py.

Usage: python esql_analyze.py request.json, where request.json is
  {"schema": {"<field>": "<Elasticsearch type>", ...},
   "queries": {"<name>": {"query": "...", "rule": true|false}, ...}}
`rule` also applies the detection-rules checks of a Kibana ES|QL rule (METADATA, KEEP).
Prints {"<name>": null | "<error class>: <message>"} as JSON."""

import json
import sys

import esql


def main(path: str) -> None:
    with open(path, encoding="utf-8") as f:
        request = json.load(f)
    schema = esql.Schema(request["schema"])
    out = {}
    for name, item in request["queries"].items():
        try:
            tree = esql.parse_query(item["query"])
            esql.analyze(tree, schema)
            if item.get("rule"):
                esql.validate_detection_rule_query(tree, name)
            out[name] = None
        except esql.EsqlError as exc:
            out[name] = f"{type(exc).__name__}: {' | '.join(str(exc).split(chr(10)))}"
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
