"""Sigma rules as Elasticsearch EQL conditions (`any where <condition>`): pySigma's EQL backend with
our pipeline, its comparisons written here so that they mean what Sigma means.

- Strings compare with `:` (case-insensitive, with `*`/`?` wildcards; a literal `*`, `?` or `\\` is
  escaped in the pattern), several values of one field as `field : ("a", "b*")`. Case-sensitive
  `==`/`like` only for `|cased` values; `==` also for numbers, booleans and the empty string.
- Numbers compare with `==`, `<`, `>=`, ...: `:` takes only strings in Elasticsearch.
- Regular expressions go through lucene_regex.py (upstream escapes `/` as `\\/`, which is no EQL
  string escape, and searches case-insensitively with `regex~`).
- `not` is null-safe (null_safe.py).
- Elasticsearch EQL does not search text fields: a rule that compares one is refused here (the
  build gives it to ES|QL).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sigma.backends.elasticsearch import EqlBackend
from sigma.conditions import ConditionAND, ConditionNOT, ConditionOR
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import (SigmaBool, SigmaCasedString, SigmaCIDRExpression, SigmaCompareExpression, SigmaNumber,
                         SigmaRegularExpression, SigmaString, SigmaType)

from .elastic_fields import EcsField
from .lucene_regex import lucene_regex
from .null_safe import NullSafeComparisons
from .sigma_values import eql_string, has_wildcards, plain_text, wildcard_pattern

COMPARE = {SigmaCompareExpression.CompareOperators.LT: "<", SigmaCompareExpression.CompareOperators.LTE: "<=",
           SigmaCompareExpression.CompareOperators.GT: ">", SigmaCompareExpression.CompareOperators.GTE: ">="}


class KamalEqlBackend(NullSafeComparisons, EqlBackend):
    precedence: ClassVar[Any] = (ConditionNOT, ConditionAND, ConditionOR)

    def is_null(self, field: str) -> str:
        return f"?{self.escape_and_quote_field(field)} == null"

    def not_null(self, field: str) -> str:
        return f"?{self.escape_and_quote_field(field)} != null"

    def atom(self, field: str, info: EcsField, value: SigmaType) -> str:
        f = self.escape_and_quote_field(field)
        if info.text:
            raise SigmaFeatureNotSupportedByBackendError(f"Elasticsearch EQL does not search text fields ({field} is text)")
        if isinstance(value, SigmaCasedString):
            if has_wildcards(value):
                return f"{f} like {eql_string(wildcard_pattern(value))}"
            return f"{f} == {eql_string(plain_text(value))}"
        if isinstance(value, SigmaString):
            if not has_wildcards(value) and plain_text(value) == "":
                return f'{f} == ""'
            if info.numeric:
                raise SigmaFeatureNotSupportedByBackendError(f"{field} is numeric: a string value does not compare with it")
            return f"{f} : {eql_string(wildcard_pattern(value))}"
        if isinstance(value, SigmaBool):
            return f"{f} == {'true' if value.boolean else 'false'}"
        if isinstance(value, SigmaNumber):
            return f"{f} == {value}" if info.numeric else f"{f} : {eql_string(str(value))}"
        if isinstance(value, SigmaCompareExpression):
            if not info.numeric:
                raise SigmaFeatureNotSupportedByBackendError(f"{field} is not numeric: no ordering comparison")
            return f"{f} {COMPARE[value.op]} {value.number}"
        if isinstance(value, SigmaRegularExpression):
            return f"{f} regex {eql_string(lucene_regex(value))}"
        if isinstance(value, SigmaCIDRExpression):
            return f"cidrMatch({f}, {eql_string(value.cidr)})"
        raise SigmaFeatureNotSupportedByBackendError(f"{field}: EQL has no comparison for a {type(value).__name__}")

    def in_list(self, field: str, info: EcsField, values: list[SigmaType]) -> str | None:
        f = self.escape_and_quote_field(field)
        if info.text:
            return None
        if all(isinstance(v, SigmaString) and not isinstance(v, SigmaCasedString) and plain_text(v) != "" for v in values) \
                and not info.numeric:
            return f"{f} : ({', '.join(eql_string(wildcard_pattern(v)) for v in values)})"  # type: ignore[arg-type]
        if all(isinstance(v, SigmaNumber) for v in values) and info.numeric:
            return f"{f} in ({', '.join(str(v) for v in values)})"
        return None
