"""A Sigma regular expression as a Lucene regular expression, the syntax of Elasticsearch's regexp
query, EQL's `regex` and ES|QL's `RLIKE`.

Sigma's regexes search (they match anywhere in the value) with PCRE-like syntax, case-sensitively
unless flagged `i`; the local engine runs them in RE2. Lucene's match the whole value, have no
`\\b`, lookaround or back-references, and reserve more characters (`# @ & < > ~ "`). So the regex is
parsed (Python's own parser) and written out again: unanchored ends get `.*`; `.` without the `s`
flag excludes a newline; `\\d \\w \\s` become ASCII classes (RE2's); a case-insensitive regex gets
both cases of every letter (`[aA]`), so it needs no case-insensitive operator; every character
that is not a letter, digit or space is escaped. `^` and `$` count only at the ends of the whole
regex and mean the ends of the value (RE2 without `m`). Anything else is refused with the reason.
"""

from __future__ import annotations

import re
import string
import re._constants as sre  # the regex parser's opcodes
import re._parser as sre_parse  # Python's own regex parser
from typing import Any

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import SigmaRegularExpression, SigmaRegularExpressionFlag

NEWLINE = "\n"
_CATEGORIES = {
    sre.CATEGORY_DIGIT: [("0", "9")],
    sre.CATEGORY_WORD: [("0", "9"), ("A", "Z"), ("a", "z"), ("_", "_")],
    sre.CATEGORY_SPACE: [(c, c) for c in " \t\n\f\r"],  # RE2's \s (no \v)
}
_NEGATED = {sre.CATEGORY_NOT_DIGIT: sre.CATEGORY_DIGIT, sre.CATEGORY_NOT_WORD: sre.CATEGORY_WORD,
            sre.CATEGORY_NOT_SPACE: sre.CATEGORY_SPACE}


class LuceneRegexError(SigmaFeatureNotSupportedByBackendError):
    pass


def _refuse(what: str) -> LuceneRegexError:
    return LuceneRegexError(f"the regular expression uses {what}, which Lucene regular expressions lack")


def _char(c: str) -> str:
    return "\\" + c if c in string.punctuation else c


