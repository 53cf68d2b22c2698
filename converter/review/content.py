"""The review's own content (review.yml): the lists of execs, secrets-related and destructive
operations, and the performer checks, as Sigma detections compiled to DuckDB conditions over the
events table by the local pipeline, the same way the rules are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from ..errors import ContentError
from ..fields import FieldDictionary
from ..local.duckdb_backend import DuckDBBackend
from ..local.rules import RuleSet
from ..pipelines import pipeline
from ..tuning import Tuning
from ..yamlpos import LineMap, load_yaml

REVIEW_FILE = Path(__file__).resolve().parent / "review.yml"


@dataclass(frozen=True)
class Matcher:
    """One way an event gets into a list: a DuckDB condition and the label shown for it."""

    label: str
    condition: str


@dataclass(frozen=True)
class OperationList:
    id: str
    title: str
    description: str
    matchers: tuple[Matcher, ...]


@dataclass(frozen=True)
class PerformerChecks:
    allowlisted: str  # DuckDB condition: the performer is in kamal_deployers
    allowlisted_label: str
    fallback: str  # DuckDB condition: the performer is a fallback account
    fallback_label: str


@dataclass(frozen=True)
class ReviewContent:
    lists: tuple[OperationList, ...]
    performers: PerformerChecks

    def list(self, list_id: str) -> OperationList:
        return next(item for item in self.lists if item.id == list_id)


class _Compiler:
    def __init__(self, dictionary: FieldDictionary, tuning: Tuning, path: Path, lines: LineMap) -> None:
        self.dictionary = dictionary
        self.backend = DuckDBBackend(processing_pipeline=pipeline("local", dictionary, tuning),
                                     field_types={f.name: f.type for f in dictionary})
        self.path = path
        self.lines = lines

    def condition(self, title: str, logsource: Any, detection: Any, where: tuple[str | int, ...]) -> str:
        if not isinstance(logsource, dict) or not isinstance(detection, dict):
            raise ContentError(self.path, self.lines.line_of(where), "a detection needs `logsource` and `detection` mappings")
        try:
            rule = SigmaRule.from_dict({"title": title, "logsource": logsource, "detection": detection})
            [condition] = self.backend.convert_rule(rule)
        except (SigmaError, NotImplementedError, ValueError) as exc:
            raise ContentError(self.path, self.lines.line_of(where), f"{title}: {exc}") from None
        return f"coalesce(({condition}), FALSE)"


def _text(value: Any) -> str:
    return " ".join(str(value).split())


def load_review_content(dictionary: FieldDictionary, tuning: Tuning, ruleset: RuleSet,
                        path: Path = REVIEW_FILE) -> ReviewContent:
    """Read and compile review.yml; `ruleset` gives the conditions of the rules a list names."""
    data, lines = load_yaml(path)
    compiler = _Compiler(dictionary, tuning, path, lines)
    by_stem = {rule.path.stem: rule for rule in ruleset.rules}
    try:
        lists = []
        for list_id, raw in data["lists"].items():
            matchers: list[Matcher] = []
            for n, item in enumerate(raw.get("detections", [])):
                where = ("lists", list_id, "detections", n)
                label = _text(item["label"])
                matchers.append(Matcher(label, compiler.condition(f"{raw['title']} ({label})", item["logsource"], item["detection"], where)))
            for n, stem in enumerate(raw.get("rules", [])):
                rule = by_stem.get(stem)
                if rule is None or not rule.condition:
                    why = "no such rule under the rules folder" if rule is None else f"the rule is not run ({rule.refused})"
                    raise ContentError(path, lines.line_of(("lists", list_id, "rules", n)), f"{stem}: {why}")
                matchers.append(Matcher(f"rule: {rule.title}", f"coalesce(({rule.condition}), FALSE)"))
            lists.append(OperationList(list_id, _text(raw["title"]), _text(raw["description"]), tuple(matchers)))
        checks = data["performers"]
        conditions = {}
        for name in ("allowlisted", "fallback"):
            parts = [compiler.condition(name, logsource, checks[name]["detection"], ("performers", name))
                     for logsource in checks["logsources"]]
            conditions[name] = "(" + " OR ".join(parts) + ")"
        performers = PerformerChecks(conditions["allowlisted"], _text(checks["allowlisted"]["description"]),
                                     conditions["fallback"], _text(checks["fallback"]["description"]))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ContentError(path, None, f"not a review definition: {type(exc).__name__}: {exc}") from None
    return ReviewContent(tuple(lists), performers)
