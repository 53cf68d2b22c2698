"""The regex dialect of parser definitions: the common subset of the engines our content runs in.

Python `re` (the `parse` command), RE2 (DuckDB), PCRE2 (Splunk) and Oniguruma (Elasticsearch grok)
share no spelling of named groups: definitions write `(?P<name>...)`, which Python, RE2 and PCRE2
accept, and `for_engine("oniguruma", ...)` spells it `(?<name>...)`. Everything else must mean the
same in all four, so `lint` refuses what does not:

- unnamed capturing groups (Oniguruma stops capturing them once a named group exists): use `(?:...)`;
- look-around, atomic groups, back-references, inline flags, possessive quantifiers (not in RE2);
- escapes other than of punctuation, `\\t \\n \\r` and `\\xHH`;
- class shorthands `\\d \\w \\s \\b ...` (ASCII in RE2 and PCRE2, Unicode in Python and Oniguruma):
  spell the class out, `[0-9]`, `[ \\t]`;
- `[` unescaped inside a class (a nested class in Oniguruma), `&&` in a class, POSIX `[:alpha:]`,
  `{,n}`.

`%{NAME}` refers to a named sub-pattern of the same definition (as in grok) and is expanded first.
"""

from __future__ import annotations

import re

ENGINES = ("python", "re2", "pcre2", "oniguruma")

_REF = re.compile(r"%\{([A-Z][A-Z0-9_]*)\}")
_NAMED = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")
_ALLOWED_ESCAPES = set("[](){}.*+?|\\/^$-tnr\"'#&~ ,:;=!<>@%`")


class RegexDialectError(ValueError):
    pass


def expand(pattern: str, definitions: dict[str, str], _depth: int = 0) -> str:
    """Replace `%{NAME}` with the named sub-pattern, recursively."""
    if _depth > 10:
        raise RegexDialectError("sub-patterns nest more than 10 deep (a cycle?)")

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in definitions:
            raise RegexDialectError(f"unknown sub-pattern %{{{name}}}")
        return expand(definitions[name], definitions, _depth + 1)

    return _REF.sub(sub, pattern)


def group_names(pattern: str) -> list[str]:
    """Named groups in order of their opening parenthesis (their group numbers, 1-based)."""
    return _NAMED.findall(pattern)


def lint(pattern: str) -> list[str]:
    """Problems that take `pattern` outside the engines' common subset (empty when none)."""
    problems: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    class_start = -1
    names: set[str] = set()
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                problems.append("trailing backslash")
                break
            e = pattern[i + 1]
            if e == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", pattern[i + 2:i + 4]):
                i += 4
                continue
            if e not in _ALLOWED_ESCAPES:
                problems.append(f"escape \\{e} at {i} is not in the common subset (spell the characters out)")
            i += 2
            continue
        if in_class:
            if c == "]" and i > class_start:
                in_class = False
            elif c == "[":
                if pattern.startswith("[:", i):
                    problems.append(f"POSIX class at {i} is not in the common subset")
                else:
                    problems.append(f"unescaped '[' inside a class at {i} (write \\[)")
            elif c == "&" and pattern.startswith("&&", i):
                problems.append(f"'&&' inside a class at {i} (class intersection in Oniguruma)")
            i += 1
            continue
        if c == "[":
            in_class = True
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                problems.append(f"']' first in a class at {i} (write \\])")
            class_start = j
            i = j
            continue
        if c == "(":
            if pattern.startswith("(?:", i):
                i += 3
                continue
            m = _NAMED.match(pattern, i)
            if m:
                if m.group(1) in names:
                    problems.append(f"group name {m.group(1)!r} used twice")
                names.add(m.group(1))
                i = m.end()
                continue
            if pattern.startswith("(?", i):
                problems.append(f"group syntax {pattern[i:i + 4]!r} at {i} is not in the common subset")
            else:
                problems.append(f"unnamed capturing group at {i} (use (?:...) or (?P<name>...))")
            i += 1
            continue
        if c in "*+?}" and i + 1 < n and pattern[i + 1] == "+":
            problems.append(f"possessive quantifier at {i} is not in RE2")
        if c == "{" and pattern.startswith("{,", i):
            problems.append(f"'{{,n}}' at {i} means different things in different engines")
        i += 1
    if in_class:
        problems.append("unterminated character class")
    return problems


def for_engine(pattern: str, engine: str) -> str:
    """`pattern` spelled for `engine` (one of ENGINES)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown regex engine {engine!r}")
    if engine == "oniguruma":
        return _NAMED.sub(lambda m: f"(?<{m.group(1)}>", pattern)
    return pattern
