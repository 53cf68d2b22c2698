"""The `when` conditions and `derive` steps of parser definitions as Splunk eval expressions.

A parser runs its steps on one event; here they run on expressions instead of values. `Env` maps
each field (our names, `_internal` ones too) to the eval expression of its value so far, NULL when
absent. A step that sets a field under a condition makes its expression `if(condition, new, old)`,
so after the last step every field's expression computes what the parser would have computed, from
the fields Splunk extracted. Splunk's calculated fields cannot use each other, which is why the
expressions are inlined rather than named.
"""

from __future__ import annotations

import re
from typing import Any

from ..parsing.rules import Condition, Step, When
from .splunk_eval import (
    NULL,
    Expr,
    Num,
    Str,
    and_,
    call,
    case,
    coalesce,
    concat,
    eq,
    group,
    gt,
    if_,
    isnotnull,
    isnull,
    match,
    or_,
    plus,
)


class Env:
    def __init__(self) -> None:
        self.values: dict[str, Expr] = {}

    def get(self, name: str) -> Expr:
        return self.values.get(name, NULL)

    def set(self, name: str, expr: Expr) -> None:
        if expr == NULL:
            self.values.pop(name, None)
        else:
            self.values[name] = expr


def literal(value: Any) -> Expr:
    if isinstance(value, bool):
        return Str("true" if value else "false")
    if isinstance(value, int):
        return Num(value)
    return Str(str(value))


def equals(x: Expr, value: Any) -> Expr:
    if isinstance(value, int) and not isinstance(value, bool):
        return eq(call("tonumber", x), Num(value)) if x != NULL else NULL
    return eq(x, literal(value))


def condition(c: Condition, env: Env) -> Expr:
    x = env.get(c.field)
    if c.kind == "present":
        return isnotnull(x) if c.value else isnull(x)
    if c.kind == "equals":
        return equals(x, c.value)
    if c.kind == "in":
        return or_(*(equals(x, v) for v in c.value))
    if c.kind == "contains":  # an element of a multivalue field, or the value alone
        return NULL if x == NULL else isnotnull(call("mvfind", x, Str("^" + re.escape(str(c.value)) + "$")))
    if c.kind == "matches":
        assert c.regex is not None
        return match(x, c.regex.pattern)
    if c.kind == "equals_field":
        return eq(x, env.get(c.value))
    raise NotImplementedError(f"condition {c.kind!r}")


def when(w: When, env: Env) -> Expr:
    return and_(*(condition(c, env) for c in w.conditions))


def regex_groups(pattern: re.Pattern[str]) -> list[tuple[str, int]]:
    """The named groups of a definition regex with their numbers (definitions have no unnamed ones)."""
    return sorted(((name, number) for name, number in pattern.groupindex.items()), key=lambda g: g[1])


def run_steps(steps: tuple[Step, ...], env: Env) -> None:
    for step in steps:
        cond = when(step.when, env)
        if step.set:
            for name, value in step.set.items():
                env.set(name, if_(cond, literal(value), env.get(name)))
        elif step.regex is not None and step.regex_field is not None:
            subject = env.get(step.regex_field)
            for name, number in regex_groups(step.regex):  # a group that takes no text changes nothing
                value = group(subject, step.regex.pattern, number)
                env.set(name, coalesce(if_(cond, value, NULL), env.get(name)))
        elif step.join is not None:
            name, separator, into = step.join
            subject, old = env.get(name), env.get(into)
            if subject != NULL:  # a list joined, or a string as it is; an empty result changes nothing
                joined = call("nullif", call("mvjoin", subject, Str(separator)), Str(""))
                env.set(into, if_(and_(cond, isnotnull(subject)), coalesce(joined, old), old))
        elif step.strip is not None:
            name, prefix_field, separator, into = step.strip
            subject, prefix = env.get(name), env.get(prefix_field)
            if subject == NULL or prefix == NULL:
                continue
            head = plus(call("len", prefix), Num(len(separator)))
            starts = eq(call("substr", subject, Num(1), head), concat(prefix, Str(separator)))
            rest = call("substr", subject, plus(head, Num(1)))
            env.set(into, if_(and_(cond, starts, gt(call("len", subject), head)), rest, env.get(into)))
        else:
            touched = sorted({name for _w, values in step.first for name in values})
            branches = [(when(w, env), values) for w, values in step.first]
            for name in touched:
                old = env.get(name)
                env.set(name, if_(cond, case([(c, literal(v[name]) if name in v else old) for c, v in branches], old), old))
