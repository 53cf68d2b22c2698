"""A text parser definition (parsers/audit.yml) as one DuckDB query over a table of raw lines.

It reads a line as the Python TextParser does, for the lines where that is simple: the nearest
`] ` ends the performer, the message is one the catalogue knows and the tags agree with the file
name and the message, the timestamp is whole seconds in UTC (`Z`), no tag is empty. Every other
line (forged performers, unknown messages, MRSK local times, errors) is marked `_slow` and parsed by
the Python parser, so the result is the same line for line, which tests/test_sql_parse.py checks.
"""

from __future__ import annotations

import re

from ..fields import FieldDictionary
from ..parsing.definitions import ParserDefinition
from ..parsing.redaction import Redactor
from ..regex_dialect import group_names
from .duckdb_backend import sql_string
from .sql_steps import BREAK_STRIPPED, column, redaction_sql, step_sql

FAST_TIME = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
FAST_HEAD_PROBE = "[2026-06-22T13:02:49Z] ["  # Kamal's own form, the one the fast path reads
SQL_TYPES = {"keyword": "VARCHAR", "text": "VARCHAR", "ip": "VARCHAR", "timestamp": "VARCHAR", "long": "BIGINT",
             "double": "DOUBLE", "boolean": "BOOLEAN", "keyword_list": "VARCHAR[]", "object": "VARCHAR"}


_META = set("\\()[]{}.*+?|^$")
_GROUP = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")


