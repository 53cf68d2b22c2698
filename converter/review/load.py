"""Everything the review reads, in DuckDB tables: the parsed events (as `kamal-siem parse` writes
them, rejected lines included, one typed column per dictionary field), the inputs and their line
counts, the alerts of `kamal-siem hunt`, and the hook hash chains' findings from verify_chain.

Tables: `events` (dictionary columns + `ts`), `sources`, `alerts`, `alert_events`, `chain_findings`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ..fields import FieldDictionary
from ..local.event_batches import EventSource
from ..local.events import create_events_table, to_arrow
from ..local.hunt import HuntResult, hunt
from ..local.rules import LEVELS, RuleSet
from ..parsing.definitions import default_definitions
from ..parsing.files import Options, Summary, expand_inputs, parse_inputs
from ..parsing.redaction import default_redactor
from ..tuning import Tuning
from ..verify_chain import CHAIN, SEGMENT, Result, verify

BATCH = 50_000
MARKER = CHAIN.encode("ascii")  # `kamal.hook.chain.`: a file that holds it has chained hook events
Step = Callable[[str], None]


@dataclass
class ChainCheck:
    """What verify_chain found in the inputs that hold hook events."""

    checked: list[str] = field(default_factory=list)  # spool folders and files, as verified
    result: Result = field(default_factory=Result)
    error: str | None = None  # an input that could not be read while verifying


@dataclass
class Loaded:
    con: duckdb.DuckDBPyConnection
    summary: Summary
    hunt: HuntResult
    chains: ChainCheck


TS = "TRY_CAST(replace(replace(\"timestamp\", 'T', ' '), 'Z', '') AS TIMESTAMP)"


def _insert(con: duckdb.DuckDBPyConnection, events: list[dict[str, Any]], dictionary: FieldDictionary) -> None:
    con.register("batch_arrow", to_arrow(events, dictionary))
    con.execute(f"INSERT INTO events SELECT *, {TS} FROM batch_arrow")
    con.unregister("batch_arrow")


def _store_python(con: duckdb.DuckDBPyConnection, events: Iterable[dict[str, Any]], dictionary: FieldDictionary,
                  rejected_only: bool = False) -> None:
    """Events of the Python parser (`kamal-siem parse`) into `events`, in batches; only the rejected
    lines when `rejected_only`."""
    pending: list[dict[str, Any]] = []
    for event in events:
        if rejected_only and "error" not in event:
            continue
        pending.append(event)
        if len(pending) >= BATCH:
            _insert(con, pending, dictionary)
            pending = []
    if pending:
        _insert(con, pending, dictionary)


def _store(con: duckdb.DuckDBPyConnection, paths: list[str], options: Options, dictionary: FieldDictionary,
           summary: Summary) -> None:
    """Every event of `paths` into `events`, and every rejected line with its reason.

    The events come from the local engine's reader (EventSource: audit and kamal-proxy lines parsed
    inside DuckDB, vectorized; the rest by the Python parser), which reads every line as `kamal-siem
    parse` does and counts the rejected ones but drops them; the few files with rejected lines are
    read again by the Python parser for their reasons (so standard input, read once, is not an input)."""
    create_events_table(con, to_arrow([], dictionary))
    reader = EventSource(con, default_definitions(), dictionary, default_redactor(), options, summary)
    columns = ", ".join(f'"{c}"' for c in dictionary.column_names())
    for view in reader.batches(paths):
        con.execute(f"INSERT INTO events SELECT {columns}, {TS} FROM {view}")
    for stats in summary.sources:
        if stats.rejected and not stats.skipped:
            again = Options(stats.log_type, options.assumed_tz, options.assumed_tz_name, options.max_line_bytes)
            _store_python(con, parse_inputs([stats.source], again, Summary(), dictionary=dictionary), dictionary,
                          rejected_only=True)


def _store_sources(con: duckdb.DuckDBPyConnection, summary: Summary) -> None:
    con.execute("CREATE TABLE sources (ord INTEGER, source VARCHAR, log_type VARCHAR, lines BIGINT, parsed BIGINT, "
                "rejected BIGINT, events BIGINT, skipped VARCHAR, failed VARCHAR)")
    rows = [(n, s.source, s.log_type, s.lines, s.parsed, s.rejected, s.events, s.skipped, s.failed)
            for n, s in enumerate(summary.sources)]
    if rows:
        con.executemany("INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _store_alerts(con: duckdb.DuckDBPyConnection, result: HuntResult) -> None:
    con.execute("CREATE TABLE alerts (n INTEGER, rule_id VARCHAR, title VARCHAR, level VARCHAR, level_rank INTEGER, "
                "rule_file VARCHAR, grp VARCHAR)")
    con.execute("CREATE TABLE alert_events (n INTEGER, k INTEGER, source VARCHAR, line BIGINT, record BIGINT)")
    files = {rule.id: rule.path.name for rule in result.ruleset.rules}
    alerts: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for n, alert in enumerate(result.alerts):
        group = json.dumps(alert.group, sort_keys=True, ensure_ascii=False) if alert.group is not None else None
        alerts.append((n, alert.rule_id, alert.title, alert.level, LEVELS.index(alert.level), files.get(alert.rule_id, ""), group))
        events.extend((n, k, e["source"], e["line"], e.get("record")) for k, e in enumerate(alert.events))
    if alerts:
        con.executemany("INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?)", alerts)
    if events:
        con.executemany("INSERT INTO alert_events VALUES (?, ?, ?, ?, ?)", events)


def _holds_chain(path: str) -> bool:
    """Whether a file (not gzip: the emitter never compresses its spool) mentions the chain attributes."""
    try:
        with open(path, "rb") as stream:
            if stream.read(2) == b"\x1f\x8b":
                return False
            stream.seek(0)
            tail = b""
            while block := stream.read(1 << 20):
                if MARKER in tail + block:
                    return True
                tail = block[-len(MARKER):]
    except OSError:
        return False
    return False


def chain_inputs(paths: list[str], summary: Summary) -> list[str]:
    """What to verify: every spool folder (holding events-NNNNNN.ndjson or chain.json) as a whole chain,
    and every other input that is a run log, or was not recognized, and holds chained events."""
    log_types = {s.source: s.log_type for s in summary.sources}
    spools: list[str] = []
    files: list[str] = []
    for source, _explicit in expand_inputs(paths):
        if source == "-":
            continue
        path = Path(source)
        if (SEGMENT.match(path.name) or path.name == "chain.json") and path.is_file():
            if str(path.parent) not in spools:
                spools.append(str(path.parent))
            continue
        if log_types.get(source) in ("run", None) and path.is_file() and _holds_chain(source):
            files.append(source)
    return spools + files


def _store_chains(con: duckdb.DuckDBPyConnection, paths: list[str], summary: Summary) -> ChainCheck:
    check = ChainCheck(chain_inputs(paths, summary))
    con.execute("CREATE TABLE chain_findings (ord INTEGER, location VARCHAR, kind VARCHAR, detail VARCHAR)")
    if not check.checked:
        return check
    try:
        check.result = verify([Path(p) for p in check.checked])
    except (OSError, gzip.BadGzipFile) as exc:
        check.error = f"{getattr(exc, 'filename', '') or ''}: {getattr(exc, 'strerror', None) or exc}"
        return check
    rows = [(n, f.where, f.kind, f.detail) for n, f in enumerate(check.result.findings)]
    if rows:
        con.executemany("INSERT INTO chain_findings VALUES (?, ?, ?, ?)", rows)
    return check


def load(paths: list[str], options: Options, dictionary: FieldDictionary, ruleset: RuleSet, tuning: Tuning,
         min_level: str, step: Step | None = None) -> Loaded:
    """Parse `paths` into DuckDB, run the rules over them, verify the hook chains among them."""
    tell = step or (lambda _what: None)
    con = duckdb.connect()
    summary = Summary()
    tell("parsing")
    _store(con, paths, options, dictionary, summary)
    _store_sources(con, summary)
    tell("running the rules")
    result = hunt(paths, Path(), options, min_level, dictionary=dictionary, ruleset=ruleset, tuning=tuning)
    _store_alerts(con, result)
    tell("verifying hook hash chains")
    chains = _store_chains(con, paths, summary)
    return Loaded(con, summary, result, chains)