def _fold_ranges(ranges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The ranges plus the other case of every letter in them."""
    out = list(ranges)
    for lo, hi in ranges:
        if ord(hi) - ord(lo) > 0x3000:
            continue  # a huge range: its letters' other cases are mostly inside it already
        for code in range(ord(lo), ord(hi) + 1):
            c = chr(code)
            for other in {c.lower(), c.upper()} - {c}:
                if len(other) == 1:
                    out.append((other, other))
    return out


def _class(ranges: list[tuple[str, str]], negate: bool, fold: bool) -> str:
    if fold:
        ranges = _fold_ranges(ranges)
    seen: set[tuple[str, str]] = set()
    body = []
    for lo, hi in ranges:
        if (lo, hi) in seen:
            continue
        seen.add((lo, hi))
        body.append(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}")
    return "[" + ("^" if negate else "") + "".join(body) + "]"


class _Writer:
    def __init__(self, fold: bool, dotall: bool) -> None:
        self.fold = fold
        self.dotall = dotall

    def seq(self, items: list[tuple[Any, Any]], fold: bool) -> str:
        return "".join(self.item(op, av, fold) for op, av in items)

    def item(self, op: Any, av: Any, fold: bool) -> str:
        if op is sre.LITERAL:
            c = chr(av)
            return _class([(c, c)], False, True) if fold and c.lower() != c.upper() else _char(c)
        if op is sre.NOT_LITERAL:
            c = chr(av)
            return _class([(c, c)], True, fold)
        if op is sre.ANY:
            return "." if self.dotall else _class([(NEWLINE, NEWLINE)], True, False)
        if op is sre.IN:
            return self.charset(av, fold)
        if op is sre.BRANCH:
            return "(" + "|".join(self.seq(list(branch), fold) for branch in av[1]) + ")"
        if op is sre.SUBPATTERN:
            _group, add_flags, del_flags, pattern = av
            if (add_flags | del_flags) & ~re.IGNORECASE:
                raise _refuse("inline flags other than i")
            inner_fold = (fold or bool(add_flags & re.IGNORECASE)) and not del_flags & re.IGNORECASE
            return "(" + self.seq(list(pattern), inner_fold) + ")"
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):  # laziness does not change what matches
            low, high, pattern = av
            items = list(pattern)
            inner = self.seq(items, fold)
            if len(items) != 1 or items[0][0] in (sre.MAX_REPEAT, sre.MIN_REPEAT):
                inner = f"({inner})"
            if (low, high) == (0, sre.MAXREPEAT):
                return inner + "*"
            if (low, high) == (1, sre.MAXREPEAT):
                return inner + "+"
            if (low, high) == (0, 1):
                return inner + "?"
            if high == sre.MAXREPEAT:
                return f"{inner}{{{low},}}"
            return f"{inner}{{{low}}}" if low == high else f"{inner}{{{low},{high}}}"
        if op is sre.AT:
            raise _refuse("an anchor or word boundary that is not at an end of the regex")
        raise _refuse(f"{str(op).lower()}")

    def charset(self, items: list[tuple[Any, Any]], fold: bool) -> str:
        negate = bool(items) and items[0][0] is sre.NEGATE
        ranges: list[tuple[str, str]] = []
        negated_categories = []
        for op, av in items[1:] if negate else items:
            if op is sre.LITERAL:
                ranges.append((chr(av), chr(av)))
            elif op is sre.RANGE:
                ranges.append((chr(av[0]), chr(av[1])))
            elif op is sre.CATEGORY and av in _CATEGORIES:
                ranges.extend(_CATEGORIES[av])
            elif op is sre.CATEGORY and av in _NEGATED:
                negated_categories.append(av)
            else:
                raise _refuse(f"{str(op).lower()} in a character class")
        if negated_categories:  # \D, \W, \S alone (not mixed with anything else in a class)
            if negate or ranges or len(negated_categories) > 1:
                raise _refuse("a negated class shorthand (\\D, \\W, \\S) combined with other characters")
            return _class(_CATEGORIES[_NEGATED[negated_categories[0]]], True, False)
        return _class(ranges, negate, fold)


def lucene_regex(value: SigmaRegularExpression) -> str:
    """The Lucene regular expression that matches exactly the values `value` finds a match in."""
    flags = set(value.flags)
    if SigmaRegularExpressionFlag.MULTILINE in flags:
        raise _refuse("the m (multi-line) flag")
    try:
        parsed = sre_parse.parse(str(value.regexp))
    except re.error as exc:
        raise LuceneRegexError(f"the regular expression does not compile: {exc}") from exc
    global_flags = parsed.state.flags
    if global_flags & re.MULTILINE:
        raise _refuse("the m (multi-line) flag")
    if global_flags & re.VERBOSE:
        raise _refuse("the x (verbose) flag")
    fold = SigmaRegularExpressionFlag.IGNORECASE in flags or bool(global_flags & re.IGNORECASE)
    dotall = SigmaRegularExpressionFlag.DOTALL in flags or bool(global_flags & re.DOTALL)
    items = list(parsed)
    starts = items[:1] in ([(sre.AT, sre.AT_BEGINNING)], [(sre.AT, sre.AT_BEGINNING_STRING)])
    if starts:
        items = items[1:]
    ends = bool(items) and items[-1][0] is sre.AT and items[-1][1] in (sre.AT_END, sre.AT_END_STRING)
    if ends:
        items = items[:-1]
    writer = _Writer(fold, dotall)
    body = writer.seq(items, fold)  # an alternation is always written in parentheses
    return ("" if starts else ".*") + body + ("" if ends else ".*")
