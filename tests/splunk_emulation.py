"""A small model of Splunk's search-time field processing, to check TA-kamal without a Splunk.

It runs the TA's knowledge in Splunk's order (EXTRACT, REPORT, KV_MODE=json, FIELDALIAS, EVAL,
LOOKUP) over one raw event, with every regex in real PCRE2 (the `pcre2` package; Splunk's regexes
are PCRE), and evaluates the eval expressions from the generator's own expression objects. Field
values are lists (Splunk's multivalue fields); eval values are None (null), str, bool, a number or
a list. What it models of Splunk, from Splunk's documentation:

- KV_MODE=json flattens objects with `.` and arrays with `{}`; calculated fields see the fields as
  they were before any calculated field, and a null result removes the field;
- `match` and `replace` are PCRE, `replace` replaces every match; `case`/`if` take the first true
  condition; AND/OR/NOT are three-valued; `substr` counts from 1, from the end when negative;
- lookups match exactly; OUTPUTNEW fills only absent fields.

Functions the generator does not use are not modelled: a new one fails here first.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import Any

import pcre2
from pcre2 import _cy as pcre2_cy

from converter.targets.splunk_eval import Bin, Call, Expr, Fld, Not, Num, Str
from converter.targets.splunk_json import Transform
from converter.targets.splunk_props import Knowledge

Fields = dict[str, list[str]]
Value = Any


_CACHE: dict[str, Any] = {}
# The pcre2 package compiles with PCRE2_ALT_BSUX (JavaScript's \\x and \\u escapes) and PCRE2_UCP
# (Unicode classes); Splunk compiles with neither, in UTF mode. Compile as Splunk does.
_ALT_BSUX, _UCP = 0x2, 0x20000


def pcre(pattern: str) -> Any:
    """`pattern` compiled by PCRE2 with Splunk's options."""
    if pattern not in _CACHE:
        code = pcre2_cy.compile(pattern, 0, _ALT_BSUX | _UCP)
        _CACHE[pattern] = pcre2.Pattern(code, pattern, pcre2.RegexFlag(0), False, None)
    return _CACHE[pattern]


_rx = pcre


def json_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def flatten(node: Any, prefix: str, out: Fields) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            flatten(value, f"{prefix}.{key}" if prefix else key, out)
    elif isinstance(node, list):
        for value in node:
            flatten(value, prefix + "{}", out)
    elif node is not None:
        out.setdefault(prefix, []).append(json_scalar(node))


def kv_json(raw: str) -> Fields:
    try:
        obj = json.loads(raw)
    except ValueError:
        return {}
    out: Fields = {}
    if isinstance(obj, dict):
        flatten(obj, "", out)
    return out


def spath(text: Value, path: str) -> Value:
    if not isinstance(text, str):
        return None
    fields = kv_json(text)
    values = fields.get(path)
    if values is None:
        return None
    return values[0] if len(values) == 1 else list(values)


def extract(regex: str, subject: str) -> Fields:
    m = _rx(regex).search(subject)
    if m is None:
        return {}
    return {name: [value] for name, value in m.groupdict().items() if value}


def report(t: Transform, raw: str) -> Fields:
    out: Fields = {}
    matches = _rx(t.regex).finditer(raw) if t.mv_add else [m for m in [_rx(t.regex).search(raw)] if m]
    for m in matches:
        assert t.format == "$1::$2", t.format
        out.setdefault(m.group(1), []).append(m.group(2))
    return out


def _value(values: list[str] | None) -> Value:
    if not values:
        return None
    return values[0] if len(values) == 1 else list(values)


def _single(v: Value, fn: str) -> Value:
    if isinstance(v, list):
        raise AssertionError(f"{fn}() given a multivalue field: the generator must not do that")
    return v


def _truth(v: Value) -> bool | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    raise AssertionError(f"not a condition: {v!r}")


def _number(v: Value) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _substr(s: str, start: int, length: int | None = None) -> str:
    begin = len(s) + start if start < 0 else max(start - 1, 0)
    begin = max(begin, 0)
    return s[begin:] if length is None else s[begin:begin + max(length, 0)]


