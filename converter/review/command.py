"""`kamal-siem review`: the periodic review of Kamal operations from raw logs, as an HTML page or
Markdown for a ticket."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from ..errors import KamalSiemError
from ..fields import default_dictionary
from ..local.rules import LEVELS, compile_rules, default_rules_dir
from ..parsing.definitions import default_definitions
from ..parsing.files import Options
from ..parsing.redaction import default_redactor
from ..parsing.timestamps import TimestampError, resolve_zone
from ..tuning import load_tuning
from .content import load_review_content
from .html import render_html
from .load import Loaded, load
from .markdown import render_markdown
from .model import Report
from .period import PeriodError, PeriodRequest, iso, parse_instant, resolve
from .queries import data_end
from .report import build_report

EXIT_OK, EXIT_ERROR = 0, 2
LOG_TYPES = ["audit", "run", "proxy", "docker", "process"]


@contextmanager
def _status(console: Console, quiet: bool) -> Iterator[Callable[[str], None]]:
    """A spinner naming the current step, on a terminal."""
    if quiet or not console.is_terminal:
        yield lambda _what: None
        return
    with console.status("reading", spinner="dots") as status:
        yield lambda what: status.update(what)


def _format(fmt: str | None, output: Path | None) -> str:
    if fmt is not None:
        return fmt
    return "md" if output is not None and output.suffix.lower() in (".md", ".markdown") else "html"


def make_report(paths: list[str], request: PeriodRequest, options: Options, *, tuning_path: Path | None = None,
                rules_dir: Path | None = None, min_level: str = "informational", generated_at: str | None = None,
                step: Callable[[str], None] | None = None) -> tuple[Report, Loaded]:
    """Read `paths` and build the review for the period asked for (raises KamalSiemError, PeriodError)."""
    tell = step or (lambda _what: None)
    if "-" in paths:
        raise KamalSiemError("the review reads its inputs more than once: save standard input to a file first")
    request.check()
    dictionary = default_dictionary()
    default_definitions()
    default_redactor()
    tuning = load_tuning(tuning_path)
    ruleset = compile_rules(rules_dir or default_rules_dir(), dictionary, tuning)
    content = load_review_content(dictionary, tuning, ruleset)
    loaded = load(paths, options, dictionary, ruleset, tuning, min_level, tell)
    tell("writing the report")
    period = resolve(request, data_end(loaded.con))
    return build_report(loaded, content, tuning, period, generated_at), loaded


@click.command("review")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--since", default=None, metavar="WHEN",
              help="Start of the period: a duration back from --until or from the last event (7d, 24h, 2w) or an ISO date/time.")
@click.option("--until", default=None, metavar="WHEN",
              help="End of the period, included: an ISO date/time (a date alone is its midnight, UTC), or `now` (default: the last event).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the report here (default: standard output).")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default=None,
              help="A self-contained HTML page, or GitHub Markdown for a ticket (default: from the -o suffix, else html).")
@click.option("--tuning", "tuning_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Tuning file: the rules' placeholders and the deployer allowlist (default: the bundled tuning.yml).")
@click.option("--rules", "rules_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of Sigma rules (default: the rules that come with kamal-siem).")
@click.option("--min-level", type=click.Choice(list(LEVELS)), default="informational", show_default=True,
              help="Leave out alerts of rules below this level.")
@click.option("--log-type", type=click.Choice(LOG_TYPES), default=None, help="Read every input as this log type.")
@click.option("--assume-tz", default="UTC", show_default=True, metavar="ZONE", help="Zone of zone-less (MRSK) timestamps.")
@click.option("--generated-at", default=None, metavar="WHEN",
              help="The date the report states it was made (default: the end of the period), an ISO date/time.")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary on stderr.")
def review_command(paths: tuple[str, ...], since: str | None, until: str | None, output: Path | None, fmt: str | None,
                   tuning_path: Path | None, rules_dir: Path | None, min_level: str, log_type: str | None, assume_tz: str,
                   generated_at: str | None, quiet: bool) -> None:
    """Write the periodic review of Kamal operations from raw logs: deploys, failures and rollbacks,
    execs, secrets-related and destructive operations, unattributed or forged performers, alerts,
    parse errors and hook hash-chain findings, with charts and a sign-off section.

    PATHS are files or folders of raw logs (any mix of log types, gzip too; folders walked
    recursively), and hook spools. The same input gives the same report, byte for byte.
    Exit code: 0 written, 2 an input could not be read or the content is invalid (the report is
    still written when it can be)."""
    err = Console(stderr=True)
    if "-" in paths:
        raise click.BadParameter("the review reads its inputs more than once: save standard input to a file first",
                                 param_hint="PATHS")
    request = PeriodRequest(since, until)
    try:
        request.check()
        stamp = iso(parse_instant(generated_at)) if generated_at is not None else None
    except PeriodError as exc:
        raise click.BadParameter(str(exc)) from None
    try:
        zone = resolve_zone(assume_tz)
    except TimestampError as exc:
        raise click.BadParameter(str(exc), param_hint="--assume-tz") from None
    try:
        with _status(err, quiet) as step:
            report, loaded = make_report(list(paths), request, Options(log_type, zone, assume_tz), tuning_path=tuning_path,
                                         rules_dir=rules_dir, min_level=min_level, generated_at=stamp, step=step)
            text = render_markdown(report) if _format(fmt, output) == "md" else render_html(report)
    except PeriodError as exc:
        raise click.BadParameter(str(exc)) from None
    except KamalSiemError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_ERROR)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    problems = [f"{s.source}: {s.failed}" for s in loaded.summary.failed] + [str(e) for e in loaded.hunt.ruleset.errors]
    for problem in problems:
        err.print(f"[red]error:[/red] {escape(problem)}", highlight=False, soft_wrap=True)
    if not quiet:
        figures = ", ".join(f"{f.value} {f.label}" for f in report.summary[:4])
        where = f"written to {output}" if output is not None else "written"
        err.print(escape(f"review of {report.period} {where}: {figures}"), highlight=False, soft_wrap=True)
    sys.exit(EXIT_ERROR if problems else EXIT_OK)
