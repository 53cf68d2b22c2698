"""A flat JSON parser definition (parsers/proxy.yml) as one DuckDB query over raw lines.

The vectorized path takes the lines where reading is simple and exact: a JSON object (plain, or in
Docker's json-file envelope with exactly `log`, `stream`, `time`), no duplicate keys, only keys the
definition maps (so nothing goes to `extra`), every value of the type its field has, an RFC 3339 UTC
time. Every other line is `_slow` and read by the Python parser; tests/test_sql_parse.py checks that
both give the same events.
"""

from __future__ import annotations

import json

from ..fields import FieldDictionary
from ..parsing.definitions import ParserDefinition
from ..parsing.redaction import Redactor
from ..regex_dialect import group_names
from .duckdb_backend import sql_string
from .sql_steps import BREAK_STRIPPED, SQL_CONDITIONS, column, redaction_sql, step_sql, when_sql
from .sql_text import SQL_TYPES, produced_fields

FAST_TIME = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]+)?Z"
FAST_IPV4 = "(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


def supports(definition: ParserDefinition) -> bool:
    """Whether the definition is flat enough for this compiler (no expansion, top-level keys only)."""
    if definition.format != "json" or definition.expand or definition.documents or (definition.derive and any(
            s.strip or s.join for s in definition.derive)):
        return False
    whens = [case.when for case in definition.cases] + [s.when for s in definition.derive] + [
        w for s in definition.derive for w, _values in s.first]
    if any(c.kind not in SQL_CONDITIONS for w in whens for c in w.conditions):
        return False
    pointers = [p for ps in definition.fields.values() for p in ps]
    pointers += [p for case in definition.cases for ps in case.fields.values() for p in ps]
    if any(len(p) != 1 for p in pointers) or len(definition.ts_sources) != 1:
        return False
    return all((e.keys and not e.prefix) or e.prefix for e in definition.envelopes)


def _key(parts: tuple[str, ...]) -> str:
    return parts[0]


def _path(key: str) -> str:
    return sql_string('$."' + key.replace('"', '\\"') + '"')


def _member(key: str) -> str:
    """The JSON text of a top-level member, from the struct the line was parsed into once."""
    return "_s." + column(key)


# The JSON type a member may have for a field of each type, as json_structure() names it.
SHAPES = {"keyword": ["VARCHAR"], "text": ["VARCHAR"], "ip": ["VARCHAR"], "long": ["UBIGINT", "BIGINT", "VARCHAR"],
          "double": ["UBIGINT", "BIGINT", "DOUBLE"], "boolean": ["BOOLEAN"], "keyword_list": ["VARCHAR", '["VARCHAR"]']}
# How json_transform() reads a member for a field of each type (one parse of the line for all).
TRANSFORM = {"keyword": "VARCHAR", "text": "VARCHAR", "ip": "VARCHAR", "long": "VARCHAR", "double": "DOUBLE",
             "boolean": "BOOLEAN", "keyword_list": "JSON"}


def _typed(key: str, field_type: str, transformed: str) -> tuple[str, str]:
    """(value expression, row check) for a member read by json_transform as TRANSFORM[field_type]
    (or as JSON when `transformed` is "JSON" because the key feeds fields of several types)."""
    member = _member(key)
    shape = column("_t_" + key)
    text = member if transformed == "VARCHAR" else f"json_extract_string({member}, '$')"
    if field_type in ("keyword", "text"):
        return text, "TRUE"
    if field_type == "ip":
        return text, f"regexp_full_match({text}, {sql_string(FAST_IPV4)})"
    if field_type == "long":
        value = f"TRY_CAST({text} AS BIGINT)"
        return value, f"{value} IS NOT NULL AND ({shape} <> 'VARCHAR' OR regexp_full_match({text}, '-?[0-9]{{1,20}}'))"
    if field_type == "double":
        value = member if transformed == "DOUBLE" else f"TRY_CAST({text} AS DOUBLE)"
        return value, f"isfinite({value})"
    if field_type == "boolean":
        return (member if transformed == "BOOLEAN" else f"{text}::BOOLEAN"), "TRUE"
    if field_type == "keyword_list":
        json_member = member if transformed == "JSON" else f"to_json({member})"
        value = (f"CASE WHEN {shape} = 'VARCHAR' THEN [json_extract_string({json_member}, '$')] "
                 f"ELSE json_extract_string({json_member}, '$[*]')::VARCHAR[] END")
        return value, "TRUE"
    return "NULL", "FALSE"