def _expand(m: Any, replacement: str) -> str:
    """A Splunk replacement (`\\1` for group 1) for one match."""
    return re.sub(r"\\([0-9])", lambda g: m.group(int(g.group(1))) or "", replacement)


def _replace(subject: str, regex: str, replacement: str) -> str:
    return _rx(regex).sub(lambda m: _expand(m, replacement), subject)


class Evaluator:
    def __init__(self, fields: Fields) -> None:
        self.fields = fields
        self.bound: dict[str, Value] = {}

    def field(self, name: str) -> Value:
        if name in self.bound:
            return self.bound[name]
        return _value(self.fields.get(name))

    def eval(self, e: Expr) -> Value:
        if isinstance(e, Fld):
            return self.field(e.name)
        if isinstance(e, Str):
            return e.value
        if isinstance(e, Num):
            return e.value
        if isinstance(e, Not):
            t = _truth(self.eval(e.operand))
            return None if t is None else not t
        if isinstance(e, Bin):
            return self.binary(e)
        if isinstance(e, Call):
            return self.call(e)
        raise AssertionError(e)

    def binary(self, e: Bin) -> Value:
        if e.op in ("AND", "OR"):
            left, right = _truth(self.eval(e.left)), _truth(self.eval(e.right))
            if e.op == "AND":
                return False if False in (left, right) else None if None in (left, right) else True
            return True if True in (left, right) else None if None in (left, right) else False
        a, b = self.eval(e.left), self.eval(e.right)
        if a is None or b is None:
            return None
        _single(a, e.op)
        _single(b, e.op)
        if e.op == ".":
            return f"{a}{b}"
        na, nb = _number(a), _number(b)
        if e.op in ("+", "-"):
            assert na is not None and nb is not None, (a, b)
            result = na + nb if e.op == "+" else na - nb
            return int(result) if result.is_integer() else result
        if e.op == ">":
            return na > nb if na is not None and nb is not None else str(a) > str(b)
        same = na == nb if na is not None and nb is not None else str(a) == str(b)
        return same if e.op == "==" else not same

    def call(self, e: Call) -> Value:
        fn, args = e.fn, e.args
        if fn == "null":
            return None
        if fn == "true":
            return True
        if fn == "false":
            return False
        if fn == "if":
            t = _truth(self.eval(args[0]))
            return self.eval(args[1]) if t else self.eval(args[2])
        if fn == "case":
            for i in range(0, len(args), 2):
                if _truth(self.eval(args[i])):
                    return self.eval(args[i + 1])
            return None
        if fn == "coalesce":
            for a in args:
                v = self.eval(a)
                if v is not None:
                    return v
            return None
        if fn == "mvmap":
            assert isinstance(args[0], Fld)
            values = self.eval(args[0])
            if values is None:
                return None
            out = []
            for v in values if isinstance(values, list) else [values]:
                self.bound[args[0].name] = v
                try:
                    r = self.eval(args[1])
                finally:
                    del self.bound[args[0].name]
                if r is not None:
                    out += r if isinstance(r, list) else [r]
            return _value(out)
        if fn == "mvappend":
            out = []
            for a in args:
                v = self.eval(a)
                if v is not None:
                    out += v if isinstance(v, list) else [v]
            return _value(out)
        values = [self.eval(a) for a in args]
        handler = FUNCTIONS.get(fn)
        if handler is None:
            raise AssertionError(f"eval function {fn}() is not modelled")
        return handler(*values)


def _isnull(x: Value) -> bool:
    return x is None


def _match(x: Value, regex: str) -> Value:
    if x is None:
        return None
    return _rx(regex).search(str(_single(x, "match"))) is not None


def _replace_fn(x: Value, regex: str, repl: str) -> Value:
    return None if x is None else _replace(str(_single(x, "replace")), regex, repl)


def _nullif(a: Value, b: Value) -> Value:
    return None if a == b else a


def _mvjoin(x: Value, sep: str) -> Value:
    if x is None:
        return None
    return sep.join(x) if isinstance(x, list) else str(x)


def _mvfind(x: Value, regex: str) -> Value:
    if x is None:
        return None
    for i, v in enumerate(x if isinstance(x, list) else [x]):
        if _rx(regex).search(v):
            return i
    return None


