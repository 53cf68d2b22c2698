"""Assemble the review report (model.py) from the queries: the same sections for HTML and Markdown."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..local.rules import LEVELS
from ..tuning import Tuning
from .content import ReviewContent
from .load import Loaded
from .model import Cell, Chart, Column, Figure, Report, Section, Series, SignOffItem, Table
from .period import Period, iso
from .queries import DEPLOY_GAP_SECONDS, OUTCOMES, Queries

OUTCOME_COLORS = {"success": "#2e7d32", "partial": "#ef6c00", "failure": "#c62828"}
LEVEL_COLORS = {"critical": "#6a1b9a", "high": "#c62828", "medium": "#ef6c00", "low": "#1565c0", "informational": "#757575"}
ALERT_DETAIL_LIMIT = 500
PERFORMER_CHART_LIMIT = 15

CHECKLIST = (
    "Every deploy was expected: who, what version, where and when; failed and partial deploys are explained.",
    "Every rollback has a reason on record.",
    "Every exec command was expected; none printed secrets or changed data without a plan.",
    "Secrets-related and destructive operations were planned and approved.",
    "Every unattributed or forged performer is explained; kamal_deployers in the tuning file is current.",
    "Every critical and high alert is triaged; false positives are tuned, not ignored.",
    "Parse errors and hash-chain findings are explained (no deleted or edited hook events).",
    "Every expected host and log type was read, for the whole period.",
)


def _columns(*spec: str) -> tuple[Column, ...]:
    """`name:kind` pairs (kind defaults to text)."""
    out = []
    for item in spec:
        name, _, kind = item.partition(":")
        out.append(Column(name, kind or "text"))  # type: ignore[arg-type]
    return tuple(out)


def _rows(rows: list[tuple[Any, ...]]) -> list[tuple[Cell, ...]]:
    out: list[tuple[Cell, ...]] = []
    for row in rows:
        cells: list[Cell] = []
        for value in row:
            if value is None or isinstance(value, (str, int, float)):
                cells.append(value)
            elif isinstance(value, dt.datetime):
                cells.append(iso(value))
            else:
                cells.append(str(value))
        out.append(tuple(cells))
    return out


DEPLOY_COLUMNS = _columns("started:time", "service", "destination", "performer", "version", "kind:plain", "outcome:plain",
                          "hosts tagged:plain", "performer flagged:plain", "where:where")
RUN_COLUMNS = _columns("started:time", "command", "service", "destination", "performer", "version", "outcome:plain",
                       "runtime s:num", "error", "where:where")
OPERATION_COLUMNS = _columns("time:time", "log type:plain", "who", "service", "destination", "target", "action:plain",
                             "command or message", "exit code:plain", "listed because:plain", "where:where")


class _Builder:
    def __init__(self, loaded: Loaded, queries: Queries, content: ReviewContent, tuning: Tuning, period: Period) -> None:
        self.loaded = loaded
        self.q = queries
        self.content = content
        self.tuning = tuning
        self.period = period

    # -- deploys ----------------------------------------------------------------------------------------
    def deploys(self) -> Section:
        q = self.q
        totals, runs = q.deploy_totals(), q.run_totals()
        section = Section("deploys", "Deploys", (
            "Reconstructed from the audit log of every host: a deploy is `Pulled image`, the role boots and "
            "`Tagging ... as the latest image`; a rollback renames the running container and boots the old version "
            "without a pull. A deploy without the tag failed (or was still running when the log was collected). The same "
            f"deploy on several hosts (started within {DEPLOY_GAP_SECONDS} s) counts once. Kamal's own run records "
            "(Kamal 2.12 `output: otel`) are listed separately: they come from the deployer, not from the hosts."))
        section.figures = [Figure("deploys", totals["all"]), Figure("succeeded", totals["success"]),
                           Figure("partly failed", totals["partial"], totals["partial"] > 0),
                           Figure("failed", totals["failure"], totals["failure"] > 0),
                           Figure("rollbacks", totals["rollback"], totals["rollback"] > 0),
                           Figure("Kamal runs (run records)", runs["all"])]
        days = q.days()
        per_day = q.deploys_per_day()
        section.blocks.append(Chart(
            "chart-deploys-per-day", "Deploys per day, by outcome", tuple(d.isoformat() for d in days),
            tuple(Series(o, OUTCOME_COLORS[o], tuple(per_day.get((d, o), 0) for d in days)) for o in OUTCOMES),
            "vertical", "No deploys in this period", "deploys"))
        day_rows = [(d.isoformat(), sum(per_day.get((d, o), 0) for o in OUTCOMES), *(per_day.get((d, o), 0) for o in OUTCOMES))
                    for d in days if any(per_day.get((d, o), 0) for o in OUTCOMES)]
        section.blocks.append(Table(_columns("day:time", "deploys:num", "success:num", "partial:num", "failure:num"),
                                    _rows(day_rows), "No deploys in this period.", "Deploys per day"))
        by_place = q.deploys_by("service", "destination")
        section.blocks.append(Table(_columns("service", "destination", "deploys:num", "success:num", "partial:num", "failure:num",
                                             "rollbacks:num", "first:time", "last:time"),
                                    _rows(by_place), "No deploys in this period.", "Deploys by service and destination"))
        performers = q.deploys_per_performer()
        shown = performers[:PERFORMER_CHART_LIMIT]
        section.blocks.append(Chart(
            "chart-deploys-by-performer", "Deploys by performer, by outcome", tuple(str(p[0]) for p in shown),
            tuple(Series(o, OUTCOME_COLORS[o], tuple(int(p[1 + i]) for p in shown)) for i, o in enumerate(OUTCOMES)),
            "horizontal", "No deploys in this period", "deploys"))
        by_performer = q.deploys_by("performer")
        note = (f"The chart shows the {PERFORMER_CHART_LIMIT} performers with the most deploys; the table shows all."
                if len(performers) > PERFORMER_CHART_LIMIT else None)
        section.blocks.append(Table(_columns("performer", "deploys:num", "success:num", "partial:num", "failure:num", "rollbacks:num",
                                             "first:time", "last:time"),
                                    _rows(by_performer), "No deploys in this period.", "Deploys by performer", note))
        section.blocks.append(Table(DEPLOY_COLUMNS, _rows(q.deploys()), "No deploys in this period.", "Every deploy"))
        section.blocks.append(Table(RUN_COLUMNS, _rows(q.runs()), "No Kamal run records in this period.",
                                    "Kamal runs (run records from the deployer)"))
        return section

    def failures(self) -> Section:
        q = self.q
        failed = [r for r in q.deploys() if r[6] != "success"]
        rollbacks = [r for r in q.deploys() if r[5] == "rollback"]
        failed_runs = q.runs("outcome = 'failure'")
        run_rollbacks = q.runs("command = 'rollback'")
        section = Section("failures", "Failures and rollbacks", (
            "Deploys that did not finish on every host, Kamal runs that ended in an error, and rollbacks (from the audit "
            "log and from Kamal's run records)."))
        section.figures = [Figure("failed or partial deploys", len(failed), bool(failed)),
                           Figure("failed Kamal runs", len(failed_runs), bool(failed_runs)),
                           Figure("rollbacks (audit)", len(rollbacks), bool(rollbacks)),
                           Figure("rollback runs (run records)", len(run_rollbacks), bool(run_rollbacks))]
        section.blocks += [Table(DEPLOY_COLUMNS, _rows(failed), "No failed deploys.", "Failed and partly failed deploys"),
                           Table(RUN_COLUMNS, _rows(failed_runs), "No failed Kamal runs.", "Failed Kamal runs"),
                           Table(DEPLOY_COLUMNS, _rows(rollbacks), "No rollbacks in the audit logs.", "Rollbacks (audit log)"),
                           Table(RUN_COLUMNS, _rows(run_rollbacks), "No rollback runs.", "Rollback runs (run records)")]
        return section

    def operations(self, list_id: str, title: str | None = None) -> tuple[Section, int]:
        operations = self.content.list(list_id)
        rows = self.q.operations(operations)
        section = Section(list_id, title or operations.title, operations.description)
        section.figures = [Figure("events", len(rows), bool(rows) and list_id != "execs")]
        section.blocks.append(Table(OPERATION_COLUMNS, _rows(rows), "None in this period.", operations.title))
        return section, len(rows)

    def secrets_and_destruction(self) -> Section:
        secrets, n_secrets = self.operations("secrets")
        destructive, n_destructive = self.operations("destructive")
        section = Section("sensitive", "Secrets-related and destructive operations", f"{secrets.intro} {destructive.intro}")
        section.figures = [Figure("secrets-related", n_secrets, n_secrets > 0), Figure("destructive", n_destructive, n_destructive > 0)]
        section.blocks = secrets.blocks + destructive.blocks
        return section

    def performers(self) -> Section:
        checks = self.content.performers
        rows = self.q.performers(checks, flagged_only=True)
        deployers = ", ".join(self.tuning.placeholders["kamal_deployers"].values) if "kamal_deployers" in self.tuning.placeholders else ""
        section = Section("performers", "Unattributed or forged performers", (
            "The performer in the audit log and in run records is self-asserted (git user.email, or the OS user). Listed: "
            "performers the parser flagged as forged or odd (brackets or control characters that can shift the audit tags, "
            "tags that disagree with the file name), empty ones, shared or system accounts Kamal fell back to, and anyone "
            f"not in the tuning allowlist kamal_deployers ({deployers or 'not set'}), from {self.tuning.path.name}."))
        section.figures = [Figure("performers listed", len(rows), bool(rows))]
        section.blocks.append(Table(_columns("performer", "why:plain", "events:num", "log types:plain", "destinations", "first seen:time",
                                             "last seen:time", "first line:where"),
                                    _rows(rows), "Every performer is on the allowlist and none is flagged.",
                                    "Performers to explain"))
        return section

    def alerts(self) -> Section:
        q = self.q
        by_level = q.alerts_by_level()
        count = q.alert_count()
        section = Section("alerts", "Alerts by rule and level", (
            "The Sigma rules `kamal-siem hunt` runs, over the same inputs; an alert counts when one of its events is in the "
            "period. Each alert points at its raw lines."))
        section.figures = [Figure(level, by_level[level], by_level[level] > 0 and level in ("critical", "high"))
                           for level in reversed(LEVELS)]
        ordered = tuple(reversed(LEVELS))
        section.blocks.append(Chart("chart-alerts-by-level", "Alerts by level", ordered,
                                    tuple(Series(level, LEVEL_COLORS[level], tuple(by_level[level] if c == level else 0 for c in ordered))
                                          for level in ordered),
                                    "horizontal", "No alerts in this period", "alerts"))
        section.blocks.append(Table(_columns("level:plain", "rule:plain", "rule file:plain", "alerts:num", "events:num", "first:time",
                                             "last:time"),
                                    _rows(q.alerts_by_rule()), "No alerts in this period.", "Alerts by rule"))
        details = q.alert_details(ALERT_DETAIL_LIMIT)
        note = (f"The first {ALERT_DETAIL_LIMIT} of {count} alerts; run `kamal-siem hunt` for all of them."
                if count > ALERT_DETAIL_LIMIT else None)
        section.blocks.append(Table(_columns("time:time", "level:plain", "rule:plain", "who", "what", "where:where"),
                                    _rows(details), "No alerts in this period.", "Every alert", note))
        refused = [(str(rule.path.name), rule.title, why) for rule, why in self.loaded.hunt.refused]
        if refused:
            section.blocks.append(Table(_columns("rule file:plain", "rule:plain", "why not run:plain"), _rows(refused), "",
                                        "Rules the local engine could not run"))
        return section

    def integrity(self) -> Section:
        q = self.q
        errors = q.parse_errors()
        rejected = sum(int(r[2]) for r in errors)
        warnings = q.warnings()
        chains = self.loaded.chains
        findings = q.chain_findings()
        section = Section("integrity", "Parse errors and hook hash chains", (
            "Every line that could not be parsed, with its file, line and reason (whatever its time: a rejected line "
            "has none), and what `kamal-siem verify-chain` finds in the hook emitter's events among the inputs: "
            "deleted (gaps), edited, reordered or truncated events. Chains are checked whole, not only within the period."))
        section.figures = [Figure("rejected lines", rejected, rejected > 0),
                           Figure("lines parsed with warnings", sum(int(r[2]) for r in warnings), bool(warnings)),
                           Figure("chained hook events", chains.result.events),
                           Figure("chains", len(chains.result.chains)),
                           Figure("chain findings", len(findings), bool(findings) or chains.error is not None)]
        section.blocks.append(Table(_columns("file", "lines:plain", "count:num", "reason"), _rows(errors),
                                    "No rejected lines: every line was parsed.", "Rejected lines"))
        if warnings:
            section.blocks.append(Table(_columns("file", "warning", "lines:num", "first line:num", "last line:num"), _rows(warnings), "",
                                        "Lines parsed with warnings"))
        if chains.checked:
            empty = "The hash chains are intact." if chains.error is None else f"Could not verify: {chains.error}"
            checked = ", ".join(chains.checked)
            section.blocks.append(Table(_columns("where", "finding:plain", "detail"), _rows(findings), empty, "Hash-chain findings",
                                        f"Checked: {checked}." + (f" {chains.result.skipped} record(s) without a chain."
                                                                  if chains.result.skipped else "")))
        else:
            section.blocks.append(Table(_columns("where", "finding:plain", "detail"), [],
                                        "No hook events with a hash chain among the inputs (add the hook spool, "
                                        "~/.kamal-siem/spool, or the exported hook events to review them).",
                                        "Hash-chain findings"))
        return section

    def sources(self, covered: tuple[str | None, str | None, int]) -> Section:
        q = self.q
        files, skipped, unreadable, lines, parsed, rejected = q.totals()
        first, last, events = covered
        section = Section("sources", "Period covered and sources read", (
            f"Period: {self.period.description}. Events in the period: {events}, from {first or '-'} to {last or '-'}. "
            "Every line of every file is parsed or rejected with a reason; walked files that are not Kamal logs are "
            "skipped and named here."))
        section.figures = [Figure("files read", files), Figure("files skipped", skipped),
                           Figure("files unreadable", unreadable, unreadable > 0), Figure("lines", lines),
                           Figure("parsed", parsed), Figure("rejected", rejected, rejected > 0),
                           Figure("events in the period", events)]
        untimed = q.untimed()
        if untimed:
            section.figures.append(Figure("events without a time", untimed, True))
        section.blocks.append(Table(_columns("log type:plain", "files:num", "lines:num", "parsed:num", "rejected:num", "events:num",
                                             "in the period:num"),
                                    _rows(q.log_types()), "No Kamal log was read.", "Lines and events per log type"))
        section.blocks.append(Table(_columns("file", "log type:plain", "lines:num", "parsed:num", "rejected:num", "events:num",
                                             "in the period:num", "note", "every line accounted for:plain"),
                                    _rows(q.sources()), "No input.", "Files"))
        return section


def build_report(loaded: Loaded, content: ReviewContent, tuning: Tuning, period: Period, generated_at: str | None) -> Report:
    queries = Queries(loaded.con, period)
    queries.build_deploys()
    queries.build_runs()
    queries.build_alerts()
    builder = _Builder(loaded, queries, content, tuning, period)
    covered = queries.covered()
    execs, n_execs = builder.operations("execs")
    sections = [builder.deploys(), builder.failures(), execs, builder.secrets_and_destruction(), builder.performers(),
                builder.alerts(), builder.integrity(), builder.sources(covered)]
    figures = {s.id: s.figures for s in sections}

    def pick(section: str, label: str, shown: str | None = None) -> Figure:
        found = next(f for f in figures[section] if f.label == label)
        return Figure(shown or label, found.value, found.attention)

    by_level = queries.alerts_by_level()
    summary = [pick("deploys", "deploys"), pick("failures", "failed or partial deploys"), pick("failures", "failed Kamal runs"),
               pick("deploys", "rollbacks"), Figure("execs", n_execs),
               pick("sensitive", "secrets-related", "secrets-related operations"),
               pick("sensitive", "destructive", "destructive operations"),
               pick("performers", "performers listed", "performers to explain"),
               Figure("critical and high alerts", by_level["critical"] + by_level["high"], by_level["critical"] + by_level["high"] > 0),
               Figure("alerts", queries.alert_count()),
               pick("integrity", "rejected lines"), pick("integrity", "chain findings")]
    files, skipped, unreadable, lines, _parsed, _rejected = queries.totals()
    first, last, _events = covered
    end = queries.data_end()
    return Report(
        title="Kamal operations review",
        period=period.description,
        covered=f"{first} to {last}" if first else "no events in the period",
        generated_at=generated_at or (iso(period.until) if period.until else iso(end) if end else "no data"),
        inputs=(f"{files} file(s), {lines} line(s)" + (f", {skipped} file(s) skipped" if skipped else "")
                + (f", {unreadable} input(s) unreadable" if unreadable else "")),
        summary=summary,
        sections=sections,
        checklist=[SignOffItem(text) for text in CHECKLIST],
        notes=[f"Times are UTC. Alerts come from the rules run with the tuning file {tuning.path.name}."],
    )