def _plain(text: str) -> str | None:
    """`text` as the literal it matches, or None when it has regex syntax (escaped punctuation is fine)."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and not text[i + 1].isalnum():
            out.append(text[i + 1])
            i += 2
            continue
        if c in _META:
            return None
        out.append(c)
        i += 1
    return "".join(out)


def literal_frame(pattern: str) -> tuple[str, str, str] | None:
    """For `^(?:PREFIX(?P<name>...)SUFFIX)$` with literal PREFIX and SUFFIX: (name, prefix, suffix).
    A full match then holds the group exactly between them, so SQL can cut it with substr."""
    if not (pattern.startswith("^(?:") and pattern.endswith(")$")):
        return None
    body = pattern[4:-2]
    groups = list(_GROUP.finditer(body))
    if len(groups) != 1:
        return None
    start = groups[0].start()
    depth, end = 0, None
    for j in range(start, len(body)):
        if body[j] == "\\":
            continue
        if body[j] == "(" and (j == 0 or body[j - 1] != "\\"):
            depth += 1
        elif body[j] == ")" and body[j - 1] != "\\":
            depth -= 1
            if depth == 0:
                end = j + 1
                break
    if end is None:
        return None
    prefix, suffix = _plain(body[:start]), _plain(body[end:])
    if prefix is None or suffix is None:
        return None
    return groups[0].group(1), prefix, suffix


def _case(pairs: list[tuple[int, str]], default: str = "NULL") -> str:
    if not pairs:
        return default
    return "CASE _rule " + " ".join(f"WHEN {i} THEN {expr}" for i, expr in pairs) + f" ELSE {default} END"


def produced_fields(definition: ParserDefinition, dictionary: FieldDictionary) -> list[str]:
    """The dictionary fields a parser of this log type can fill, in dictionary order."""
    return [f.name for f in dictionary if definition.log_type in f.sources]


def text_query(definition: ParserDefinition, dictionary: FieldDictionary, redactor: Redactor,
               lines: str = "lines", files: str = "files") -> str:
    """SELECT of the columns this log type can fill (`produced_fields`) plus `_slow`, from
    `lines(source, line, raw)` (line breaks kept) and `files(source, _file_stem, _file_dest)`."""
    frame = definition.frame
    assert frame is not None and definition.format == "text"
    probe = frame.head.match(FAST_HEAD_PROBE)
    if probe is None or probe.end() != len(FAST_HEAD_PROBE) or probe.groupdict() != {"_recorded_at": FAST_HEAD_PROBE[1:20], "_zone": "Z"}:
        raise ValueError(f"{definition.file}: the frame head does not read `{FAST_HEAD_PROBE}` as the SQL fast path expects")
    tags = "^(?P<_tagtext>" + frame.tags.pattern + ")"
    rules = list(definition.messages)
    fields = dictionary.event_names(definition.log_type)  # one per column: names that differ only in case share one
    internal = sorted({n for r in rules for n in group_names(r.regex.pattern if r.regex else "") if n.startswith("_")}
                      | {n for step in definition.derive for n in step.set if n.startswith("_")})
    classify = " ".join(
        f"WHEN starts_with(message, {sql_string(r.literal)}) AND regexp_full_match(message, {sql_string(r.regex.pattern)}) THEN {i}"
        for i, r in enumerate(rules) if r.regex is not None)
    # per-rule constants by list lookup (one step, where a CASE would test every rule in turn)
    role_tag = f"[{', '.join(sql_string(r.role_tag) for r in rules)}][_rule + 1]"
    captures: dict[str, list[tuple[int, str]]] = {}
    for i, r in enumerate(rules):
        assert r.regex is not None
        cut = literal_frame(r.regex.pattern)
        if cut is not None:
            name, prefix, suffix = cut
            middle = f"substr(message, {len(prefix) + 1}, length(message) - {len(prefix) + len(suffix)})"
            captures.setdefault(name, []).append((i, f"NULLIF({middle}, '')"))
        else:
            for k, name in enumerate(group_names(r.regex.pattern), start=1):
                captures.setdefault(name, []).append((i, f"NULLIF(regexp_extract(message, {sql_string(r.regex.pattern)}, {k}), '')"))
        for name, value in r.set.items():
            captures.setdefault(name, []).append((i, sql_string(str(value))))
    action = f"[{', '.join(sql_string(r.action) for r in rules)}][_rule + 1]"
    base_columns = []
    for name in fields + internal:
        if name in ("source", "line"):
            continue
        ftype = SQL_TYPES[dictionary[name].type] if name in dictionary else "VARCHAR"
        if name == "log_type":
            expr = sql_string(definition.log_type)
        elif name == "performer":
            expr = "_performer"
        elif name == "message":
            expr = "message"
        elif name == "action":
            expr = action
        elif name in ("destination", "role", "service", "timestamp"):
            expr = f"_{name}"
        elif name in captures:
            expr = _case(captures[name])
        else:
            expr = "NULL"
        base_columns.append(f"CAST({expr} AS {ftype}) AS {column(name)}")
    steps = []
    for step in definition.derive:
        names = group_names(step.regex.pattern) if step.regex is not None else []
        replaced = step_sql(step, {n: k for k, n in enumerate(names, start=1)})
        steps.append(", ".join(f"{expr} AS {column(n)}" for n, expr in replaced.items()))
    flags_sql = "NULL"
    if definition.flags is not None:
        subject, _into, flags = definition.flags
        items = ", ".join(f"CASE WHEN regexp_matches({column(subject)}, {sql_string(rx.pattern)}) THEN {sql_string(name)} END"
                          for name, rx in flags)
        flags_sql = f"CASE WHEN {column(subject)} IS NULL THEN NULL ELSE NULLIF(list_filter([{items}], lambda x: x IS NOT NULL), []) END"
    # the columns this log type cannot fill are NULL: nothing to redact there
    redact = redaction_sql(redactor, [n for n in produced_fields(definition, dictionary) if dictionary[n].type in ("keyword", "text")])
    final = []
    for name in produced_fields(definition, dictionary):
        if name == "performer":
            final.append(f"NULLIF({column(name)}, '') AS {column(name)}")
        elif name == "performer_flags":
            final.append(f"{flags_sql} AS {column(name)}")
        else:
            final.append(column(name))
    ts_ok = "substr(_recorded_at, 18, 2) < '60' AND TRY_CAST(_recorded_at AS TIMESTAMP) IS NOT NULL"
    derive_ctes = "".join(f", d{i} AS (SELECT * REPLACE ({sql}) FROM d{i - 1})" for i, sql in enumerate(steps, start=1) if sql)
    last = f"d{len([s for s in steps if s])}"
    redact_cte = f", r AS (SELECT * REPLACE ({', '.join(redact)}) FROM {last})" if redact else f", r AS (SELECT * FROM {last})"
    return f"""