def json_query(definition: ParserDefinition, dictionary: FieldDictionary, redactor: Redactor, lines: str = "lines") -> str:
    """SELECT of the columns this log type can fill plus `_slow`, from `lines(source, line, raw)`."""
    assert supports(definition)
    fields = produced_fields(definition, dictionary)
    wrapper = next((e for e in definition.envelopes if e.keys), None)
    known = sorted({_key(p) for ps in definition.fields.values() for p in ps}
                   | {_key(p) for case in definition.cases for ps in case.fields.values() for p in ps}
                   | {_key(p) for p in definition.ignore} | {definition.ts_sources[0][1:]})
    required = [list(keys) for keys in definition.detect_keys]
    # the field each key feeds (globally), and per case
    global_map = {name: [_key(p) for p in ps] for name, ps in definition.fields.items()}
    values: dict[tuple[str, str], str] = {}
    row_checks: list[str] = []
    shape_checks: list[str] = []
    transform: dict[str, str] = {}
    time_key = definition.ts_sources[0][1:]
    for key in known:
        feeding = [n for n, ks in global_map.items() if key in ks] + [
            n for case in definition.cases for n, ps in case.fields.items() if key in [_key(p) for p in ps]]
        types = sorted({dictionary[n].type for n in feeding if n in dictionary}) or ["keyword"]
        if key == time_key:
            types = ["keyword"]
        transform[key] = TRANSFORM[types[0]] if len(types) == 1 else "JSON"
        shape = column("_t_" + key)
        # the member's JSON type must suit every field the key can feed (a string suits keyword and keyword_list)
        allowed = set.intersection(*(set(SHAPES[t]) for t in types))
        shape_checks.append(f"({shape} IS NULL OR {shape} = 'NULL' OR {shape} IN ({', '.join(sql_string(a) for a in sorted(allowed))}))")
        for field_type in types:
            value, check = _typed(key, field_type, transform[key])
            values[(key, field_type)] = value
            if check != "TRUE" and key != time_key:
                row_checks.append(f"({shape} IS NULL OR {shape} = 'NULL' OR ({check}))")

    def present(key: str) -> str:
        return f"coalesce({column('_t_' + key)} <> 'NULL', FALSE)"

    def feed(keys: list[str], field_type: str) -> str:
        branches = [f"WHEN {present(k)} THEN {values[(k, field_type)]}" for k in keys if (k, field_type) in values]
        return f"CASE {' '.join(branches)} END" if branches else "NULL"

    def chosen_in(keys: list[str], claimed: set[str]) -> str:
        """Whether the first present key of `keys` is one the case claims for another field."""
        branches = [f"WHEN {present(k)} THEN {'TRUE' if k in claimed else 'FALSE'}" for k in keys]
        return f"coalesce(CASE {' '.join(branches)} END, FALSE)" if branches else "FALSE"

    # the globally mapped fields once (`_g_<name>`); the first case whose `when` holds, judged on them
    base = {name: feed(keys, dictionary[name].type) for name, keys in global_map.items() if name in dictionary}
    globals_sql = ", ".join(f"{expr} AS {column('_g_' + name)}" for name, expr in base.items())
    case_when = []
    for i, case in enumerate(definition.cases):
        condition = when_sql(case.when)
        for name in base:
            condition = condition.replace(column(name), column("_g_" + name))
        case_when.append(f"WHEN {condition} THEN {i}")
    case_index = f"CASE {' '.join(case_when)} END" if case_when else "NULL"
    out: dict[str, str] = {}
    for name in fields:
        if name in ("source", "line", "log_type", "timestamp") or name not in dictionary:
            continue
        branches = []
        for i, case in enumerate(definition.cases):
            claimed = {_key(p) for ps in case.fields.values() for p in ps}
            if name in case.set:
                branches.append(f"WHEN {i} THEN {sql_string(str(case.set[name]))}")
            elif name in case.fields:
                branches.append(f"WHEN {i} THEN {feed([_key(p) for p in case.fields[name]], dictionary[name].type)}")
            elif name in global_map and claimed & set(global_map[name]):
                if len(global_map[name]) == 1:  # its one key feeds another field in this case
                    branches.append(f"WHEN {i} THEN NULL")
                else:
                    branches.append(f"WHEN {i} THEN CASE WHEN {chosen_in(global_map[name], claimed)} THEN NULL "
                                    f"ELSE {column('_g_' + name)} END")
        default = column("_g_" + name) if name in base else "NULL"
        if name in definition.drop_empty:
            default = f"NULLIF({default}, '')"
        expr = f"CASE _case {' '.join(branches)} ELSE {default} END" if branches else default
        if wrapper is not None and name in wrapper.fields:
            expr = f"CASE WHEN _wrapped THEN json_extract_string(raw, '$.stream') ELSE {expr} END"
        out[name] = f"CAST({expr} AS {SQL_TYPES[dictionary[name].type]})"
    time_text = _member(time_key)
    fraction = f"rtrim(regexp_extract({time_text}, '\\.([0-9]+)Z$', 1), '0')"
    timestamp = (f"substr({time_text}, 1, 19) || CASE WHEN {fraction} = '' THEN '' ELSE '.' || {fraction} END || 'Z'")
    fast_time = (f"{column('_t_' + time_key)} = 'VARCHAR' AND regexp_full_match({time_text}, {sql_string(FAST_TIME)}) "
                 f"AND substr({time_text}, 18, 2) < '60' AND TRY_CAST(substr({time_text}, 1, 19) AS TIMESTAMP) IS NOT NULL")
    wrapped = "FALSE"
    if wrapper is not None:
        wrapped = ("CASE WHEN _raw_obj THEN list_sort(json_keys(raw)) = ['log', 'stream', 'time'] "
                   "AND json_type(raw, '$.log') = 'VARCHAR' AND json_type(raw, '$.stream') = 'VARCHAR' ELSE FALSE END")
    has_required = " OR ".join("(" + " AND ".join(f"list_contains(_shape_keys, {sql_string(k)})" for k in keys) + ")"
                               for keys in required) or "TRUE"
    structure = sql_string(json.dumps({k: transform[k] for k in known}))
    shape_types = ", ".join(f"json_extract_string(_structure, {_path(k)}) AS {column('_t_' + k)}" for k in known)
    keys_known = f"list_bool_and(list_transform(_shape_keys, lambda k: k IN ({', '.join(sql_string(k) for k in known)})))"
    steps = [step_sql(step, {n: k for k, n in enumerate(group_names(step.regex.pattern), start=1)} if step.regex else {})
             for step in definition.derive]
    derive_ctes = "".join(f", d{i} AS (SELECT * REPLACE ({', '.join(f'{e} AS {column(n)}' for n, e in sql.items())}) FROM d{i - 1})"
                          for i, sql in enumerate(steps, start=1) if sql)
    last = f"d{len([s for s in steps if s])}"
    redact = redaction_sql(redactor, [n for n in fields if dictionary[n].type in ("keyword", "text")])
    redact_cte = f", r AS (SELECT * REPLACE ({', '.join(redact)}) FROM {last})" if redact else f", r AS (SELECT * FROM {last})"
    final = ", ".join(column(n) for n in fields)
    return f"""
WITH b AS (
    SELECT l.source, l.line, {BREAK_STRIPPED} AS raw FROM {lines} l
), o AS (
    -- DuckDB's JSON reader also takes trailing commas, which JSON (and the Python parser) refuse:
    -- a line with `,]` or `,}}` anywhere is left to Python
    SELECT *, coalesce(try(json_type(raw)) = 'OBJECT', FALSE) AND NOT regexp_matches(raw, ',[ \\t]*[\\]}}]') AS _raw_obj FROM b
), e AS (
    SELECT *, {wrapped} AS _wrapped FROM o
), j AS (
    SELECT *, CASE WHEN _wrapped THEN json_extract_string(raw, '$.log') ELSE raw END AS _body FROM e
), k AS (
    SELECT *, CASE WHEN _wrapped THEN coalesce(try(json_type(_body)) = 'OBJECT', FALSE) ELSE _raw_obj END AS _ok FROM j
), m AS (
    -- parsed once into the members the definition maps; its shape (keys and JSON types) once more
    SELECT *, CASE WHEN _ok THEN json_keys(_body) END AS _keys,
           CASE WHEN _ok THEN json_structure(_body) END AS _structure,
           CASE WHEN _ok THEN json_transform(_body, {structure}) END AS _s
    FROM k
), shapes AS (
    -- the checks that depend only on the shape run once per distinct shape, not once per line
    SELECT _structure, _shape_keys, {shape_types},
           coalesce({keys_known} AND ({has_required}) AND {' AND '.join(shape_checks) or 'TRUE'}, FALSE) AS _shape_ok
    FROM (SELECT DISTINCT _structure, json_keys(_structure) AS _shape_keys FROM m WHERE _ok)
), g AS (
    SELECT m.*, shapes.* EXCLUDE (_structure), {globals_sql or "NULL AS _none"}
    FROM m LEFT JOIN shapes ON m._structure = shapes._structure
), c AS (
    SELECT *, CASE WHEN _ok THEN {case_index} END AS _case,
           NOT coalesce(_ok AND _shape_ok AND len(_keys) = len(list_distinct(_keys))
                        AND {fast_time} AND {' AND '.join(row_checks) or 'TRUE'}, FALSE) AS _slow
    FROM g
), d0 AS (
    SELECT source, line, _slow, {sql_string(definition.log_type)} AS log_type,
           CASE WHEN NOT _slow THEN {timestamp} END AS timestamp,
           {', '.join(f'CASE WHEN NOT _slow THEN {expr} END AS {column(n)}' for n, expr in out.items())}
    FROM c
){derive_ctes}{redact_cte}
SELECT {final}, _slow FROM r
"""
