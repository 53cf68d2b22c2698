"""Detection values AppInspect refuses in a .conf file, read from a lookup instead.

Splunk AppInspect's `check_destructive_commands` (splunk_appinspect/default_checks/
check_potentially_harmful_operations.py) fails an app whose configuration files contain `rm -rf`
and warns on `rm -r`, `rm -f`, ...: it cannot tell a search that looks for the command from a
script that runs it. It does not read lookup tables (.csv). So a value list of a detection item
that holds such text becomes a lookup of the content app, `kamal_siem_<rule>_values<n>.csv` with
one column `value`, and the search reads it as it reads the tuning lists:
`[| inputlookup <name>.csv | rename value AS <field> | fields <field>]`. The subsearch returns
`<field>="*rm -rf*" OR ...`, the same terms the value list gave, wildcards and Sigma's
case-insensitive matching included, so the detection is unchanged.
"""

from __future__ import annotations

import re

from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import SigmaQueryExpression, SigmaString, SpecialChars

from ..pipelines import SPLUNK_LOOKUP

FLAGGED = re.compile(r"rm\s+-[rf]")  # AppInspect's patterns: `rm -rf` (failure), `rm(?! -rf\b)\s+-[rf]{1,}` (warning)


class ValueListError(ValueError):
    """A flagged value list that cannot be read from a lookup with the same meaning."""


def plain_text(value: SigmaString) -> str:
    return "".join(p for p in value.s if isinstance(p, str))


def splunk_pattern(value: SigmaString) -> str:
    """The value as a Splunk search term: `*` for Sigma's `*`, the rest literal."""
    out = []
    for part in value.s:
        if part == SpecialChars.WILDCARD_MULTI:
            out.append("*")
        elif isinstance(part, str) and not any(c in part for c in '*"\\'):
            out.append(part)
        else:
            raise ValueListError(f"the value {value.original!r} has a character a Splunk lookup value cannot hold literally")
    return "".join(out)


def _items(detection: SigmaDetection) -> list[SigmaDetectionItem]:
    out: list[SigmaDetectionItem] = []
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            out += _items(item)
        else:
            out.append(item)
    return out


def move_flagged_values(rule: SigmaRule, prefix: str) -> dict[str, list[str]]:
    """Replace each flagged value list of `rule` with a lookup reference; returns the lookups
    (name: values). Raises ValueListError when a list cannot be moved without changing its meaning."""
    lookups: dict[str, list[str]] = {}
    for _name, detection in sorted(rule.detection.detections.items()):
        for item in _items(detection):
            strings = [v for v in item.value if isinstance(v, SigmaString)]
            if not any(FLAGGED.search(plain_text(v)) for v in strings):
                continue
            if item.field is None or len(strings) != len(item.value) or any(type(v) is not SigmaString for v in strings):
                raise ValueListError(f"field {item.field!r}: only plain, case-insensitive string values can move to a lookup")
            if len(item.value) > 1 and item.value_linking.__name__ != "ConditionOR":
                raise ValueListError(f"field {item.field!r}: values that must all match cannot move to a lookup")
            name = f"{prefix}_values{len(lookups) + 1}"
            lookups[name] = [splunk_pattern(v) for v in strings]
            item.value = [SigmaQueryExpression(SPLUNK_LOOKUP, name)]
    return lookups
