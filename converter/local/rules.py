"""Load the Sigma rules and compile each to a DuckDB condition over the events table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from ..content import content_root
from ..errors import ContentError
from ..fields import FieldDictionary
from ..pipelines import pipeline
from ..tuning import Tuning, load_tuning
from .duckdb_backend import DuckDBBackend

LEVELS = ("informational", "low", "medium", "high", "critical")


@dataclass
class CompiledRule:
    path: Path
    rule: SigmaRule | SigmaCorrelationRule
    log_types: tuple[str, ...] = ()
    condition: str | None = None  # the DuckDB boolean expression (single-event rules)
    refused: str | None = None  # why this engine cannot run it
    alerts: bool = True  # False for a rule only a correlation uses (Sigma `generate: false`, the default)

    @property
    def id(self) -> str:
        return str(self.rule.id) if self.rule.id else ""

    @property
    def title(self) -> str:
        return self.rule.title

    @property
    def level(self) -> str:
        return self.rule.level.name.lower() if self.rule.level else "medium"

    @property
    def tags(self) -> list[str]:
        return [str(t) for t in self.rule.tags]

    @property
    def name(self) -> str | None:
        return self.rule.name


@dataclass
class RuleSet:
    rules: list[CompiledRule] = field(default_factory=list)
    errors: list[ContentError] = field(default_factory=list)

    def singles(self) -> list[CompiledRule]:
        """The single-event rules that raise alerts of their own."""
        return [r for r in self.rules if isinstance(r.rule, SigmaRule) and r.condition and not r.refused and r.alerts]

    def correlations(self) -> list[CompiledRule]:
        return [r for r in self.rules if isinstance(r.rule, SigmaCorrelationRule) and not r.refused]

    def by_reference(self, reference: str) -> CompiledRule | None:
        for r in self.rules:
            if isinstance(r.rule, SigmaRule) and reference in (r.name, r.id):
                return r
        return None


def default_rules_dir() -> Path:
    return content_root() / "sigma_rules"


def rule_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.yml") if p.is_file())


def _log_types(rule: SigmaRule, dictionary: FieldDictionary) -> tuple[str, ...]:
    logsource = rule.logsource
    source = dictionary.logsource_of(logsource.product, logsource.service, logsource.category)
    return (source.log_type,) if source is not None else ()


def compile_rules(directory: Path, dictionary: FieldDictionary, tuning: Tuning | None = None) -> RuleSet:
    """Every rule under `directory`, compiled or refused with a reason; unreadable files are errors.
    The local pipeline (parsers/fields.yml, tuning.yml) checks the fields, fills the placeholders and
    adds the log source's condition (`log_type`)."""
    local = pipeline("local", dictionary, tuning or load_tuning())
    backend = DuckDBBackend(processing_pipeline=local, field_types={f.name: f.type for f in dictionary})
    ruleset = RuleSet()
    loaded: list[tuple[Path, SigmaCollection]] = []
    for path in rule_files(directory):
        try:
            loaded.append((path, SigmaCollection.from_yaml(path.read_text(encoding="utf-8"), resolve_references=False)))
        except (SigmaError, ValueError, OSError, yaml.YAMLError) as exc:
            line = exc.problem_mark.line + 1 if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark else None
            ruleset.errors.append(ContentError(path, line, f"not a valid Sigma rule: {exc}"))
    # correlations refer to rules in other files: resolve across the whole set
    everything = SigmaCollection([item for _path, c in loaded for item in c.rules], resolve_references=False)
    try:
        everything.resolve_rule_references()
    except SigmaError as exc:
        ruleset.errors.append(ContentError(directory, None, f"rule references: {exc}"))
    for path, collection in loaded:
        for item in collection.rules:
            compiled = CompiledRule(path, item)
            ruleset.rules.append(compiled)
            if isinstance(item, SigmaCorrelationRule):
                continue
            compiled.log_types = _log_types(item, dictionary)
            if not compiled.log_types:
                known = "; ".join(", ".join(f"{k}: {v}" for k, v in s.sigma.items()) for s in dictionary.logsources.values())
                compiled.refused = (f"log source {item.logsource.product}/{item.logsource.category or item.logsource.service} "
                                    f"is none of the log sources kamal-siem reads ({known})")
                continue
            compiled.alerts = item._output
            item._output = True  # convert it even when only a correlation uses it
            try:
                [condition] = backend.convert_rule(item)
            except (SigmaError, NotImplementedError) as exc:
                compiled.refused = f"{type(exc).__name__}: {exc}"
                continue
            finally:
                item._output = compiled.alerts
            compiled.condition = condition
    return ruleset
