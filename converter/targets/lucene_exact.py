"""Whether a rule's Lucene query (query_string on ECS fields) matches exactly what Sigma matches.

Elasticsearch compares keyword fields case-sensitively and analyzes text fields; Sigma compares
case-insensitively. A comparison is exact when the value has no letter with case, or when the field
is `lowercase` in the dictionary (a vocabulary the parsers write) and the value has no capital
letter, or when the rule itself asks for case (`|cased`). Regular expressions are never exact in
Lucene (anchored, another syntax), nor are string comparisons on text fields, ordering on a
non-numeric field or field references. `not` is exact: a must_not clause matches a document
without the field, as Sigma's `not` does.
"""

from __future__ import annotations

from collections.abc import Iterator

from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (SigmaCasedString, SigmaCompareExpression, SigmaExpansion, SigmaFieldReference,
                         SigmaRegularExpression, SigmaString, SigmaType)

from .elastic_fields import EcsField
from .sigma_values import has_cased, has_upper, plain_text


def _items(detection: SigmaDetection) -> Iterator[SigmaDetectionItem]:
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            yield from _items(item)
        else:
            yield item


def _values(values: list[SigmaType]) -> Iterator[SigmaType]:
    for value in values:
        if isinstance(value, SigmaExpansion):
            yield from _values(list(value.values))
        else:
            yield value


def _problem(field: str | None, info: EcsField | None, value: SigmaType) -> tuple[str, str] | None:
    """(what, an example) when comparing `value` with `field` in Lucene is not what Sigma does."""
    if field is None:
        return "a value without a field", ""
    if isinstance(value, SigmaCasedString):
        return None
    if isinstance(value, SigmaString):
        text = plain_text(value)
        if info is not None and info.text:
            return f"{field} is a text field (Elasticsearch matches its words, not the value)", repr(text)
        if not has_cased(text):
            return None
        if info is not None and info.lowercase and not has_upper(text):
            return None
        return f"{field} compares case-sensitively in Lucene, Sigma does not", repr(text)
    if isinstance(value, SigmaRegularExpression):
        return f"{field}: a regular expression (Lucene's are anchored and of another syntax)", ""
    if isinstance(value, SigmaCompareExpression) and not (info is not None and info.numeric):
        return f"{field}: an ordering comparison on a field that is not numeric", ""
    if isinstance(value, SigmaFieldReference):
        return f"{field}: a comparison with another field", ""
    return None


def lucene_problems(rule: SigmaRule, fields: dict[str, EcsField]) -> list[str]:
    """Why the Lucene query of `rule` (already converted: ECS names, placeholders filled in by the
    Elastic pipeline) is not exact, one line per field and reason with an example value; empty when
    it is exact."""
    examples: dict[str, str] = {}
    for detection in rule.detection.detections.values():
        for item in _items(detection):
            for value in _values(list(item.value)):
                problem = _problem(item.field, fields.get(item.field or ""), value)
                if problem:
                    examples.setdefault(problem[0], problem[1])
    return [f"{what} (e.g. {example})" if example else what for what, example in examples.items()]
