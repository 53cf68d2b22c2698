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
    """Every dictionary column, typed; `extra` (object) as JSON text; `ts` added in DuckDB. Fields whose
    names differ only in case (of different log types) share a column: DuckDB ignores the case."""
    return pa.schema([pa.field(c, _ARROW[dictionary[c].type]) for c in dictionary.column_names()])


def to_arrow(events: Iterable[dict[str, Any]], dictionary: FieldDictionary) -> pa.Table:
    """Parsed events (as `kamal-siem parse` writes them, rejected lines included) as an Arrow table."""
    schema = arrow_schema(dictionary)
    objects = {f.name for f in dictionary if f.type == "object"}
    columns: list[list[Any]] = [[] for _ in schema.names]
    for event in events:
        for name, values in zip(dictionary.event_names(event.get("log_type")), columns, strict=True):
            value = event.get(name)
            if name in objects and value is not None:
                value = json.dumps(value, sort_keys=True, ensure_ascii=False)
            values.append(value)
    return pa.table(dict(zip(schema.names, columns, strict=True)), schema=schema)


def row_event(row: tuple[Any, ...], dictionary: FieldDictionary, log_type_index: int) -> dict[str, Any]:
    """A row of the events table (every column, in `column_names` order) as an event: the non-null
    fields, by the names of the row's log type; `extra` decoded."""
    names = dictionary.event_names(row[log_type_index])
    objects = {f.name for f in dictionary if f.type == "object"}
    return {name: json.loads(value) if name in objects else value
            for name, value in zip(names, row, strict=False) if value is not None}


def create_events_table(con: duckdb.DuckDBPyConnection, table: pa.Table, name: str = "events") -> None:
    """Register `table` as `name`, with `ts` (the timestamp as a TIMESTAMP, microseconds) for windows."""
    con.register(f"{name}_arrow", table)
    con.execute(f"""
        CREATE OR REPLACE TABLE {name} AS
        SELECT *, TRY_CAST(replace(replace("timestamp", 'T', ' '), 'Z', '') AS TIMESTAMP) AS ts
        FROM {name}_arrow
    """)
    con.unregister(f"{name}_arrow")