def _mvcount(x: Value) -> Value:
    return None if x is None else len(x) if isinstance(x, list) else 1


def _len(x: Value) -> Value:
    return None if x is None else len(str(_single(x, "len")))


def _substr_fn(x: Value, start: Value, length: Value = None) -> Value:
    if x is None or start is None:
        return None
    return _substr(str(_single(x, "substr")), int(start), None if length is None else int(length))


def _tonumber(x: Value) -> Value:
    n = _number(_single(x, "tonumber"))
    return None if n is None else int(n) if n.is_integer() else n


def _json_valid(x: Value) -> Value:
    if x is None:
        return None
    try:
        json.loads(str(x))
    except ValueError:
        return False
    return True


FUNCTIONS: dict[str, Callable[..., Value]] = {
    "isnull": _isnull,
    "isnotnull": lambda x: x is not None,
    "match": _match,
    "replace": _replace_fn,
    "nullif": _nullif,
    "mvjoin": _mvjoin,
    "mvfind": _mvfind,
    "mvcount": _mvcount,
    "len": _len,
    "substr": _substr_fn,
    "tonumber": _tonumber,
    "spath": spath,
    "json_valid": _json_valid,
}


def _as_values(v: Value) -> list[str] | None:
    if v is None:
        return None
    if isinstance(v, bool):
        raise AssertionError("a calculated field cannot hold a boolean")
    items = v if isinstance(v, list) else [v]
    return [json_scalar(x) for x in items]


def lookup_table(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def parse_sed(value: str) -> tuple[str, str, str]:
    """`s/regex/replacement/flags`, `/` escaped as `\\/` inside."""
    m = re.fullmatch(r"s/((?:[^/\\]|\\.)*)/((?:[^/\\]|\\.)*)/([a-z]*)", value)
    assert m is not None, value
    return m.group(1), m.group(2), m.group(3)


def index_time(k: Knowledge, raw: str) -> str:
    """The raw event as indexed: the SEDCMD- settings applied in the order of their class names."""
    for name in sorted(k.sedcmds):
        regex, replacement, flags = parse_sed(k.sedcmds[name])
        count = 0 if "g" in flags else 1
        raw = pcre(regex).sub(lambda m, r=replacement: _expand(m, r), raw, count=count)
    return raw


def search_time(k: Knowledge, raw: str, *, source: str, host: str, lookups: dict[str, bytes]) -> Fields:
    """The fields of one event of `k`'s source type, in Splunk's search-time order."""
    fields: Fields = {"_raw": [raw], "source": [source], "host": [host], "sourcetype": [k.sourcetype]}
    for name in sorted(k.extracts):
        regex, _, in_field = k.extracts[name].partition(" in ")
        subject = fields.get(in_field or "_raw")
        if subject:
            fields.update(extract(regex, subject[0]))
    for t in k.reports:
        for name, values in report(t, raw).items():
            fields.setdefault(name, []).extend(values)
    if k.index_time.get("KV_MODE") == "json":
        for name, values in kv_json(raw).items():
            fields.setdefault(name, values)
    for new, old in k.aliases.items():
        if old in fields:
            fields[new] = list(fields[old])
    evaluator = Evaluator(fields)
    results = {name: _as_values(evaluator.eval(expr)) for name, expr in k.evals.items()}
    for name, values in results.items():
        if values is None:
            fields.pop(name, None)
        else:
            fields[name] = values
    for value in k.lookups.values():
        table_name, rest = value.split(" ", 1)
        inputs_text, outputs_text = rest.split(" OUTPUTNEW ")
        inputs, outputs = inputs_text.split(), outputs_text.split()
        table = lookup_table(lookups[table_name])
        found: dict[str, list[str]] = {}
        keys = [fields.get(i, []) for i in inputs]
        for row in table:
            if all(row[i] in values for i, values in zip(inputs, keys, strict=True)):
                for o in outputs:
                    found.setdefault(o, []).append(row[o])
        for o, values in found.items():
            if o not in fields:
                fields[o] = values
    return fields
