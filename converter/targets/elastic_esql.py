"""Sigma rules as ES|QL: pySigma's ES|QL backend with our pipeline, its comparisons written here so
that they mean what Sigma means.

- ES|QL's `==`, `IN` and `LIKE` are case-sensitive (upstream writes `field like "*x*"`): a string
  compares as `TO_LOWER(field) LIKE "<lowercased pattern>"` (or `==`, `IN` without wildcards),
  except where case cannot matter (no letter with case, or a `lowercase` field of the dictionary and
  a value without capitals), which keeps the plain `field == "x"` Elasticsearch can serve from the
  index. A literal `*`, `?` or `\\` is escaped in LIKE patterns.
- A field that can hold several values compares as null in ES|QL: such a field is only tested for
  presence or, for an exact value, with `MV_CONTAINS`; anything else is refused.
- Regular expressions go through lucene_regex.py (`RLIKE` takes Lucene's syntax); `not` is
  null-safe (null_safe.py).
- A correlation is not pySigma's (fixed `date_trunc` buckets): `correlation_query` counts over the
  rule's look-back, as Kibana's threshold rules do.
"""

from __future__ import annotations

import re

from sigma.backends.elasticsearch import ESQLBackend
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import (SigmaBool, SigmaCasedString, SigmaCIDRExpression, SigmaCompareExpression, SigmaNumber,
                         SigmaRegularExpression, SigmaString, SigmaType)

from .elastic_eql import COMPARE
from .elastic_fields import EcsField
from .lucene_regex import lucene_regex
from .null_safe import NullSafeComparisons
from .sigma_values import esql_string, has_cased, has_upper, has_wildcards, plain_text, wildcard_pattern

METADATA = "_id, _index, _version"


def _exact(info: EcsField, value: SigmaString) -> bool:
    """Whether a case-sensitive comparison of `value` gives Sigma's answer."""
    text = plain_text(value)
    return isinstance(value, SigmaCasedString) or not has_cased(text) or (info.lowercase and not has_upper(text))


class KamalEsqlBackend(NullSafeComparisons, ESQLBackend):
    and_token = "AND"
    or_token = "OR"
    not_token = "NOT"

    def is_null(self, field: str) -> str:
        return f"{self.escape_and_quote_field(field)} IS NULL"

    def not_null(self, field: str) -> str:
        return f"{self.escape_and_quote_field(field)} IS NOT NULL"

    def _string(self, f: str, field: str, info: EcsField, value: SigmaString) -> str:
        if info.numeric:
            raise SigmaFeatureNotSupportedByBackendError(f"{field} is numeric: a string value does not compare with it")
        exact = _exact(info, value)
        if info.multivalued:
            if not exact or has_wildcards(value):
                raise SigmaFeatureNotSupportedByBackendError(
                    f"{field} can hold several values, which ES|QL compares as null; only an exact value (MV_CONTAINS) "
                    f"or presence can be tested")
            return f"MV_CONTAINS({f}, {esql_string(plain_text(value))})"
        lhs = f if exact else f"TO_LOWER({f})"
        if has_wildcards(value):
            return f"{lhs} LIKE {esql_string(wildcard_pattern(value, lower=not exact))}"
        text = plain_text(value)
        return f"{lhs} == {esql_string(text if exact else text.lower())}"

    def atom(self, field: str, info: EcsField, value: SigmaType) -> str:
        f = self.escape_and_quote_field(field)
        if isinstance(value, SigmaString):
            return self._string(f, field, info, value)
        if isinstance(value, SigmaBool):
            return f"{f} == {'true' if value.boolean else 'false'}"
        if info.multivalued:
            raise SigmaFeatureNotSupportedByBackendError(f"{field} can hold several values, which ES|QL compares as null")
        if isinstance(value, SigmaNumber):
            return f"{f} == {value}" if info.numeric else f"{f} == {esql_string(str(value))}"
        if isinstance(value, SigmaCompareExpression):
            if not info.numeric:
                raise SigmaFeatureNotSupportedByBackendError(f"{field} is not numeric: no ordering comparison")
            return f"{f} {COMPARE[value.op]} {value.number}"
        if isinstance(value, SigmaRegularExpression):
            return f"{f} RLIKE {esql_string(lucene_regex(value))}"
        if isinstance(value, SigmaCIDRExpression):
            return f"CIDR_MATCH({f}, {esql_string(value.cidr)})"
        raise SigmaFeatureNotSupportedByBackendError(f"{field}: ES|QL has no comparison for a {type(value).__name__}")

    def in_list(self, field: str, info: EcsField, values: list[SigmaType]) -> str | None:
        f = self.escape_and_quote_field(field)
        if info.multivalued:
            return None
        if all(isinstance(v, SigmaNumber) for v in values) and info.numeric:
            return f"{f} IN ({', '.join(str(v) for v in values)})"
        strings = [v for v in values if isinstance(v, SigmaString) and not isinstance(v, SigmaCasedString)]
        if len(strings) != len(values) or info.numeric or any(has_wildcards(v) for v in strings):
            return None
        if all(_exact(info, v) for v in strings):
            return f"{f} IN ({', '.join(esql_string(plain_text(v)) for v in strings)})"
        return f"TO_LOWER({f}) IN ({', '.join(esql_string(plain_text(v).lower()) for v in strings)})"


def from_command(index: list[str], metadata: bool = True) -> str:
    return f"FROM {', '.join(index)}" + (f" METADATA {METADATA}" if metadata else "")


def event_query(index: list[str], condition: str) -> str:
    """A single-event query: the matching events, with the metadata Kibana needs to deduplicate alerts."""
    return f"{from_command(index)}\n| WHERE {condition}"


def esql_field(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][\w.]*", name) else "`" + name.replace("`", "``") + "`"


def correlation_query(index: list[str], condition: str, group_by: list[str], minimum: int) -> str:
    """Events of the base rule counted per group over the whole look-back: at least `minimum`.
    Events without a group field are left out, as a Kibana threshold's terms aggregation does."""
    fields = [esql_field(f) for f in group_by]
    present = "".join(f" AND {f} IS NOT NULL" for f in fields)
    by = f" BY {', '.join(fields)}" if fields else ""
    keep = ", ".join(["event_count", *fields])
    return (f"{from_command(index, metadata=False)}\n| WHERE ({condition}){present}\n"
            f"| STATS event_count = COUNT(*){by}\n| WHERE event_count >= {minimum}\n| KEEP {keep}")
