"""The review's figures, as DuckDB SQL over the tables load.py fills (`events`, `sources`, `alerts`,
`alert_events`, `chain_findings`). Every query orders its rows completely, so the report is the
same for the same input.

Deploys are reconstructed from the audit log, per audit file (one file per host, service and
destination), from what Kamal writes (../shared/kamal-reference/FACTS.md):
- a deploy (also redeploy, setup) writes `Pulled image` (image_pull), then `[role] Booted app`
  (app_boot) per role, then `Tagging ... as the latest image` (image_tag_latest) when every role
  booted; a failed deploy stops before the tag;
- a rollback writes `[role] Renaming container` (app_container_rename), `[role] Booted app`, then the
  tag, without a pull; a boot without pull or rename (`app boot`, `proxy upgrade`) is a `boot`.
A step sequence starts at a pull, or at a rename or boot that follows a tag, starts the file, or
names another version than the step before it (a rollback right after a failed deploy); it
succeeded when a tag follows before the next start. The same deploy on several hosts (same
service, destination, performer, version and kind, started within DEPLOY_GAP of the previous host;
a host's second such sequence is a retry, another deploy) is one deploy: `success` when every host tagged, `failure` when none did, `partial` otherwise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from ..local.rules import LEVELS
from .content import OperationList, PerformerChecks
from .period import Period

DEPLOY_GAP_SECONDS = 120
OUTCOMES = ("success", "partial", "failure")
WHERE = "source || ':' || line || coalesce('#' || record, '')"
WHO = "coalesce(performer, \"User\")"
WHAT = "coalesce(cmd, \"CommandLine\", message)"
TARGET = "coalesce(role, accessory, container_name, host)"


def _literal(moment: dt.datetime) -> str:
    return f"TIMESTAMP '{moment.isoformat(sep=' ')}'"


def period_predicate(period: Period, column: str = "ts") -> str:
    """SQL true for a time inside the period (both ends included); without a period, for every row."""
    parts = []
    if period.since is not None:
        parts.append(f"{column} >= {_literal(period.since)}")
    if period.until is not None:
        parts.append(f"{column} <= {_literal(period.until)}")
    return " AND ".join(parts) if parts else "TRUE"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def data_end(con: duckdb.DuckDBPyConnection) -> dt.datetime | None:
    """The time of the last event read (the default end of the period)."""
    value = con.execute("SELECT max(ts) FROM events WHERE error IS NULL").fetchall()[0][0]
    return value if isinstance(value, dt.datetime) else None


class Queries:
    def __init__(self, con: duckdb.DuckDBPyConnection, period: Period) -> None:
        self.con = con
        self.period = period
        self.in_period = period_predicate(period)
        con.execute(f"CREATE OR REPLACE TEMP VIEW ev AS SELECT * FROM events WHERE error IS NULL AND {self.in_period}")

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def one(self, sql: str) -> Any:
        return self.con.execute(sql).fetchall()[0][0]

    # -- the period and the inputs ----------------------------------------------------------------------
    def data_end(self) -> dt.datetime | None:
        return data_end(self.con)

    def covered(self) -> tuple[str | None, str | None, int]:
        """The first and last event timestamps in the period, and the number of events."""
        first, last, count = self.rows("SELECT arg_min(\"timestamp\", ts), arg_max(\"timestamp\", ts), count(*) FROM ev")[0]
        return first, last, count

    def days(self) -> list[dt.date]:
        """Every day of the period (bounded by the data where the period is open)."""
        start, end = self.rows("SELECT min(ts)::DATE, max(ts)::DATE FROM ev")[0]
        if self.period.since is not None:
            start = self.period.since.date()
        if self.period.until is not None:
            end = self.period.until.date()
        if start is None or end is None or end < start:
            return []
        return [d for (d,) in self.rows(f"SELECT unnest(range(DATE '{start}', DATE '{end}' + INTERVAL 1 DAY, INTERVAL 1 DAY))::DATE")]

    def sources(self) -> list[tuple[Any, ...]]:
        """Per input: source, log type, lines, parsed, rejected, events, in the period, note, accounted."""
        return self.rows(f"""
            SELECT s.source, coalesce(s.log_type, '-'), s.lines, s.parsed, s.rejected, s.events,
                   (SELECT count(*) FROM events e WHERE e.source = s.source AND e.error IS NULL AND {self.in_period}),
                   coalesce(s.failed, s.skipped, ''),
                   CASE WHEN s.skipped IS NOT NULL THEN 'skipped'
                        WHEN s.failed IS NOT NULL THEN 'unreadable after ' || s.lines || ' line(s)'
                        WHEN s.parsed + s.rejected = s.lines THEN 'yes' ELSE 'NO' END
            FROM sources s ORDER BY s.ord""")

    def log_types(self) -> list[tuple[Any, ...]]:
        """Per log type: files, lines, parsed, rejected, events, events in the period."""
        return self.rows(f"""
            SELECT s.log_type, count(*), sum(s.lines), sum(s.parsed), sum(s.rejected), sum(s.events),
                   (SELECT count(*) FROM events e WHERE e.log_type = s.log_type AND e.error IS NULL AND {self.in_period})
            FROM sources s WHERE s.skipped IS NULL AND s.log_type IS NOT NULL
            GROUP BY s.log_type ORDER BY s.log_type""")

    def totals(self) -> tuple[int, int, int, int, int, int]:
        """Files read, files skipped, files unreadable, lines, parsed lines, rejected lines."""
        row = self.rows("""SELECT count(*) FILTER (WHERE skipped IS NULL AND failed IS NULL), count(*) FILTER (WHERE skipped IS NOT NULL),
                                  count(*) FILTER (WHERE failed IS NOT NULL),
                                  coalesce(sum(lines), 0), coalesce(sum(parsed), 0), coalesce(sum(rejected), 0) FROM sources""")[0]
        return int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5])

    def untimed(self) -> int:
        return int(self.one("SELECT count(*) FROM events WHERE error IS NULL AND ts IS NULL"))

    # -- deploys ----------------------------------------------------------------------------------------
    def build_deploys(self) -> None:
        """The table `deploys`: one row per deploy, rollback or boot started in the period."""
        self.con.execute("""
            CREATE OR REPLACE TEMP TABLE host_deploys AS
            WITH steps AS (
                SELECT source, line, ts, "timestamp", action, performer, service, destination, version, performer_flags,
                       lag(action) OVER (PARTITION BY source ORDER BY line, record) AS previous,
                       lag(version) OVER (PARTITION BY source ORDER BY line, record) AS previous_version
                FROM events
                WHERE error IS NULL AND log_type = 'audit'
                  AND action IN ('image_pull', 'app_container_rename', 'app_boot', 'image_tag_latest')
            ), marked AS (
                SELECT *, CASE WHEN action = 'image_pull' THEN 1
                               WHEN action IN ('app_container_rename', 'app_boot')
                                    AND (previous IS NULL OR previous = 'image_tag_latest'
                                         OR version IS DISTINCT FROM previous_version) THEN 1
                               ELSE 0 END AS starts
                FROM steps
            ), numbered AS (
                SELECT *, sum(starts) OVER (PARTITION BY source ORDER BY line ROWS UNBOUNDED PRECEDING) AS step
                FROM marked
            )
            SELECT source, step, min(line) AS line, arg_min(ts, line) AS started, arg_min("timestamp", line) AS started_text,
                   max(ts) AS ended, arg_min(performer, line) AS performer, arg_min(service, line) AS service,
                   arg_min(destination, line) AS destination,
                   arg_min(version, line) FILTER (WHERE action IN ('image_pull', 'app_boot')) AS version,
                   CASE WHEN bool_or(action = 'image_pull') THEN 'deploy'
                        WHEN bool_or(action = 'app_container_rename') THEN 'rollback' ELSE 'boot' END AS kind,
                   bool_or(action = 'image_tag_latest') AS tagged,
                   count(*) FILTER (WHERE action = 'app_boot') AS boots,
                   bool_or(len(coalesce(performer_flags, [])) > 0) AS flagged
            FROM numbered WHERE step > 0
            GROUP BY source, step""")
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE deploys AS
            WITH spaced AS (
                SELECT *, CASE WHEN lag(started) OVER w IS NULL
                                 OR started - lag(started) OVER w > INTERVAL {DEPLOY_GAP_SECONDS} SECOND THEN 1 ELSE 0 END AS new
                FROM host_deploys
                WINDOW w AS (PARTITION BY service, destination, performer, version, kind ORDER BY started, source, step)
            ), grouped AS (
                SELECT *, sum(new) OVER (PARTITION BY service, destination, performer, version, kind
                                         ORDER BY started, source, step ROWS UNBOUNDED PRECEDING) AS grp
                FROM spaced
            ), repeated AS (
                -- a host appears once in a deploy: its second sequence in the same time group is a retry
                SELECT *, row_number() OVER (PARTITION BY service, destination, performer, version, kind, grp, source
                                             ORDER BY started, step) AS attempt
                FROM grouped
            )
            SELECT min(started) AS started, arg_min(started_text, (started, source)) AS started_text, max(ended) AS ended,
                   service, destination, performer, version, kind,
                   count(*) AS hosts, count(*) FILTER (WHERE tagged) AS hosts_ok,
                   CASE WHEN bool_and(tagged) THEN 'success' WHEN bool_or(tagged) THEN 'partial' ELSE 'failure' END AS outcome,
                   bool_or(flagged) AS flagged,
                   arg_min(source || ':' || line, (started, source)) AS location
            FROM repeated
            GROUP BY service, destination, performer, version, kind, grp, attempt
            HAVING {period_predicate(self.period, 'min(started)')}""")

    def deploys(self) -> list[tuple[Any, ...]]:
        return self.rows("""
            SELECT started_text, service, destination, performer, version, kind, outcome,
                   hosts_ok || ' of ' || hosts, CASE WHEN flagged THEN 'yes' ELSE '' END, location
            FROM deploys ORDER BY started NULLS LAST, location""")

    def deploy_totals(self) -> dict[str, int]:
        row = self.rows("""SELECT count(*), count(*) FILTER (WHERE outcome = 'success'), count(*) FILTER (WHERE outcome = 'partial'),
                                  count(*) FILTER (WHERE outcome = 'failure'), count(*) FILTER (WHERE kind = 'rollback')
                           FROM deploys""")[0]
        return dict(zip(("all", "success", "partial", "failure", "rollback"), (int(v) for v in row), strict=True))

    def deploys_by(self, *columns: str) -> list[tuple[Any, ...]]:
        """Deploys grouped by some of service, destination, performer: counts per outcome and kind."""
        keys = ", ".join(columns)
        return self.rows(f"""
            SELECT {keys}, count(*), count(*) FILTER (WHERE outcome = 'success'), count(*) FILTER (WHERE outcome = 'partial'),
                   count(*) FILTER (WHERE outcome = 'failure'), count(*) FILTER (WHERE kind = 'rollback'),
                   min(started_text), max(started_text)
            FROM deploys GROUP BY {keys} ORDER BY count(*) DESC, {keys} NULLS LAST""")

    def deploys_per_day(self) -> dict[tuple[dt.date, str], int]:
        return {(day, outcome): int(n) for day, outcome, n in self.rows(
            "SELECT started::DATE, outcome, count(*) FROM deploys WHERE started IS NOT NULL GROUP BY ALL ORDER BY ALL")}

    def deploys_per_performer(self) -> list[tuple[Any, ...]]:
        """(performer, success, partial, failure), most deploys first."""
        return self.rows("""
            SELECT coalesce(performer, ''), count(*) FILTER (WHERE outcome = 'success'), count(*) FILTER (WHERE outcome = 'partial'),
                   count(*) FILTER (WHERE outcome = 'failure')
            FROM deploys GROUP BY performer ORDER BY count(*) DESC, performer NULLS LAST""")

    # -- Kamal's own run records --------------------------------------------------------------------------
    def build_runs(self) -> None:
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE runs AS
            SELECT run_id, arg_min("timestamp", ts) AS started_text, min(ts) AS started,
                   arg_min(command, (ts, source, line, record)) AS command, arg_min(subcommand, (ts, source, line, record)) AS subcommand,
                   arg_min(performer, (ts, source, line, record)) AS performer, arg_min(service, (ts, source, line, record)) AS service,
                   arg_min(destination, (ts, source, line, record)) AS destination,
                   arg_min(version, (ts, source, line, record)) AS version,
                   CASE WHEN bool_or(action = 'run_failed') THEN 'failure'
                        WHEN bool_or(action = 'run_complete') THEN 'success' ELSE 'unknown' END AS outcome,
                   max(runtime) AS runtime,
                   string_agg(DISTINCT err, '; ' ORDER BY err) AS error,
                   arg_min({WHERE}, (ts, source, line, record)) AS location
            FROM (SELECT *, nullif(concat_ws(': ', error_type, error_message), '') AS err FROM events)
            WHERE error IS NULL AND log_type = 'run' AND action IN ('run_start', 'run_complete', 'run_failed') AND run_id IS NOT NULL
            GROUP BY run_id
            HAVING {period_predicate(self.period, 'min(ts)')}""")

    def runs(self, where: str = "TRUE") -> list[tuple[Any, ...]]:
        return self.rows(f"""
            SELECT started_text, trim(command || ' ' || coalesce(subcommand, '')), service, destination, performer, version,
                   outcome, CASE WHEN runtime IS NULL THEN NULL ELSE round(runtime, 1) END, error, location
            FROM runs WHERE {where} ORDER BY started NULLS LAST, location""")

    def run_totals(self) -> dict[str, int]:
        row = self.rows("""SELECT count(*), count(*) FILTER (WHERE outcome = 'failure'),
                                  count(*) FILTER (WHERE command = 'rollback') FROM runs""")[0]
        return dict(zip(("all", "failure", "rollback"), (int(v) for v in row), strict=True))

    # -- operation lists (review.yml) ------------------------------------------------------------------------
    def operations(self, operations: OperationList) -> list[tuple[Any, ...]]:
        """Every event in the period any of the list's matchers matches."""
        if not operations.matchers:
            return []
        matched = ", ".join(f"CASE WHEN {m.condition} THEN {_sql_string(m.label)} END" for m in operations.matchers)
        anything = " OR ".join(f"({m.condition})" for m in operations.matchers)
        return self.rows(f"""
            SELECT "timestamp", log_type, {WHO}, service, destination, {TARGET}, action, {WHAT},
                   CASE WHEN exit_code IS NOT NULL THEN exit_code::VARCHAR
                        WHEN exec_id IS NOT NULL THEN (SELECT string_agg(DISTINCT d.exit_code::VARCHAR, ', ' ORDER BY d.exit_code::VARCHAR)
                                                       FROM events d WHERE d.action = 'exec_die' AND d.exec_id = ev.exec_id)
                   END AS exit_code_text,
                   concat_ws('; ', {matched}), {WHERE}
            FROM ev WHERE {anything}
            ORDER BY ts NULLS LAST, source, line, record NULLS FIRST""")

    # -- performers --------------------------------------------------------------------------------------------
    def performers(self, checks: PerformerChecks, flagged_only: bool) -> list[tuple[Any, ...]]:
        """Performers in the period (audit and run records), with why each is suspect; only the suspect
        ones when `flagged_only`."""
        having = ("HAVING len(flags) > 0 OR NOT allowlisted OR fallback OR performer IS NULL OR trim(performer) = ''"
                  if flagged_only else "")
        return self.rows(f"""
            WITH checked AS (
                SELECT *, {checks.allowlisted} AS allow, {checks.fallback} AS fall
                FROM ev WHERE log_type IN ('audit', 'run')
            ), per AS (
                SELECT performer, count(*) AS n, string_agg(DISTINCT log_type, ', ' ORDER BY log_type) AS types,
                       string_agg(DISTINCT destination, ', ' ORDER BY destination) AS destinations,
                       min("timestamp") AS first_seen, max("timestamp") AS last_seen,
                       list_sort(list_distinct(flatten(list(coalesce(performer_flags, []))))) AS flags,
                       bool_or(allow) AS allowlisted, bool_or(fall) AS fallback,
                       arg_min({WHERE}, (ts, source, line, record)) AS location
                FROM checked GROUP BY performer {having}
            )
            SELECT performer,
                   concat_ws('; ',
                       CASE WHEN len(flags) > 0 THEN 'forged or odd: ' || array_to_string(flags, ', ') END,
                       CASE WHEN performer IS NULL OR trim(performer) = '' THEN 'no performer recorded' END,
                       CASE WHEN NOT allowlisted THEN 'not in kamal_deployers' END,
                       CASE WHEN fallback THEN 'fallback account: nobody can tell who it was' END),
                   n, types, destinations, first_seen, last_seen, location
            FROM per ORDER BY len(flags) > 0 DESC, fallback DESC, n DESC, performer NULLS FIRST""")

    # -- alerts ---------------------------------------------------------------------------------------------------
    def build_alerts(self) -> None:
        """`alerts_in`: the alerts with at least one of their events in the period."""
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE alerts_in AS
            SELECT a.n, a.rule_id, a.title, a.level, a.level_rank, a.rule_file, a.grp,
                   count(*) AS events, min(e.ts) AS first_ts, arg_min(e."timestamp", e.ts) AS first_text,
                   arg_max(e."timestamp", e.ts) AS last_text
            FROM alerts a
            JOIN alert_events ae ON ae.n = a.n
            LEFT JOIN events e ON e.source = ae.source AND e.line = ae.line AND e.record IS NOT DISTINCT FROM ae.record AND e.error IS NULL
            GROUP BY a.n, a.rule_id, a.title, a.level, a.level_rank, a.rule_file, a.grp
            HAVING bool_or({period_predicate(self.period, 'e.ts')})""")

    def alerts_by_rule(self) -> list[tuple[Any, ...]]:
        return self.rows("""
            SELECT level, title, rule_file, count(*), sum(events), min(first_text), max(last_text)
            FROM alerts_in GROUP BY level, level_rank, title, rule_file
            ORDER BY level_rank DESC, count(*) DESC, title, rule_file""")

    def alerts_by_level(self) -> dict[str, int]:
        counts = dict(self.rows("SELECT level, count(*) FROM alerts_in GROUP BY level"))
        return {level: int(counts.get(level, 0)) for level in LEVELS}

    def alert_details(self, limit: int) -> list[tuple[Any, ...]]:
        return self.rows(f"""
            SELECT a.first_text, a.level, a.title, coalesce(e.performer, e."User", a.grp), {'coalesce(e.cmd, e."CommandLine", e.message, e.action)'},
                   ae.source || ':' || ae.line || coalesce('#' || ae.record, '')
                       || CASE WHEN a.events > 1 THEN ' (+' || (a.events - 1) || ' more)' ELSE '' END
            FROM alerts_in a
            JOIN alert_events ae ON ae.n = a.n AND ae.k = 0
            LEFT JOIN events e ON e.source = ae.source AND e.line = ae.line AND e.record IS NOT DISTINCT FROM ae.record AND e.error IS NULL
            ORDER BY a.first_ts NULLS LAST, a.level_rank DESC, a.title, a.n
            LIMIT {int(limit)}""")

    def alert_count(self) -> int:
        return int(self.one("SELECT count(*) FROM alerts_in"))

    # -- parse errors and hash chains ---------------------------------------------------------------------------
    def parse_errors(self) -> list[tuple[Any, ...]]:
        """Rejected lines, consecutive lines of one file with one reason as a range: file, lines, count, reason."""
        return self.rows("""
            WITH rejected AS (
                SELECT source, line, error, line - row_number() OVER (PARTITION BY source, error ORDER BY line) AS island
                FROM events WHERE error IS NOT NULL
            )
            SELECT r.source, CASE WHEN min(line) = max(line) THEN min(line)::VARCHAR ELSE min(line) || '-' || max(line) END,
                   count(*), r.error
            FROM rejected r LEFT JOIN sources s ON s.source = r.source
            GROUP BY r.source, r.error, r.island, s.ord
            ORDER BY s.ord NULLS LAST, r.source, min(line)""")

    def warnings(self) -> list[tuple[Any, ...]]:
        """Lines parsed with warnings (bytes not UTF-8, values of the wrong type), by file and warning."""
        return self.rows("""
            SELECT source, array_to_string(warnings, '; '), count(*), min(line), max(line)
            FROM events WHERE error IS NULL AND len(coalesce(warnings, [])) > 0
            GROUP BY source, warnings ORDER BY source, min(line)""")

    def chain_findings(self) -> list[tuple[Any, ...]]:
        return self.rows("SELECT location, kind, detail FROM chain_findings ORDER BY ord")
