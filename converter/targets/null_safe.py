"""What the EQL and ES|QL converters share: each comparison written by the converter itself from
what the dictionary says about the field (elastic_fields.py), and Sigma's `not` kept null-safe.

Sigma: a missing field never satisfies `field: value`, so `not field: value` holds for an event
without the field. EQL (in Elastic's `eql` engine, and in Elasticsearch wherever a condition runs
as a script) and ES|QL use three-valued logic: a comparison with a missing field is null, `not
null` is null, and the event is not matched. Under a `not`, every comparison is therefore written
`(field exists and comparison)`, which is false, never null, when the field is missing. (Where
Elasticsearch turns EQL into a Query DSL filter, `not` is a must_not that already matches documents
without the field; the guard changes nothing there.)"""

from __future__ import annotations

from typing import Any, ClassVar

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionNOT, ConditionOR
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import SigmaExists, SigmaExpansion, SigmaNull, SigmaType

from .elastic_fields import EcsField


class NullSafeComparisons:
    """A mixin placed before a pySigma TextQueryBackend: comparisons come from `atom` and `in_list`,
    null checks from `is_null`/`not_null`, and are guarded under `not`."""

    group_expression: ClassVar[Any]
    and_token: ClassVar[Any]
    token_separator: ClassVar[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields: dict[str, EcsField] = {}
        self._negated = 0

    def use_fields(self, fields: dict[str, EcsField]) -> None:
        """The fields of the log type of the rule about to be converted (by ECS name)."""
        self.fields = fields

    def info(self, field: str) -> EcsField:
        if field not in self.fields:
            raise SigmaFeatureNotSupportedByBackendError(f"{field} is not a field of the rule's log source")
        return self.fields[field]

    # --- what each language writes -------------------------------------------------------------
    def atom(self, field: str, info: EcsField, value: SigmaType) -> str:
        raise NotImplementedError

    def in_list(self, field: str, info: EcsField, values: list[SigmaType]) -> str | None:
        raise NotImplementedError

    def is_null(self, field: str) -> str:
        raise NotImplementedError

    def not_null(self, field: str) -> str:
        raise NotImplementedError

    # --- pySigma's hooks -----------------------------------------------------------------------
    def _guard(self, field: str, expression: str) -> str:
        if not self._negated:
            return expression
        sep = self.token_separator
        return str(self.group_expression.format(expr=f"{self.not_null(field)}{sep}{self.and_token}{sep}{expression}"))

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> Any:
        arg = cond.args[0]
        if isinstance(arg, ConditionFieldEqualsValueExpression) and isinstance(arg.value, SigmaNull):
            return self.not_null(arg.field)
        self._negated += 1
        try:
            return super().convert_condition_not(cond, state)  # type: ignore[misc]
        finally:
            self._negated -= 1

    def convert_condition_field_eq_val(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> Any:
        value = cond.value
        if isinstance(value, SigmaExpansion):
            alternatives = ConditionOR([ConditionFieldEqualsValueExpression(cond.field, v) for v in value.values], cond.source)
            return self.convert_condition(alternatives, state)  # type: ignore[attr-defined]
        if isinstance(value, SigmaNull):
            return self.is_null(cond.field)
        if isinstance(value, SigmaExists):
            return self.not_null(cond.field) if value.exists else self.is_null(cond.field)
        return self._guard(cond.field, self.atom(cond.field, self.info(cond.field), value))

    def _list(self, cond: ConditionOR | ConditionAND) -> str | None:
        if not isinstance(cond, ConditionOR) or len(cond.args) < 2 \
                or not all(isinstance(a, ConditionFieldEqualsValueExpression) for a in cond.args):
            return None
        fields = {a.field for a in cond.args}  # type: ignore[union-attr]
        if len(fields) != 1:
            return None
        [field] = fields
        values = [a.value for a in cond.args]  # type: ignore[union-attr]
        if any(isinstance(v, (SigmaNull, SigmaExists, SigmaExpansion)) for v in values):
            return None
        return self.in_list(field, self.info(field), values)

    def decide_convert_condition_as_in_expression(self, cond: ConditionOR | ConditionAND, state: ConversionState) -> bool:
        return self._list(cond) is not None

    def convert_condition_as_in_expression(self, cond: ConditionOR | ConditionAND, state: ConversionState) -> Any:
        expression = self._list(cond)
        assert expression is not None
        [field] = {a.field for a in cond.args}  # type: ignore[union-attr]
        return self._guard(field, expression)

    def convert_condition_val(self, cond: Any, state: ConversionState) -> Any:
        raise SigmaFeatureNotSupportedByBackendError("a value without a field (keywords)")

    def convert_correlation_rule(self, rule: Any, output_format: str | None = None, *args: Any, **kwargs: Any) -> Any:
        raise SigmaFeatureNotSupportedByBackendError("kamal-siem builds Elastic correlation rules itself (elastic_rules.py)")

    def finalize_query_default(self, rule: Any, query: Any, index: int, state: ConversionState) -> Any:
        return query  # the condition alone: the caller writes the rest of the query
