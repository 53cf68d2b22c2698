"""Splunk eval expressions as data: built by the TA generator, rendered into props.conf `EVAL-`
settings, and evaluated by the tests (tests/splunk_emulation.py) to check them against our parser.

Only what the generator needs: field references, string and number literals, `null()`/`true()`,
function calls and the binary operators `==`, `!=`, `>`, `+`, `-`, `AND`, `OR`, `.` (concatenation). Regexes
are PCRE, written into eval string literals with backslashes and double quotes escaped (SPL removes
one backslash of `\\\\`, and keeps a backslash before any other character).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class Expr:
    """A Splunk eval expression."""

    def render(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Fld(Expr):
    name: str

    def render(self) -> str:
        return "'" + self.name.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Str(Expr):
    value: str

    def render(self) -> str:
        return string_literal(self.value)


@dataclass(frozen=True)
class Num(Expr):
    value: int

    def render(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class Call(Expr):
    fn: str
    args: tuple[Expr, ...] = ()

    def render(self) -> str:
        return f"{self.fn}({', '.join(a.render() for a in self.args)})"


@dataclass(frozen=True)
class Bin(Expr):
    op: str  # == != > + - AND OR .
    left: Expr
    right: Expr

    def render(self) -> str:
        return f"({self.left.render()} {self.op} {self.right.render()})"


@dataclass(frozen=True)
class Not(Expr):
    operand: Expr

    def render(self) -> str:
        return f"NOT ({self.operand.render()})"


NULL = Call("null")
TRUE = Call("true")


def string_literal(value: str) -> str:
    """`value` as an SPL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)


def unescape_literal(literal: str) -> str:
    """What SPL makes of a string literal: `\\\\` and `\\"` lose their backslash, other escapes keep it."""
    m = _LITERAL.fullmatch(literal)
    if m is None:
        raise ValueError(f"not an SPL string literal: {literal!r}")
    return re.sub(r"\\([\\\"])", r"\1", m.group(1))


# -- constructors that keep the generated expressions small -----------------------------------------

def call(fn: str, *args: Expr) -> Expr:
    return Call(fn, tuple(args))


def not_(x: Expr) -> Expr:
    if x == TRUE:
        return Call("false")
    return NULL if x == NULL else Not(x)


def ne(a: Expr, b: Expr) -> Expr:
    return NULL if NULL in (a, b) else Bin("!=", a, b)


def isnull(x: Expr) -> Expr:
    return TRUE if x == NULL else Call("isnull", (x,))


def isnotnull(x: Expr) -> Expr:
    return NULL if x == NULL else Call("isnotnull", (x,))


def eq(a: Expr, b: Expr) -> Expr:
    return NULL if NULL in (a, b) else Bin("==", a, b)


def and_(*xs: Expr) -> Expr:
    items = [x for x in xs if x != TRUE]
    if NULL in items:
        return NULL
    if not items:
        return TRUE
    out = items[0]
    for x in items[1:]:
        out = Bin("AND", out, x)
    return out


def or_(*xs: Expr) -> Expr:
    items = [x for x in xs if x != NULL]
    if TRUE in items:
        return TRUE
    if not items:
        return NULL
    out = items[0]
    for x in items[1:]:
        out = Bin("OR", out, x)
    return out


def if_(cond: Expr, then: Expr, other: Expr) -> Expr:
    if cond == TRUE or then == other:
        return then
    if cond == NULL:
        return other
    return Call("if", (cond, then, other))


def case(pairs: list[tuple[Expr, Expr]], default: Expr = NULL) -> Expr:
    """`case(c1, v1, ..., true(), default)`; conditions that can never hold are dropped, and a
    condition that always holds ends it."""
    kept: list[tuple[Expr, Expr]] = []
    for cond, value in pairs:
        if cond == NULL:
            continue
        if cond == TRUE:
            default = value
            break
        kept.append((cond, value))
    while kept and kept[-1][1] == default:  # a last branch that gives the default anyway
        kept.pop()
    if not kept:
        return default
    if len(kept) == 1:
        return if_(kept[0][0], kept[0][1], default)
    args: list[Expr] = [x for pair in kept for x in pair]
    if default != NULL:
        args += [TRUE, default]
    return Call("case", tuple(args))


def coalesce(*xs: Expr) -> Expr:
    items: list[Expr] = []
    flat = [a for x in xs for a in (x.args if isinstance(x, Call) and x.fn == "coalesce" else (x,))]
    for x in flat:
        if x == NULL or x in items:
            continue
        items.append(x)
        if isinstance(x, (Str, Num)):
            break  # never null: the rest cannot be reached
    if not items:
        return NULL
    return items[0] if len(items) == 1 else Call("coalesce", tuple(items))


def match(subject: Expr, regex: str) -> Expr:
    return NULL if subject == NULL else Call("match", (subject, Str(regex)))


def nonempty(x: Expr) -> Expr:
    """`x`, null when it is the empty string (a regex group that took no text)."""
    return NULL if x == NULL else Call("nullif", (x, Str("")))


def group(subject: Expr, regex: str, number: int) -> Expr:
    """Group `number` of the first match of `regex` in `subject` (null when it does not match or
    the group takes no text). `(?s)` lets the surrounding `.*` cross line feeds."""
    if subject == NULL:
        return NULL
    if not 0 < number < 10:
        raise ValueError("Splunk's replace() refers to groups 1 to 9")
    whole = f"(?s)^.*?(?:{regex}).*$"
    return if_(match(subject, regex), nonempty(Call("replace", (subject, Str(whole), Str(f"\\{number}")))), NULL)


def plus(x: Expr, y: Expr) -> Expr:
    return Bin("+", x, y)


def minus(x: Expr, y: Expr) -> Expr:
    return Bin("-", x, y)


def gt(x: Expr, y: Expr) -> Expr:
    return NULL if NULL in (x, y) else Bin(">", x, y)


def concat(x: Expr, y: Expr) -> Expr:
    return Bin(".", x, y)


def whole_group(subject: Expr, anchored: str, number: int) -> Expr:
    """Group `number` of `anchored`, a regex that matches all of `subject` (checked before)."""
    if not 0 < number < 10:
        raise ValueError("Splunk's replace() refers to groups 1 to 9")
    return nonempty(Call("replace", (subject, Str(anchored), Str(f"\\{number}"))))


def pcre(pattern: str) -> str:
    """A definition regex as the TA writes it: characters outside printable ASCII as `\\x{...}`
    (a .conf value is one line of text), named groups in PCRE's `(?<name>...)` spelling."""
    out = "".join(c if " " <= c <= "~" else f"\\x{{{ord(c):x}}}" for c in pattern)
    return out.replace("(?P<", "(?<")
