"""Sigma string values as the Elastic query languages need them: wildcard patterns with their literal
characters escaped, and string literals of EQL and ES|QL.

Both EQL's `:`/`like~` and ES|QL's `LIKE` take Lucene wildcard patterns: `*` and `?` are wildcards
and a backslash makes the next character literal. The pattern then goes into a string literal of
the language, whose own escapes come on top (`\\` for one backslash)."""

from __future__ import annotations

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import SigmaString, SpecialChars

WILDCARDS = {SpecialChars.WILDCARD_MULTI: "*", SpecialChars.WILDCARD_SINGLE: "?"}


def _parts(value: SigmaString) -> list[str | SpecialChars]:
    parts: list[str | SpecialChars] = []
    for part in value.s:
        if isinstance(part, (str, SpecialChars)):
            parts.append(part)
        else:  # a placeholder the pipeline did not expand
            raise SigmaFeatureNotSupportedByBackendError(f"the placeholder %{part.name}% has no value")
    return parts


def plain_text(value: SigmaString) -> str:
    """The literal text of `value`, its wildcards left out (for deciding about case)."""
    return "".join(p for p in _parts(value) if isinstance(p, str))


def has_wildcards(value: SigmaString) -> bool:
    return any(isinstance(p, SpecialChars) for p in _parts(value))


def has_cased(text: str) -> bool:
    """Whether `text` has a letter that has case (so a case-sensitive match can differ from Sigma's)."""
    return any(c.lower() != c.upper() for c in text)


def has_upper(text: str) -> bool:
    return text != text.lower()


def wildcard_pattern(value: SigmaString, lower: bool = False) -> str:
    """`value` as a Lucene wildcard pattern (`*`, `?`; `\\` escapes `*`, `?` and itself), lowercased
    when `lower`."""
    out = []
    for part in _parts(value):
        if isinstance(part, SpecialChars):
            if part not in WILDCARDS:
                raise SigmaFeatureNotSupportedByBackendError(f"the special character {part} has no wildcard form")
            out.append(WILDCARDS[part])
        else:
            text = part.lower() if lower else part
            out.append("".join("\\" + c if c in "*?\\" else c for c in text))
    return "".join(out)


_EQL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def eql_string(text: str) -> str:
    """An EQL string literal (Elasticsearch syntax: `\\n \\r \\t \\\\ \\"` and `\\u{XX}`)."""
    out = []
    for c in text:
        if c in _EQL_ESCAPES:
            out.append(_EQL_ESCAPES[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{{{ord(c):02x}}}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


_ESQL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def esql_string(text: str) -> str:
    """An ES|QL string literal (escapes `\\t \\n \\r \\" \\\\`); other control characters are refused."""
    out = []
    for c in text:
        if c in _ESQL_ESCAPES:
            out.append(_ESQL_ESCAPES[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            raise SigmaFeatureNotSupportedByBackendError(f"ES|QL strings have no escape for the control character U+{ord(c):04X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'
