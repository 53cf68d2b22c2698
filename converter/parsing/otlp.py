"""Flatten an OTLP/JSON logs export request into one plain object per log record.

OTLP JSON wraps every attribute value (`{"stringValue": ...}`, `{"intValue": "42"}`, arrays,
key-value lists); this unwraps them so that parser definitions can name `/resource/kamal.performer`
or `/record/attributes/kamal.command` with JSON Pointers.
"""

from __future__ import annotations

from collections.abc import Iterator
import re
from typing import Any

_INT = re.compile(r"^-?[0-9]{1,19}$")


class OtlpError(ValueError):
    pass


def any_value(wrapped: Any) -> Any:
    """The plain value of an OTLP AnyValue."""
    if not isinstance(wrapped, dict):
        raise OtlpError(f"an attribute value must be an object, got {type(wrapped).__name__}")
    if not wrapped:
        return None
    if len(wrapped) != 1:
        raise OtlpError(f"an attribute value must have one key, got {len(wrapped)}")
    kind, inner = next(iter(wrapped.items()))
    if kind in ("stringValue", "boolValue", "doubleValue", "bytesValue"):
        return inner
    if kind == "intValue":  # a string of digits in OTLP JSON (int64), or a number
        if isinstance(inner, int) and not isinstance(inner, bool):
            return inner
        if isinstance(inner, str) and _INT.match(inner):
            return int(inner)
        raise OtlpError("an intValue is not an integer")
    if kind == "arrayValue":
        return [any_value(v) for v in (inner or {}).get("values", [])]
    if kind == "kvlistValue":
        return attributes((inner or {}).get("values", []))
    raise OtlpError("unknown OTLP value kind")


def attributes(items: Any) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise OtlpError("attributes must be a list")
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise OtlpError("an attribute must be an object with a string key")
        out[item["key"]] = any_value(item.get("value", {}))
    return out


def _list(node: Any, key: str) -> list[Any]:
    value = node.get(key, []) if isinstance(node, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpError(f"{key} must be a list")
    return value


def expand(request: Any) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Yield (path of the record in the request, flat record) for every log record."""
    if not isinstance(request, dict) or "resourceLogs" not in request:
        raise OtlpError("not an OTLP logs export request (no resourceLogs)")
    for i, resource_logs in enumerate(_list(request, "resourceLogs")):
        if not isinstance(resource_logs, dict):
            raise OtlpError("resourceLogs items must be objects")
        resource = resource_logs.get("resource") or {}
        resource_attrs = attributes(resource.get("attributes") if isinstance(resource, dict) else None)
        for j, scope_logs in enumerate(_list(resource_logs, "scopeLogs")):
            if not isinstance(scope_logs, dict):
                raise OtlpError("scopeLogs items must be objects")
            scope = scope_logs.get("scope") or {}
            for k, record in enumerate(_list(scope_logs, "logRecords")):
                if not isinstance(record, dict):
                    raise OtlpError("logRecords items must be objects")
                flat = {key: value for key, value in record.items() if key not in ("attributes", "body")}
                flat["attributes"] = attributes(record.get("attributes"))
                if "body" in record:
                    flat["body"] = any_value(record["body"])
                yield (("resourceLogs", i, "scopeLogs", j, "logRecords", k),
                       {"resource": resource_attrs, "scope": scope, "record": flat})
