"""Secret values masked before Splunk indexes them: props.conf `SEDCMD-` settings from
parsers/redaction.yml, so that what `kamal-siem parse` masks in its events never reaches a Splunk
index either (the rules run where the data is parsed: heavy forwarder or indexer).

Each rule `before` + `secret` + `after` becomes `s/(before)secret(after)/\\1[REDACTED]\\2/g`, applied
to the whole raw event. For a JSON log the raw text is JSON, so each rule is rewritten to stay inside
one JSON string (a secret never swallows a closing quote and breaks the event) and to read a JSON
array of strings as an argument vector, as the parser does (`"-p","s3cret"`):

- outside a character class, a space is a space or the `","` between two array elements, `.` is one
  character of a JSON string (`\\x` escapes included), and a double quote is the JSON-escaped `\\"`
  (the rule matches inside a string value; a rule with a double quote also keeps its plain form,
  which matches JSON members, `"password": "..."`);
- a negated class also excludes the string's end: `[^ ]` is `(?:[^ "\\\\]|\\\\[^ ])`.
The redaction file's `keys` (a key whose whole value is secret) become one more rule for JSON logs.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import yaml

from ..content import parsers_dir

_JSON_CHAR = r'(?:[^"\\]|\\.)'
_SPACE = r'(?: |",")'


def _tokens(pattern: str) -> list[str]:
    """A regex as escapes, character classes and single characters."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
        elif c == "[":
            j = i + 1
            if j < len(pattern) and pattern[j] == "^":
                j += 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1
            while pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            out.append(pattern[i:j + 1])
            i = j + 1
        elif pattern.startswith("(?:", i):
            out.append("(?:")
            i += 3
        else:
            out.append(c)
            i += 1
    return out


def json_safe(pattern: str, *, escaped_quotes: bool) -> str:
    """`pattern` rewritten to match inside JSON string values (see the module docstring)."""
    out = []
    for token in _tokens(pattern):
        if token.startswith("[^"):
            body = token[2:-1]
            out.append(f'(?:[^{body}"\\\\]|\\\\[^{body}])')
        elif token == " ":
            out.append(_SPACE)
        elif token == ".":
            out.append(_JSON_CHAR)
        elif token == '"' and escaped_quotes:
            out.append('\\\\"')
        else:
            out.append(token)
    return "".join(out)


def sed_escape(regex: str) -> str:
    """A regex inside `s/.../.../`: every `/` not already escaped gets a backslash, in character
    classes too (PCRE reads `\\/` as `/`)."""
    return re.sub(r"(\\.)|/", lambda m: m.group(1) or "\\/", regex)


@cache
def _redaction() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((parsers_dir() / "redaction.yml").read_text(encoding="utf-8"))
    return data


def sedcmds(json_log: bool) -> dict[str, str]:
    """SEDCMD-<class>: value, in the order of the redaction file (Splunk applies them by class name)."""
    data = _redaction()
    replacement = data["replacement"]
    if any(c in replacement for c in "/\\&"):
        raise ValueError("the redaction replacement cannot be written into a sed expression")
    out: dict[str, str] = {}
    for i, rule in enumerate(data["rules"], start=1):
        parts = (rule["before"], rule["secret"], rule["after"])
        variants: list[tuple[str, tuple[str, ...]]] = [("", parts)]
        if json_log:
            variants = [("", tuple(json_safe(p, escaped_quotes=False) for p in parts))]
            if any('"' in p for p in parts):
                variants.append(("_escaped", tuple(json_safe(p, escaped_quotes=True) for p in parts)))
        for suffix, (before, secret, after) in variants:
            regex = sed_escape(f"({before}){secret}({after})")
            out[f"kamal_redact_{i:02d}_{rule['name']}{suffix}"] = f"s/{regex}/\\1{replacement}\\2/g"
    if json_log:
        out[f"kamal_redact_{len(data['rules']) + 1:02d}_secret_keys"] = _keys_rule(data["keys"], replacement)
    return out


def _keys_rule(keys: str, replacement: str) -> str:
    """The `keys` regex (on a lowercased key path, `a/b`) as a rule on JSON members: a member
    whose key ends like a secret key has its string value masked."""
    m = re.fullmatch(r"\(\?:\^\|(\[[^\]]+\])\)(.*)\$", keys)
    if m is None:
        raise ValueError(f"redaction keys {keys!r}: expected (?:^|[separators])...$")
    separators, tail = m.groups()
    regex = f'("(?i:(?:[^"\\\\]*{separators})?{tail})"\\s*:\\s*"){_JSON_CHAR}*(")'
    return f"s/{sed_escape(regex)}/\\1{replacement}\\2/g"
