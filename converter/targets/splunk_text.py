"""Search-time fields of a text log with a frame (the audit log), from its parser definition.

The parser tries each `] ` after the head as the end of the (self-asserted) performer, nearest
first, and takes the first reading whose message it knows and whose tags agree with the file name.
One PCRE regex (`EXTRACT-`) does the first half: the performer is the shortest text followed by
`]`, the tags and a message of the catalogue (a look-ahead over every message regex), else the
shortest text followed by `]` and the tags. The file name comes from `source` (`EXTRACT- ... in
source`). Eval expressions do the rest as the parser does: the action of the first message regex
that matches, its captures, the tags read as destination and role (converter/parsing/audit_tags.py),
the `derive` steps and the performer flags.

Differences, on forged lines only: a reading whose tags disagree with the file name is not skipped
for a later one that agrees (the line is flagged `tag_mismatch` instead, where the parser flags
`brackets`), there is no limit of 16 readings (`split_limit`), and an empty tag (`[]`) counts as none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..fields import FieldDictionary
from ..parsing.definitions import MessageRule, ParserDefinition
from .splunk_eval import (
    NULL,
    Call,
    Expr,
    Fld,
    Num,
    Str,
    and_,
    call,
    case,
    coalesce,
    concat,
    eq,
    gt,
    if_,
    isnotnull,
    isnull,
    match,
    minus,
    nonempty,
    ne,
    not_,
    or_,
    pcre,
    plus,
    whole_group,
)
from .splunk_json import mvappend
from .splunk_steps import Env, literal, run_steps

_NAMED = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")
UNKNOWN = "unknown"  # the role tag of a message no rule knows (the fallback's is `optional`)


@dataclass
class TextFields:
    extracts: dict[str, str] = field(default_factory=dict)  # EXTRACT-<class> values
    env: Env = field(default_factory=Env)


def _rename(pattern: str, names: dict[str, str]) -> str:
    return _NAMED.sub(lambda m: f"(?P<{names[m.group(1)]}>", pattern)


def _unnamed(pattern: str) -> str:
    return _NAMED.sub("(?:", pattern)


def _inner(rule: MessageRule) -> str:
    """A message regex without its anchors and group names: `(?:...)`."""
    assert rule.regex is not None
    pattern = rule.regex.pattern
    assert pattern.startswith("^(?:") and pattern.endswith(")$"), pattern
    return _unnamed(pattern[1:-1])


def _any_of(rules: list[MessageRule]) -> str:
    return "^(?:" + "|".join(_inner(r) for r in rules) + ")$"


def _classify(message: Expr, rules: tuple[MessageRule, ...], key: str, default: str) -> Expr:
    """The `key` attribute of the first rule whose regex matches (runs of equal values tested at once)."""
    pairs: list[tuple[Expr, Expr]] = []
    run: list[MessageRule] = []
    for rule in rules:
        if run and getattr(run[0], key) != getattr(rule, key):
            pairs.append((match(message, pcre(_any_of(run))), Str(getattr(run[0], key))))
            run = []
        run.append(rule)
    if run:
        pairs.append((match(message, pcre(_any_of(run))), Str(getattr(run[0], key))))
    return case(pairs, Str(default))


def _message_field(message: Expr, rules: tuple[MessageRule, ...], name: str) -> Expr:
    """`name` as the first matching rule gives it: its capture, or its `set` value, or nothing.

    Captures only: one `replace` with PCRE's branch reset `(?|...)`, whose alternatives are the
    rules in order, each with `name` as its one capturing group (rules without it capture nothing),
    then `.*` for a message no rule knows; group 1 is the field, empty when the rule has none."""
    if not any(name in r.set for r in rules):
        last = max(i for i, r in enumerate(rules) if r.regex is not None and name in r.regex.groupindex)
        alternatives = [_NAMED.sub(lambda m: "(" if m.group(1) == name else "(?:", _inner_named(r)) for r in rules[:last + 1]]
        regex = "^(?|" + "|".join(alternatives) + "|.*)$"
        return nonempty(Call("replace", (message, Str(pcre(regex)), Str("\\1"))))
    pairs: list[tuple[Expr, Expr]] = []
    others: list[MessageRule] = []
    for rule in rules:
        assert rule.regex is not None
        if name not in rule.regex.groupindex and name not in rule.set:
            others.append(rule)
            continue
        if others:
            pairs.append((match(message, pcre(_any_of(others))), NULL))
            others = []
        value: Expr = literal(rule.set[name]) if name in rule.set else \
            whole_group(message, pcre(rule.regex.pattern), rule.regex.groupindex[name])
        pairs.append((match(message, pcre(rule.regex.pattern)), value))
    return case(pairs)


def _inner_named(rule: MessageRule) -> str:
    assert rule.regex is not None
    return rule.regex.pattern[1:-1]


def text_fields(definition: ParserDefinition, dictionary: FieldDictionary) -> TextFields:
    frame = definition.frame
    assert frame is not None and definition.fallback is not None
    prefix = f"kamal_{definition.log_type}_"
    internal = {name: prefix + name.lstrip("_") for name in
                [*frame.head.groupindex, *frame.tags.groupindex]}
    performer, message_name = dictionary[frame.performer].splunk, dictionary["message"].splunk
    known = "|".join(_inner(r) for r in definition.messages)
    tags = frame.tags.pattern
    out = TextFields()
    out.extracts[f"{prefix}line"] = pcre(
        _rename(frame.head.pattern, internal)
        + f"(?P<{performer}>.*?(?=\\]{_unnamed(tags)}(?:{known})$)|.*?)\\]"
        + _rename(tags, internal) + f"(?P<{message_name}>.*)$")
    stems = []
    for i, rx in enumerate(definition.path_regexes):
        stem = f"{prefix}file_stem{i + 1}"
        out.extracts[f"{prefix}file{i + 1}"] = pcre(_rename(rx.pattern, {"_file_stem": stem})) + " in source"
        stems.append(Fld(stem))

    env = out.env
    message = Fld(message_name)
    matched = isnotnull(message)
    for name, splunk in internal.items():
        env.set(name, Fld(splunk))
    env.set(frame.performer, Fld(performer))
    env.set("message", message)
    env.set("_file_stem", coalesce(*stems))
    rules = definition.messages
    captured = sorted({g for r in rules if r.regex is not None for g in r.regex.groupindex} | {k for r in rules for k in r.set})
    for name in captured:
        env.set(name, _message_field(message, rules, name))
    env.set("action", if_(matched, _classify(message, rules, "action", definition.fallback.action), NULL))
    role_tag = _classify(message, rules, "role_tag", UNKNOWN)
    tag_fields = _resolve(env, definition, role_tag, matched)
    if definition.ts_zone is not None:
        env.set("timestamp_assumed_tz", if_(and_(matched, isnull(env.get(definition.ts_zone))), Str("UTC"), NULL))
    run_steps(definition.derive, env)
    if definition.flags is not None:
        subject_name, into, flags = definition.flags
        subject = if_(matched, coalesce(env.get(subject_name), Str("")), NULL)
        raised = [if_(match(subject, pcre(rx.pattern)), Str(flag), NULL) for flag, rx in flags]
        mismatch = and_(matched, ne(role_tag, Str(UNKNOWN)), not_(tag_fields["consistent"]))
        env.set(into, mvappend(*raised, if_(mismatch, Str("tag_mismatch"), NULL)))
    return out


def _ends_with_dash(stem: Expr, tail: Expr) -> Expr:
    """`stem` ends with `-<tail>`."""
    return eq(call("substr", stem, minus(call("len", stem), call("len", tail))), concat(Str("-"), tail))


def _resolve(env: Env, definition: ParserDefinition, role_tag: Expr, matched: Expr) -> dict[str, Any]:
    """audit_tags.resolve and audit_tags.consistent as expressions: destination, role, service."""
    known = definition.known_destinations
    if any("-" in d for d in known):
        raise NotImplementedError("known destinations with a hyphen")
    tag1, tag2 = env.get("_tag1"), env.get("_tag2")
    zone = env.get(definition.ts_zone) if definition.ts_zone else Str("Z")
    stem = env.get("_file_stem")
    alternatives = "|".join(re.escape(d) for d in known)
    file_dest = if_(match(stem, f"^.+-(?:{alternatives})$"),
                    Call("replace", (stem, Str(f"^.+-({alternatives})$"), Str("\\1"))), NULL)
    zone_less = and_(matched, isnull(zone))
    zoned = and_(matched, isnotnull(zone))
    never, always = eq(role_tag, Str("never")), eq(role_tag, Str("always"))
    ends1 = _ends_with_dash(stem, tag1)
    two = or_(and_(isnotnull(file_dest), eq(tag1, file_dest)), isnotnull(tag2))
    from_known = case([(match(stem, f"-{re.escape(d)}$"), Str(d)) for d in known])
    destination = case([
        (zone_less, from_known),
        (two, tag1),
        (isnotnull(tag1), case([(never, tag1), (always, NULL), (ends1, tag1), (isnotnull(stem), NULL)], tag1)),
    ])
    role = case([
        (zone_less, tag1),
        (two, tag2),
        (isnotnull(tag1), case([(never, NULL), (always, tag1), (ends1, NULL), (isnotnull(stem), tag1)])),
    ])
    stem_len = call("len", stem)
    service = if_(and_(matched, isnotnull(stem)), case([
        (isnotnull(file_dest), call("substr", stem, Num(1), minus(minus(stem_len, call("len", file_dest)), Num(1)))),
        (and_(zoned, isnotnull(tag1), ends1, or_(isnotnull(tag2), ne(role_tag, Str("always"))),
              gt(stem_len, plus(call("len", tag1), Num(1)))),
         call("substr", stem, Num(1), minus(minus(stem_len, call("len", tag1)), Num(1)))),
    ], stem), NULL)
    no_dest = and_(zoned, isnull(file_dest))
    consistent = or_(
        and_(zone_less, or_(and_(isnull(tag1), ne(role_tag, Str("always"))),
                            and_(isnotnull(tag1), isnull(tag2), ne(role_tag, Str("never"))))),
        and_(zoned, isnotnull(file_dest), isnotnull(tag1), eq(tag1, file_dest),
             or_(and_(isnotnull(tag2), ne(role_tag, Str("never"))), and_(isnull(tag2), ne(role_tag, Str("always"))))),
        and_(no_dest, isnotnull(tag2), ne(role_tag, Str("never")), or_(isnull(stem), ends1)),
        and_(no_dest, isnotnull(tag1), isnull(tag2), or_(ne(role_tag, Str("never")), isnull(stem), ends1)),
        and_(no_dest, isnull(tag1), ne(role_tag, Str("always"))),
    )
    env.set("destination", destination)
    env.set("role", role)
    env.set("service", service)
    return {"consistent": consistent}
