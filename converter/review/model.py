"""The review report as plain data: sections of figures, tables and charts, and the sign-off.
html.py and markdown.py render the same model, so both formats hold the same sections and numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# text: content that came from the logs (attacker-controlled; escaped, shown as code in Markdown);
# plain: kamal-siem's own words (actions, outcomes, levels); num: a count; time: a timestamp;
# where: source:line references
Kind = Literal["text", "plain", "num", "time", "where"]
Cell = str | int | float | None


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = "text"


@dataclass
class Table:
    columns: tuple[Column, ...]
    rows: list[tuple[Cell, ...]]
    empty: str  # shown instead of an empty table
    caption: str | None = None
    note: str | None = None  # shown under the table (e.g. what was left out)


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: tuple[int, ...]


@dataclass
class Chart:
    """Bars per category: stacked series (vertical, e.g. per day) or one series (horizontal)."""

    id: str
    title: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    orientation: Literal["vertical", "horizontal"]
    empty: str  # drawn inside the chart when every value is zero
    value_label: str = "count"


@dataclass(frozen=True)
class Figure:
    label: str
    value: int | str
    attention: bool = False  # worth the reviewer's attention (non-zero findings)


@dataclass
class Section:
    id: str
    title: str
    intro: str
    figures: list[Figure] = field(default_factory=list)
    blocks: list[Table | Chart] = field(default_factory=list)


@dataclass(frozen=True)
class SignOffItem:
    """A line of the reviewer's checklist."""

    text: str


@dataclass
class Report:
    title: str
    period: str  # the requested window, in words
    covered: str  # first and last event in the window
    generated_at: str
    inputs: str  # what was read, in words
    summary: list[Figure]
    sections: list[Section]
    checklist: list[SignOffItem]
    notes: list[str] = field(default_factory=list)  # how figures are derived
