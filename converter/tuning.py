"""The tuning file (tuning.yml): the values of the Sigma placeholders the rules use (`%name%`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .content import content_root
from .errors import ContentError
from .schema_check import schema_errors
from .yamlpos import load_yaml


@dataclass(frozen=True)
class Placeholder:
    name: str
    description: str
    values: tuple[str, ...]


@dataclass
class Tuning:
    path: Path
    placeholders: dict[str, Placeholder] = field(default_factory=dict)

    def vars(self) -> dict[str, list[str]]:
        """The placeholder values as pySigma pipeline variables."""
        return {name: list(p.values) for name, p in sorted(self.placeholders.items())}

    def with_values(self, overrides: dict[str, list[str]]) -> Tuning:
        """A copy with some lists replaced (a replay case's own tuning)."""
        merged = dict(self.placeholders)
        for name, values in overrides.items():
            if name not in merged:
                raise KeyError(name)
            merged[name] = Placeholder(name, merged[name].description, tuple(values))
        return Tuning(self.path, merged)


def default_tuning_path() -> Path:
    return content_root() / "tuning.yml"


def load_tuning(path: Path | None = None) -> Tuning:
    """Read and check a tuning file; errors name the file and the line."""
    path = path or default_tuning_path()
    data, lines = load_yaml(path)
    errors = schema_errors(data, lines, path, "tuning.schema.json")
    if errors:
        raise errors[0]
    tuning = Tuning(path)
    for name, entry in data["placeholders"].items():
        values = tuple(entry["values"])
        if len(set(values)) != len(values):
            raise ContentError(path, lines.line_of(["placeholders", name, "values"]), f"{name}: a value is listed twice")
        tuning.placeholders[name] = Placeholder(name, entry["description"].strip(), values)
    return tuning
