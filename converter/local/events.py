"""The events table of the local engine: one typed column per field of the dictionary."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import duckdb
import pyarrow as pa

from ..fields import FieldDictionary

_ARROW: dict[str, pa.DataType] = {
    "keyword": pa.string(), "text": pa.string(), "ip": pa.string(), "timestamp": pa.string(),
    "long": pa.int64(), "double": pa.float64(), "boolean": pa.bool_(),
    "keyword_list": pa.list_(pa.string()), "object": pa.string(),
}


def arrow_schema(dictionary: FieldDictionary) -> pa.Schema:
    """Every dictionary field, typed; `extra` (object) as JSON text; `ts` added in DuckDB."""
    return pa.schema([pa.field(f.name, _ARROW[f.type]) for f in dictionary])


def to_arrow(events: Iterable[dict[str, Any]], dictionary: FieldDictionary) -> pa.Table:
    """Parsed events (as `kamal-siem parse` writes them, rejected lines included) as an Arrow table."""
    schema = arrow_schema(dictionary)
    objects = {f.name for f in dictionary if f.type == "object"}
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for event in events:
        for name, values in columns.items():
            value = event.get(name)
            if name in objects and value is not None:
                value = json.dumps(value, sort_keys=True, ensure_ascii=False)
            values.append(value)
    return pa.table(columns, schema=schema)


def create_events_table(con: duckdb.DuckDBPyConnection, table: pa.Table, name: str = "events") -> None:
    """Register `table` as `name`, with `ts` (the timestamp as a TIMESTAMP, microseconds) for windows."""
    con.register(f"{name}_arrow", table)
    con.execute(f"""
        CREATE OR REPLACE TABLE {name} AS
        SELECT *, TRY_CAST(replace(replace("timestamp", 'T', ' '), 'Z', '') AS TIMESTAMP) AS ts
        FROM {name}_arrow
    """)
    con.unregister(f"{name}_arrow")
