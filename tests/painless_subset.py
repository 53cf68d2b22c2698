"""An interpreter of the small Painless subset the generated ingest pipelines use in `if`
conditions and one-statement scripts (converter/targets/elastic_ingest/painless.py builds them):
`ctx` field access (`.`, `?.`, `.get(...)`), string/number/boolean/null literals, list literals,
`==`, `!=`, `<`, `>`, `<=`, `>=`, `&&`, `||`, `!`, `+`, `-`, `instanceof`, and the String and List
methods startsWith, endsWith, contains, length, size, substring, get, trim. Anything else is a
syntax error here, so a pipeline that strays outside the subset fails the tests.

This is our reading of Painless semantics, not Elasticsearch's Painless: the tests say so."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

_TOKEN = re.compile(r"""\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>[0-9]+L?)|(?P<op>\?\.|==|!=|&&|\|\||<=|>=|[.()\[\],!+\-<>=;])|(?P<id>[A-Za-z_@][A-Za-z0-9_]*))""")
TYPES = {"Map": dict, "List": list, "String": str, "Boolean": bool}


class PainlessError(Exception):
    """A runtime error the script would raise in Elasticsearch (a null dereference, a bad call)."""


class PainlessSyntaxError(ValueError):
    pass


@cache
def _tokens(source: str) -> tuple[tuple[str, Any], ...]:
    return tuple(tokenize(source))


def tokenize(source: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    source = source.rstrip()
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if not m or m.end() == pos:
            raise PainlessSyntaxError(f"unexpected {source[pos:pos + 20]!r}")
        pos = m.end()
        if m.group("str") is not None:
            tokens.append(("lit", re.sub(r"\\(.)", r"\1", m.group("str")[1:-1])))
        elif m.group("num") is not None:
            tokens.append(("lit", int(m.group("num").rstrip("L"))))
        elif m.group("op") is not None:
            tokens.append(("op", m.group("op")))
        else:
            word = m.group("id")
            tokens.append(("lit", {"true": True, "false": False, "null": None}[word]) if word in ("true", "false", "null")
                          else ("kw", word) if word == "instanceof" else ("id", word))
    return tokens


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Parser:
    """Recursive descent; evaluates as it parses (with short-circuit by parsing without evaluating)."""

    def __init__(self, tokens: list[tuple[str, Any]], ctx: dict[str, Any]) -> None:
        self.tokens, self.i, self.ctx = tokens, 0, ctx

    def peek(self, value: Any = None) -> bool:
        return self.i < len(self.tokens) and (value is None or self.tokens[self.i][1] == value) and self.tokens[self.i][0] != "lit"

    def take(self, value: Any = None) -> tuple[str, Any]:
        if self.i >= len(self.tokens):
            raise PainlessSyntaxError("unexpected end")
        token = self.tokens[self.i]
        if value is not None and (token[1] != value or token[0] == "lit"):
            raise PainlessSyntaxError(f"expected {value!r}, got {token[1]!r}")
        self.i += 1
        return token

    def expr(self, run: bool) -> Any:
        left = self.conj(run)
        while self.peek("||"):
            self.take()
            right = self.conj(run and not left)
            left = bool(left) or bool(right) if run else None
        return left

    def conj(self, run: bool) -> Any:
        left = self.equality(run)
        while self.peek("&&"):
            self.take()
            right = self.equality(run and bool(left))
            left = bool(left) and bool(right) if run else None
        return left

    def equality(self, run: bool) -> Any:
        left = self.relation(run)
        while self.peek("==") or self.peek("!="):
            op = self.take()[1]
            right = self.relation(run)
            if run:
                left = _eq(left, right) if op == "==" else not _eq(left, right)
        return left

    def relation(self, run: bool) -> Any:
        left = self.additive(run)
        while True:
            if self.i < len(self.tokens) and self.tokens[self.i] == ("kw", "instanceof"):
                self.take()
                kind = self.take()[1]
                if kind not in TYPES:
                    raise PainlessSyntaxError(f"instanceof {kind}")
                if run:
                    left = isinstance(left, TYPES[kind]) and not (kind != "Boolean" and isinstance(left, bool))
            elif any(self.peek(op) for op in ("<", ">", "<=", ">=")):
                op = self.take()[1]
                right = self.additive(run)
                if run:
                    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right)):
                        raise PainlessError(f"cannot compare {left!r} {op} {right!r}")
                    left = {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]
            else:
                return left

    def additive(self, run: bool) -> Any:
        left = self.unary(run)
        while self.peek("+") or self.peek("-"):
            op = self.take()[1]
            right = self.unary(run)
            if run:
                if op == "+" and (isinstance(left, str) or isinstance(right, str)):
                    left = _text(left) + _text(right)
                elif all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right)):
                    left = left + right if op == "+" else left - right
                else:
                    raise PainlessError(f"cannot apply {op} to {left!r} and {right!r}")
        return left

    def unary(self, run: bool) -> Any:
        if self.peek("!"):
            self.take()
            value = self.unary(run)
            if run and not isinstance(value, bool):
                raise PainlessError(f"! of {value!r}")
            return (not value) if run else None
        return self.postfix(run)

    def postfix(self, run: bool) -> Any:
        value = self.primary(run)
        while self.peek(".") or self.peek("?."):
            safe = self.take()[1] == "?."
            name = self.take()[1]
            args = None
            if self.peek("("):
                self.take()
                args = []
                while not self.peek(")"):
                    args.append(self.expr(run))
                    if self.peek(","):
                        self.take()
                self.take(")")
            if not run:
                continue
            if value is None:
                if safe:
                    continue
                raise PainlessError(f"null pointer: .{name}")
            value = self.call(value, name, args) if args is not None else self.field(value, name)
        return value

    @staticmethod
    def field(value: Any, name: str) -> Any:
        if isinstance(value, dict):
            return value.get(name)
        raise PainlessError(f"no field {name} on {type(value).__name__}")

    @staticmethod
    def call(value: Any, name: str, args: list[Any]) -> Any:
        if isinstance(value, str) and not isinstance(value, bool):
            if name in ("startsWith", "endsWith", "contains") and len(args) == 1 and isinstance(args[0], str):
                return {"startsWith": value.startswith, "endsWith": value.endswith, "contains": value.__contains__}[name](args[0])
            if name == "length" and not args:
                return len(value.encode("utf-16-le")) // 2
            if name == "trim" and not args:
                return value.strip("".join(chr(c) for c in range(33)))
            if name == "substring" and 1 <= len(args) <= 2:
                units = value.encode("utf-16-le")
                start, end = args[0], args[1] if len(args) == 2 else len(units) // 2
                if not 0 <= start <= end <= len(units) // 2:
                    raise PainlessError("substring out of range")
                return units[2 * start:2 * end].decode("utf-16-le")
        if isinstance(value, list):
            if name == "size" and not args:
                return len(value)
            if name == "contains" and len(args) == 1:
                return any(_eq(v, args[0]) for v in value)
            if name == "get" and len(args) == 1 and isinstance(args[0], int):
                if not 0 <= args[0] < len(value):
                    raise PainlessError("index out of bounds")
                return value[args[0]]
        if isinstance(value, dict) and name == "get" and len(args) == 1:
            return value.get(args[0])
        raise PainlessError(f"no method {name}/{len(args)} on {type(value).__name__}")

    def primary(self, run: bool) -> Any:
        kind, value = self.take()
        if kind == "lit":
            return value
        if value == "(":
            inner = self.expr(run)
            self.take(")")
            return inner
        if value == "[":
            items = []
            while not self.peek("]"):
                items.append(self.expr(run))
                if self.peek(","):
                    self.take()
            self.take("]")
            return items
        if value == "ctx":
            return self.ctx
        raise PainlessSyntaxError(f"unexpected {value!r}")


def evaluate(source: str, ctx: dict[str, Any]) -> Any:
    parser = _Parser(list(_tokens(source)), ctx)
    value = parser.expr(True)
    if parser.i != len(parser.tokens):
        raise PainlessSyntaxError(f"trailing {parser.tokens[parser.i][1]!r} in {source!r}")
    return value


def check_syntax(source: str, *, statement: bool = False) -> None:
    """Raises PainlessSyntaxError when `source` is outside the subset (without running it)."""
    tokens = tokenize(source)
    if statement:
        split = next((i for i, t in enumerate(tokens) if t == ("op", "=")), None)
        if split is None:
            raise PainlessSyntaxError("a script must be one assignment `ctx.<path> = <expression>`")
        _target(tokens[:split])
        tokens = tokens[split + 1:]
    parser = _Parser(tokens, {})
    parser.expr(False)
    if parser.i != len(tokens):
        raise PainlessSyntaxError(f"trailing {tokens[parser.i][1]!r}")


def _target(tokens: list[tuple[str, Any]]) -> list[str]:
    if not tokens or tokens[0] != ("id", "ctx") or len(tokens) % 2 != 1:
        raise PainlessSyntaxError("an assignment target is ctx.<name>.<name>...")
    names = []
    for dot, name in zip(tokens[1::2], tokens[2::2], strict=True):
        if dot != ("op", ".") or name[0] != "id":
            raise PainlessSyntaxError("an assignment target is ctx.<name>.<name>...")
        names.append(name[1])
    return names


def execute(source: str, ctx: dict[str, Any]) -> None:
    """One assignment statement: `ctx.a.b = <expression>` (the parent object must exist)."""
    tokens = tokenize(source.rstrip().rstrip(";"))
    split = next(i for i, t in enumerate(tokens) if t == ("op", "="))
    names = _target(tokens[:split])
    parser = _Parser(tokens[split + 1:], ctx)
    value = parser.expr(True)
    node: Any = ctx
    for name in names[:-1]:
        node = node.get(name) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise PainlessError(f"null pointer assigning {'.'.join(names)}")
    node[names[-1]] = value
