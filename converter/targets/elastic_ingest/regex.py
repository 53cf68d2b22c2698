"""Parser-definition regexes spelled for the engines of an ingest pipeline.

Grok runs Oniguruma (Joni): named groups are `(?<name>...)`, and the group name is the field the
capture goes to, so names are rewritten to scratch paths. Python's `^` and `$` (the parser's
meaning) are `\\A` and `\\Z` in Oniguruma, whose `^`/`$` are line anchors. Several grok patterns are
combined by Elasticsearch into one alternation, so the leftmost match wins, not the first pattern:
`ordered` makes every pattern match from the start, which restores the parser's "first pattern
that matches" order.

gsub runs java.util.regex: named groups are `(?<name>...)` too, and `${name}` in the replacement."""

from __future__ import annotations

from collections.abc import Callable

from ...regex_dialect import for_engine


def rewrite(pattern: str, on_group: Callable[[str], str] | None, anchors: dict[str, str]) -> str:
    """Walk `pattern` outside escapes and classes: rename `(?<name>` groups and replace anchors."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            out.append(c)
            if c == "]":
                in_class = False
            i += 1
            continue
        if c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            out.append(pattern[i:j])
            in_class = True
            i = j
            continue
        if on_group is not None and pattern.startswith("(?<", i) and i + 3 < n and pattern[i + 3] not in "=!":
            end = pattern.index(">", i)
            out.append(f"(?<{on_group(pattern[i + 3:end])}>")
            i = end + 1
            continue
        out.append(anchors.get(c, c))
        i += 1
    return "".join(out)


def grok_regex(pattern: str, rename: Callable[[str], str] | None = None) -> str:
    """A parser regex (named groups as `(?P<name>`) for grok: Oniguruma spelling, Python anchors,
    each named group renamed to the field it fills (`rename`), or made non-capturing (None)."""
    spelled = for_engine(pattern, "oniguruma")
    if rename is None:
        spelled = rewrite(spelled, lambda name: "\0", {})
        spelled = spelled.replace("(?<\0>", "(?:")
        return rewrite(spelled, None, {"^": "\\A", "$": "\\Z"})
    return rewrite(spelled, rename, {"^": "\\A", "$": "\\Z"})


def ordered(patterns: list[str]) -> list[str]:
    """Grok patterns whose combined alternation picks the first pattern that matches anywhere."""
    if len(patterns) < 2:
        return patterns
    return [p if p.startswith("\\A") else "\\A(?:.|\\n)*?(?:" + p + ")" for p in patterns]


def java_regex(pattern: str) -> str:
    """A parser regex for java.util.regex (gsub): `(?P<name>` is `(?<name>`."""
    return for_engine(pattern, "oniguruma")


def quote_anchored(pattern: str) -> str:
    """`pattern` with each `^` also accepting the start of a quoted string (after `"` or `'`): a
    command or value is often quoted inside the text a rule reads (`Executed cmd '--password x'`,
    `"query":"token=x"`), where the parser's rule sees the value alone."""
    return rewrite(pattern, None, {"^": "(?:^|(?<=[\"']))"})
