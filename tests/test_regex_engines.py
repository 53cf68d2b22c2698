"""The regexes of the parser definitions mean the same in Python `re`, RE2, PCRE2 and Oniguruma.

Those are the engines of `kamal-siem parse`, DuckDB, Splunk and Elasticsearch grok. Every regex must
compile in each, and on every subject (all sample lines and the values in them, plus generated
strings) give the same match and the same captures.

Subjects are single lines: `^` and `$` next to a line feed differ between the engines (Oniguruma's
are line anchors, Python's `$` also matches before a final line feed), and parser lines never hold
one. Regexes that may see a multi-line field value consume line feeds explicitly (`(?:.|\n)*`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import onigurumacffi
import pcre2
import pytest
import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converter.parsing.definitions import RegexUse, default_definitions
from converter.parsing.redaction import default_redactor
from converter.regex_dialect import ENGINES, for_engine, group_names, lint

from .conftest import ROOT

Captures = tuple[str | None, ...] | None

REGEXES: list[RegexUse] = [use for d in default_definitions().values() for use in d.regexes] + [
    RegexUse(f"redaction/{use.where}", use.line, use.pattern) for use in default_redactor().regexes]


def _onig_captures(pattern: Any, subject: str, count: int) -> Captures:
    m = pattern.search(subject)
    if m is None:
        return None
    # onigurumacffi has no public way to tell a group that did not take part (begin -1) from an empty one
    return tuple(None if m._begs[i] == -1 else m.group(i) for i in range(1, count + 1))


def compile_for(engine: str, pattern: str) -> Callable[[str], Captures]:
    spelled = for_engine(pattern, engine)
    count = len(group_names(pattern))
    if engine == "oniguruma":
        compiled = onigurumacffi.compile(spelled)
        return lambda s: _onig_captures(compiled, s, count)
    module: Any = {"python": re, "re2": re2, "pcre2": pcre2}[engine]
    compiled = module.compile(spelled)

    def run(subject: str) -> Captures:
        m = compiled.search(subject)
        if m is None:
            return None
        return tuple(m.group(i) for i in range(1, count + 1))

    return run


def _values(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return list(node) + [v for value in node.values() for v in _values(value)]
    if isinstance(node, list):
        return [v for value in node for v in _values(value)]
    return []


def _subjects() -> list[str]:
    subjects: set[str] = set()  # single lines (see the module docstring)
    for path in (ROOT / "tests" / "parsers").rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if path.name.endswith("-expected.json"):
            subjects.update(_values(json.loads(text)))
            continue
        subjects.update(text.splitlines())
        subjects.add(str(path.relative_to(ROOT)))
    return sorted(s for s in subjects if "\n" not in s)


SUBJECTS = _subjects()
COMPILED = {(use.where, use.pattern): {e: compile_for(e, use.pattern) for e in ENGINES} for use in REGEXES}


def test_there_are_regexes_and_subjects() -> None:
    assert len(REGEXES) > 50
    assert len(SUBJECTS) > 200


@pytest.mark.parametrize("use", REGEXES, ids=lambda u: u.where)
def test_regex_is_in_the_common_subset(use: RegexUse) -> None:
    assert lint(use.pattern) == []


@pytest.mark.parametrize("use", REGEXES, ids=lambda u: u.where)
def test_same_captures_in_every_engine_on_the_samples(use: RegexUse) -> None:
    engines = COMPILED[(use.where, use.pattern)]
    matched = 0
    for subject in SUBJECTS:
        results = {engine: run(subject) for engine, run in engines.items()}
        assert len(set(results.values())) == 1, f"{use.where} on {subject!r}: {results}"
        matched += results["python"] is not None
    # a regex that matches nothing in the samples proves nothing: every one must be exercised
    assert matched > 0 or use.where.startswith(("detect/path",)), f"{use.where} matches no sample"


_ALPHABET = st.sampled_from(list("[]() -_:./'\"\\\t\r\x00\x1b09azAZ@|*?+{}^$") + ["٣", "é", "\u00a0", "\u2028", "😀", "ǅ"])
_SINGLE_LINE = st.characters(blacklist_categories=("Cs",), blacklist_characters="\n")


def _mutations() -> st.SearchStrategy[str]:
    base = st.sampled_from([s for s in SUBJECTS if len(s) < 400])
    noise = st.text(_ALPHABET, max_size=6)

    @st.composite
    def mutate(draw: st.DrawFn) -> str:
        subject = draw(base)
        for _ in range(draw(st.integers(0, 3))):
            i = draw(st.integers(0, len(subject)))
            j = draw(st.integers(i, min(len(subject), i + 4)))
            subject = subject[:i] + draw(noise) + subject[j:]
        return subject.replace("\n", " ")

    return mutate()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=st.one_of(_mutations(), st.text(_ALPHABET, max_size=60),
                         st.text(_SINGLE_LINE, max_size=60)))
def test_same_captures_in_every_engine_on_generated_strings(subject: str) -> None:
    for (where, _pattern), engines in COMPILED.items():
        results = {engine: run(subject) for engine, run in engines.items()}
        assert len(set(results.values())) == 1, f"{where} on {subject!r}: {results}"


# --- the lint refuses what the engines really disagree on --------------------------------------------

@pytest.mark.parametrize(("pattern", "subject"), [
    (r"^(?P<n>\d+)$", "٣"),          # Unicode digit: Python and Oniguruma match, RE2 and PCRE2 do not
    (r"^(?P<w>\w+)$", "é"),          # \w is ASCII in RE2 and PCRE2
    (r"^(?P<s>\s)$", "\u00a0"),      # no-break space is \s in Python only
])
def test_lint_refuses_constructs_the_engines_disagree_on(pattern: str, subject: str) -> None:
    assert lint(pattern), f"lint accepted {pattern!r}"
    results = {}
    for engine in ENGINES:
        try:
            results[engine] = compile_for(engine, pattern)(subject)
        except Exception as exc:
            results[engine] = f"error: {type(exc).__name__}"
    assert len(set(results.values())) > 1, results


@pytest.mark.parametrize("pattern", [
    r"(?P<a>x)(y)",          # Oniguruma does not capture unnamed groups next to named ones
    r"(?=x)x", r"(?!x)y", r"(?<=x)y", r"(?>x)", r"(?i)x", r"(?P<a>x)(?P=a)", r"x*+", r"x{,3}",
    r"[[:alpha:]]", r"[a&&b]", r"[^][]", r"\bx", r"\Ax",
])
def test_lint_refuses_outside_the_subset(pattern: str) -> None:
    assert lint(pattern)


def test_named_groups_are_spelled_for_oniguruma() -> None:
    assert for_engine("(?P<a>x)(?:y)", "oniguruma") == "(?<a>x)(?:y)"
    assert for_engine("(?P<a>x)", "pcre2") == "(?P<a>x)"
    with pytest.raises(re.error):
        re.compile(for_engine("(?P<a>x)", "oniguruma"))


def test_definitions_regex_list_covers_every_message() -> None:
    audit = default_definitions()["audit"]
    assert len([u for u in audit.regexes if u.where.startswith("messages/")]) == len(audit.messages)