WITH b AS (
    SELECT l.source, l.line, f._file_stem, f._file_dest, {BREAK_STRIPPED} AS raw
    FROM {lines} l JOIN {files} f ON l.source = f.source
), l AS (
    -- the fast path takes Kamal's own form only, `[YYYY-MM-DDTHH:MM:SSZ] [`; the rest is read in Python
    SELECT *, CASE WHEN substr(raw, 1, 1) = '[' AND substr(raw, 21, 4) = 'Z] ['
                        AND regexp_full_match(substr(raw, 2, 19), {sql_string(FAST_TIME)})
                   THEN substr(raw, 1, 24) ELSE '' END AS _head
    FROM b
), h AS (
    SELECT *, strpos(substr(raw, 25), '] ') AS _p FROM l
), p AS (
    SELECT *, substr(raw, 2, 19) AS _recorded_at, 'Z' AS _zone,
           substr(raw, 25, _p - 1) AS _performer,
           substr(raw, 24 + _p + 1) AS _after
    FROM h
), t AS (
    SELECT *, regexp_extract(left(_after, 512), {sql_string(tags)}, ['_tagtext', '_tag1', '_tag2']) AS _t
    FROM p
), m AS (
    SELECT *, _t._tagtext AS _tagtext, substr(_after, length(_t._tagtext) + 1) AS message,
           NULLIF(_t._tag1, '') AS _tag1, NULLIF(_t._tag2, '') AS _tag2
    FROM t
), c AS (
    SELECT *, CASE {classify} END AS _rule FROM m
), k AS (
    SELECT *, {role_tag} AS _role_tag, (_tag1 IS NOT NULL)::INT + (_tag2 IS NOT NULL)::INT AS _count FROM c
), v AS (
    SELECT *,
        CASE
            WHEN _file_dest IS NOT NULL THEN _count > 0 AND _tag1 = _file_dest
                 AND CASE WHEN _count = 2 THEN _role_tag <> 'never' ELSE _role_tag <> 'always' END
            WHEN _count = 2 THEN _role_tag <> 'never' AND (_file_stem IS NULL OR ends_with(_file_stem, '-' || _tag1))
            WHEN _count = 1 THEN _role_tag <> 'never' OR _file_stem IS NULL OR ends_with(_file_stem, '-' || _tag1)
            ELSE _role_tag <> 'always'
        END AS _consistent
    FROM k
), w AS (
    -- whether the first tag is the destination (then the second is the role) or the role
    SELECT *,
        CASE
            WHEN _file_dest IS NOT NULL AND _tag1 = _file_dest THEN 'destination'
            WHEN _count = 2 OR _role_tag = 'never' THEN 'destination'
            WHEN _role_tag = 'always' THEN 'role'
            WHEN ends_with(_file_stem, '-' || _tag1) THEN 'destination'
            WHEN _file_stem IS NOT NULL THEN 'role'
            ELSE 'destination'
        END AS _tag1_is
    FROM v
), s AS (
    SELECT *,
        CASE WHEN _tag1_is = 'destination' THEN _tag1 END AS _destination,
        CASE WHEN _tag1_is = 'destination' THEN _tag2 ELSE _tag1 END AS _role,
        _recorded_at || 'Z' AS _timestamp,
        NOT (_head <> '' AND _p > 0 AND _rule IS NOT NULL AND _consistent AND strpos(_tagtext, '[]') = 0 AND {ts_ok})
            AS _slow
    FROM w
), n AS (
    SELECT *,
        CASE
            WHEN _file_stem IS NULL THEN NULL
            WHEN coalesce(_file_dest, _destination) IS NOT NULL
                 AND ends_with(_file_stem, '-' || coalesce(_file_dest, _destination))
                 AND length(_file_stem) > length(coalesce(_file_dest, _destination)) + 1
            THEN substr(_file_stem, 1, length(_file_stem) - length(coalesce(_file_dest, _destination)) - 1)
            ELSE _file_stem
        END AS _service
    FROM s
), d0 AS (
    SELECT source, line, _slow, {", ".join(base_columns)} FROM n
){derive_ctes}{redact_cte}
SELECT {", ".join(final)}, _slow FROM r
"""
