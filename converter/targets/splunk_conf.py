"""Splunk .conf files as the Splunk targets write them: `key = value` on one line each (a value
with a line break would need a backslash at the end of every line), stanzas separated by a blank
line, comments with `#`; lookups as CSV with `\\n` line ends. Bytes, for deterministic archives."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping


def conf_value(value: object) -> str:
    """One .conf value on one line: runs of white space (line breaks too) become one space."""
    return " ".join(str(value).split())


def exact_value(value: str) -> str:
    """A value that must be kept as it is (a regex, an eval expression): refused if it cannot be."""
    if "\n" in value or "\r" in value or value != value.strip() or value.endswith("\\"):
        raise ValueError(f"not a one-line .conf value: {value[:60]!r}")
    return value


def comment(text: str) -> str:
    """`text` as comment lines, wrapped at about 100 characters."""
    lines: list[str] = []
    for paragraph in text.strip().split("\n\n"):
        words = paragraph.split()
        line = "#"
        for word in words:
            if len(line) + 1 + len(word) > 100 and line != "#":
                lines.append(line)
                line = "#"
            line += " " + word
        lines.append(line)
    return "\n".join(lines) + "\n"


def stanza(name: str, settings: Mapping[str, object], *, exact: Iterable[str] = ()) -> str:
    """`[name]` and its settings; the `exact` keys are written without rewrapping."""
    keep = set(exact)
    lines = [f"[{name}]"]
    for key, value in settings.items():
        text = exact_value(str(value)) if key in keep else conf_value(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def conf_file(header: str, stanzas: Iterable[str]) -> bytes:
    return (comment(header) + "".join("\n" + s for s in stanzas)).encode("utf-8")


def csv_file(header: list[str], rows: Iterable[Iterable[str]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")
