"""A pySigma backend for DuckDB with Sigma's semantics, over the events table of `kamal-siem hunt`.

What it guarantees (and pysigma-backend-duckdb 0.1.4 does not):
- string matches are case-insensitive (`ILIKE`), unless `|cased`;
- Sigma wildcards `*` and `?` become `%` and `_`, and a literal `%`, `_` or `\\` in a value is
  escaped (`ESCAPE '\\'`), so it matches only itself;
- `not` is null-safe: an event without the field does not satisfy `field: value` and does satisfy
  `not field: value` (`NOT coalesce(..., FALSE)`);
- quotes in values and regular expressions are doubled, never closing the SQL literal;
- list fields (keyword lists) match when any element matches;
- a condition on a numeric field compares numbers; a wildcard on one compares its text.
Anything it cannot express (keywords without a field, regex features RE2 lacks, unknown fields) is
refused with an error that names the rule.

Correlation rules are compiled by converter/local/correlations.py over the conditions made here.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

NUMERIC = ("long", "double")
LIST = ("keyword_list",)
# What RE2 (DuckDB's regex engine) does not support: look-around, back-references, atomic groups,
# possessive quantifiers. Such a Sigma regex is refused rather than mistranslated.
_RE2_UNSUPPORTED = re.compile(r"\(\?[=!]|\(\?<[=!]|\\[1-9]|\(\?>|[*+?}]\+|\\[gk]<")


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def like_pattern(value: SigmaString) -> str:
    """A Sigma string as a LIKE pattern: wildcards to %/_, literal %, _ and \\ escaped with \\."""
    out = []
    for part in value.s:
        if part == SpecialChars.WILDCARD_MULTI:
            out.append("%")
        elif part == SpecialChars.WILDCARD_SINGLE:
            out.append("_")
        elif isinstance(part, str):
            out.append(part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
        else:
            raise SigmaFeatureNotSupportedByBackendError(f"unexpanded placeholder {part!r} in a value")
    return "".join(out)


class DuckDBBackend(TextQueryBackend):
    """Sigma rules to DuckDB SQL boolean expressions over the hunt events table."""

    name: ClassVar[str] = "kamal-siem DuckDB backend"
    formats: ClassVar[dict[str, str]] = {"default": "A DuckDB SQL boolean expression per rule"}
    requires_pipeline: ClassVar[bool] = False

    precedence: ClassVar[tuple[type[ConditionItem], type[ConditionItem], type[ConditionItem]]] = (
        ConditionNOT, ConditionAND, ConditionOR)
    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = " = "
    str_quote: ClassVar[str] = "'"
    escape_char: ClassVar[str] = "\\"
    field_quote: ClassVar[str] = '"'
    field_quote_pattern: ClassVar[re.Pattern[str]] = re.compile("^[a-z_][a-z0-9_]*$")
    field_quote_pattern_negation: ClassVar[bool] = True

    def __init__(self, processing_pipeline: Any = None, collect_errors: bool = False,
                 field_types: dict[str, str] | None = None, **backend_options: Any) -> None:
        super().__init__(processing_pipeline, collect_errors, **backend_options)
        self.field_types: dict[str, str] = dict(field_types or {})

    # -- helpers -------------------------------------------------------------------------------------
    def _field(self, name: str, state: ConversionState) -> tuple[str, str]:
        if self.field_types and name not in self.field_types:
            raise SigmaFeatureNotSupportedByBackendError(f"field {name!r} is not in the field dictionary")
        return '"' + name.replace('"', '""') + '"', self.field_types.get(name, "keyword")

    def _match(self, column: str, field_type: str, predicate: str) -> str:
        """`predicate` uses `{x}` for the value under test; a list field matches if any element does."""
        if field_type in LIST:
            return f"len(list_filter({column}, lambda x: {predicate.format(x='x')})) > 0"
        if field_type in NUMERIC:
            return predicate.format(x=f"CAST({column} AS VARCHAR)")
        return predicate.format(x=column)

    # -- conditions -------------------------------------------------------------------------------------
    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> Any:
        inner = self.convert_condition(cond.args[0], state)
        return f"NOT coalesce(({inner}), FALSE)"

    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> Any:
        column, field_type = self._field(cond.field, state)
        value = cond.value
        assert isinstance(value, SigmaString)
        plain = None if value.contains_special() else str(value)
        if field_type in NUMERIC and plain is not None and re.fullmatch(r"-?[0-9]+(?:\.[0-9]+)?", plain):
            return f"{column} = {plain}"
        if field_type == "boolean" and plain is not None and plain.lower() in ("true", "false"):
            return f"{column} = {plain.lower()}"
        pattern = sql_string(like_pattern(value))
        return self._match(column, field_type, "{x} ILIKE " + pattern.replace("{", "{{").replace("}", "}}") + " ESCAPE '\\'")

    def convert_condition_field_eq_val_str_case_sensitive(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> Any:
        column, field_type = self._field(cond.field, state)
        assert isinstance(cond.value, SigmaString)
        pattern = sql_string(like_pattern(cond.value))
        return self._match(column, field_type, "{x} LIKE " + pattern.replace("{", "{{").replace("}", "}}") + " ESCAPE '\\'")

    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> Any:
        column, field_type = self._field(cond.field, state)
        assert isinstance(cond.value, SigmaNumber)
        number = str(cond.value)
        if field_type in NUMERIC:
            return f"{column} = {number}"
        return self._match(column, field_type, "{x} = " + sql_string(number))

    def convert_condition_field_eq_val_bool(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> Any:
        column, field_type = self._field(cond.field, state)
        assert isinstance(cond.value, SigmaBool)
        if field_type == "boolean":
            return f"{column} = {'true' if cond.value.boolean else 'false'}"
        return self._match(column, field_type, "lower({x}) = " + sql_string("true" if cond.value.boolean else "false"))

    def convert_condition_field_eq_val_null(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> Any:
        column, _ = self._field(cond.field, state)
        return f"{column} IS NULL"

    def convert_condition_field_exists(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> Any:
        column, _ = self._field(cond.field, state)
        return f"{column} IS NOT NULL"

    def convert_condition_field_not_exists(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> Any:
        column, _ = self._field(cond.field, state)
        return f"{column} IS NULL"

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> Any:
        column, field_type = self._field(cond.field, state)
        regex = cond.value
        assert isinstance(regex, SigmaRegularExpression)
        text = str(regex.regexp)
        if _RE2_UNSUPPORTED.search(text):
            raise SigmaFeatureNotSupportedByBackendError(
                f"regular expression {text!r} uses look-around, back-references or possessive/atomic groups, "
                "which RE2 (DuckDB) does not support")
        flags = "".join(f for flag, f in ((SigmaRegularExpressionFlag.IGNORECASE, "i"), (SigmaRegularExpressionFlag.MULTILINE, "m"),
                                          (SigmaRegularExpressionFlag.DOTALL, "s")) if flag in regex.flags)
        pattern = sql_string((f"(?{flags})" if flags else "") + text)
        return self._match(column, field_type, "regexp_matches({x}, " + pattern.replace("{", "{{").replace("}", "}}") + ")")

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> Any:
        column, field_type = self._field(cond.field, state)
        cidr = cond.value
        assert isinstance(cidr, SigmaCIDRExpression)
        prefixes = cidr.expand(wildcard="*")
        parts = [self._match(column, field_type, "{x} ILIKE " + sql_string(like_pattern(SigmaString(p))).replace("{", "{{").replace("}", "}}") + " ESCAPE '\\'")
                 for p in prefixes]
        return "(" + " OR ".join(parts) + ")"

    def convert_condition_field_compare_op_val(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> Any:
        column, field_type = self._field(cond.field, state)
        value = cond.value
        assert isinstance(value, SigmaCompareExpression)
        operators = {SigmaCompareExpression.CompareOperators.LT: "<", SigmaCompareExpression.CompareOperators.LTE: "<=",
                     SigmaCompareExpression.CompareOperators.GT: ">", SigmaCompareExpression.CompareOperators.GTE: ">=",
                     }
        op = operators.get(value.op)
        if op is None:
            raise SigmaFeatureNotSupportedByBackendError(f"comparison {value.op} is not supported")
        target = column if field_type in NUMERIC else f"TRY_CAST({column} AS DOUBLE)"
        return f"{target} {op} {value.number}"

    def convert_condition_field_eq_field(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> Any:
        column, _ = self._field(cond.field, state)
        other, _ = self._field(cond.value.field, state)  # type: ignore[attr-defined]
        return f"lower(CAST({column} AS VARCHAR)) = lower(CAST({other} AS VARCHAR))"

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> Any:
        raise SigmaFeatureNotSupportedByBackendError("keywords (values without a field) are not supported: name the field")

    def convert_condition_val_num(self, cond: ConditionValueExpression, state: ConversionState) -> Any:
        raise SigmaFeatureNotSupportedByBackendError("keywords (values without a field) are not supported: name the field")

    def convert_condition_val_re(self, cond: ConditionValueExpression, state: ConversionState) -> Any:
        raise SigmaFeatureNotSupportedByBackendError("keywords (values without a field) are not supported: name the field")

    def convert_condition_field_eq_val_timestamp_part(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> Any:
        raise SigmaFeatureNotSupportedByBackendError("timestamp part modifiers (|minute, |hour, ...) are not supported")

    def finalize_query_default(self, rule: SigmaRule, query: str, index: int, state: ConversionState) -> Any:
        return query


__all__ = ["DuckDBBackend", "SigmaNull", "like_pattern", "sql_string"]
