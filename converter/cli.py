"""The `kamal-siem` command line."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import DownloadColumn, Progress

from . import __version__
from .errors import KamalSiemError
from .parsing.definitions import default_definitions
from .parsing.redaction import default_redactor
from .parsing.files import Options, Summary, expand_inputs, parse_inputs
from .parsing.reader import DEFAULT_MAX_LINE_BYTES
from .parsing.timestamps import TimestampError, resolve_zone
from .hunt_report import write_alerts_json, write_alerts_table, write_hunt_summary
from .local.hunt import hunt as run_hunt
from .local.rules import LEVELS, default_rules_dir
from .tuning import load_tuning
from .parse_report import write_ndjson, write_summary, write_table

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
PROGRESS_BYTES = 50 << 20  # show a progress bar above this much input


def _console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr)
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console = Console(stderr=stderr, width=max(console.width, 160))
    return console


@contextmanager
def _progress(console: Console, paths: list[str], quiet: bool) -> Iterator[Callable[[str, int], None] | None]:
    """A progress bar over the bytes of the inputs, on a terminal, when they are large."""
    sizes = {source: os.path.getsize(source) for source, _explicit in expand_inputs(paths)
             if source != "-" and os.path.isfile(source)}
    if quiet or not console.is_terminal or sum(sizes.values()) < PROGRESS_BYTES:
        yield None
        return
    done: dict[str, int] = {}
    with Progress(*Progress.get_default_columns(), DownloadColumn(), console=console, transient=True) as bar:
        task = bar.add_task("hunting", total=sum(sizes.values()))

        def advance(source: str, position: int) -> None:
            done[source] = min(position, sizes.get(source, position))
            bar.update(task, completed=sum(done.values()))

        yield advance


def _log_types() -> list[str]:
    return ["audit", "run", "proxy", "docker", "process"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kamal-siem")
def main() -> None:
    """Security content for Kamal: parse Kamal's logs into one field dictionary."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["ndjson", "table"]), default="ndjson", show_default=True,
              help="One JSON object per line (events and rejected lines), or a table for people.")
@click.option("--log-type", type=click.Choice(_log_types()), default=None,
              help="Read every input as this log type instead of detecting it from the content.")
@click.option("--assume-tz", default="UTC", show_default=True, metavar="ZONE",
              help="Time zone of timestamps written without one (MRSK-era audit lines), e.g. Europe/Berlin.")
@click.option("--max-line-bytes", type=click.IntRange(min=1024), default=DEFAULT_MAX_LINE_BYTES, show_default=True,
              help="Longer lines are rejected (and skipped without being held in memory).")
@click.option("--strict", is_flag=True, help="Exit 1 when any line was rejected.")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr (problems with inputs are still shown).")
def parse(files: tuple[str, ...], fmt: str, log_type: str | None, assume_tz: str, max_line_bytes: int,
          strict: bool, quiet: bool) -> None:
    """Parse Kamal logs (audit, run, kamal-proxy, Docker events) into normalized events.

    FILES are files or folders (walked recursively, hidden folders included), `-` for standard input;
    gzip is read transparently. Every line comes out in input order, as an event or with an `error`
    saying why it was rejected; a summary goes to stderr.
    """
    err = _console(stderr=True)
    try:
        zone = resolve_zone(assume_tz)
        default_definitions()
        default_redactor()
    except TimestampError as exc:
        raise click.BadParameter(str(exc), param_hint="--assume-tz") from None
    except KamalSiemError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_ERROR)
    summary = Summary()
    events = parse_inputs(list(files), Options(log_type, zone, assume_tz, max_line_bytes), summary)
    try:
        if fmt == "table":
            write_table(events, _console())
        else:
            write_ndjson(events, sys.stdout)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(EXIT_OK)
    if not quiet:
        write_summary(summary, err)
    for skipped in (s for s in summary.sources if s.skipped):
        err.print(f"[yellow]skipped:[/yellow] {escape(skipped.source)}: {escape(skipped.skipped or '')}",
                  highlight=False, soft_wrap=True)
    for failed in summary.failed:
        err.print(f"[red]error:[/red] {escape(failed.source)}: {escape(failed.failed or '')}", highlight=False, soft_wrap=True)
    if summary.failed:
        sys.exit(EXIT_ERROR)
    if strict and summary.rejected:
        sys.exit(EXIT_FINDINGS)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--rules", "rules_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of Sigma rules (default: the rules that come with kamal-siem).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="A table for people, or one JSON object per alert (newline-delimited).")
@click.option("--min-level", type=click.Choice(list(LEVELS)), default="low", show_default=True,
              help="Leave out rules below this level.")
@click.option("--log-type", type=click.Choice(_log_types()), default=None, help="Read every input as this log type.")
@click.option("--assume-tz", default="UTC", show_default=True, metavar="ZONE", help="Zone of zone-less (MRSK) timestamps.")
@click.option("--tuning", "tuning_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Tuning file with the values of the rules' placeholders (default: the bundled tuning.yml).")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
def hunt(paths: tuple[str, ...], rules_dir: Path | None, fmt: str, min_level: str, log_type: str | None,
         assume_tz: str, tuning_path: Path | None, quiet: bool) -> None:
    """Run the Sigma rules over raw Kamal logs, locally (DuckDB), and report alerts.

    PATHS are files or folders of raw logs (any mix of log types, gzip too; folders walked
    recursively, hidden ones included). Each alert names its rule and every raw line that caused it.
    Exit code: 0 no alert, 1 alerts, 2 error.
    """
    err = _console(stderr=True)
    try:
        zone = resolve_zone(assume_tz)
        tuning = load_tuning(tuning_path)
        with _progress(err, list(paths), quiet) as progress:
            result = run_hunt(list(paths), rules_dir or default_rules_dir(), Options(log_type, zone, assume_tz), min_level,
                              progress=progress, tuning=tuning)
    except TimestampError as exc:
        raise click.BadParameter(str(exc), param_hint="--assume-tz") from None
    except KamalSiemError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_ERROR)
    try:
        if fmt == "json":
            write_alerts_json(result, sys.stdout)
        elif result.alerts:
            write_alerts_table(result, _console())
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(EXIT_FINDINGS if result.alerts else EXIT_OK)
    if not quiet or result.ruleset.errors or result.summary.failed:
        write_hunt_summary(result, err)
    if result.ruleset.errors or result.summary.failed:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FINDINGS if result.alerts else EXIT_OK)


@main.command()
@click.argument("rules_dir", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--cases", "cases_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of replay cases (default: tests/replay beside the rules folder).")
@click.option("--tuning", "tuning_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Tuning file with the placeholder values (default: tuning.yml beside the rules folder).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Validation settings (default: validation.yml beside the rules folder).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--junitxml", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write a JUnit XML report here.")
@click.option("-v", "--verbose", is_flag=True, help="Also list which Elastic query languages refuse which rules, and why.")
def validate(rules_dir: Path | None, cases_dir: Path | None, tuning_path: Path | None, config_path: Path | None,
             fmt: str, junitxml: Path | None, verbose: bool) -> None:
    """Check every rule, offline: YAML, schema, Sigma and SigmaHQ validators, ids and titles, ATT&CK
    tags, fields, placeholders, conversion for every target, and the replay cases.

    RULES_DIR defaults to ./sigma_rules (or the rules that come with kamal-siem). Exit code 1 when
    there is an error, 0 otherwise."""
    from .validation.output import junit_xml, write_human, write_json
    from .validation.run import validate as run_validate

    rules_dir = rules_dir or (Path("sigma_rules") if Path("sigma_rules").is_dir() else default_rules_dir())
    base = rules_dir.resolve().parent
    cases_dir = cases_dir or base / "tests" / "replay"
    tuning_path = tuning_path or (base / "tuning.yml" if (base / "tuning.yml").exists() else None)
    config_path = config_path or (base / "validation.yml" if (base / "validation.yml").exists() else None)
    try:
        report = run_validate(rules_dir, cases_dir, tuning_path, config_path, root=Path.cwd())
    except KamalSiemError as exc:
        _console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(EXIT_ERROR)
    if fmt == "json":
        write_json(report, sys.stdout)
    else:
        write_human(report, _console(), verbose)
    if junitxml is not None:
        junitxml.write_bytes(junit_xml(report))
    sys.exit(EXIT_FINDINGS if report.errors else EXIT_OK)


@main.group()
def pipelines() -> None:
    """The pySigma processing pipelines generated from the field dictionary and the tuning file."""


@pipelines.command("export")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("dist/pipelines"),
              show_default=True, help="Folder to write kamal-siem-<target>.yml into.")
@click.option("--target", "targets", type=click.Choice(["local", "splunk", "elastic"]), multiple=True,
              help="Only these targets (default: all).")
@click.option("--tuning", "tuning_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Tuning file with the placeholder values (default: the bundled tuning.yml).")
def pipelines_export(out_dir: Path, targets: tuple[str, ...], tuning_path: Path | None) -> None:
    """Write the pipelines as pySigma YAML, for `sigma convert -t <backend> -p <file>`."""
    from .fields import default_dictionary
    from .pipelines import TARGETS, export_yaml

    try:
        dictionary, tuning = default_dictionary(), load_tuning(tuning_path)
    except KamalSiemError as exc:
        _console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(EXIT_ERROR)
    out_dir.mkdir(parents=True, exist_ok=True)
    for target in targets or TARGETS:
        path = out_dir / f"kamal-siem-{target}.yml"
        path.write_text(export_yaml(target, dictionary, tuning), encoding="utf-8")
        click.echo(str(path))


@main.command()
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("docs"), show_default=True)
@click.option("--rules", "rules_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("sigma_rules"),
              show_default=True)
@click.option("--cases", "cases_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("tests/replay"), show_default=True)
def docs(out_dir: Path, rules_dir: Path, cases_dir: Path) -> None:
    """Write the rule catalogue (rules.md) and an ATT&CK Navigator layer (attack-navigator-layer.json)."""
    from .docs import write_docs

    base = rules_dir.resolve().parent
    try:
        tuning = load_tuning(base / "tuning.yml" if (base / "tuning.yml").exists() else None)
        written = write_docs(rules_dir, cases_dir, tuning, out_dir, Path.cwd())
    except KamalSiemError as exc:
        _console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(EXIT_ERROR)
    for path in written:
        click.echo(str(path))



@main.command()
@click.option("--target", type=click.Choice(["splunk", "elastic", "all"]), default="all", show_default=True,
              help="What to build: the Splunk content app, the Elastic bundle, or both.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("dist"), show_default=True)
@click.option("--rules", "rules_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("sigma_rules"),
              show_default=True)
@click.option("--dashboards", "dashboards_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Dashboard definitions (default: dashboards/ beside the rules folder, when it exists).")
@click.option("--update-lock", is_flag=True, help="Record changed rules' new versions in elastic-version-lock.json.")
@click.option("--retention", "retention_name", default="default", show_default=True, metavar="PROFILE",
              help="Retention profile for the Splunk index app and the Elastic ILM policy: default, pci-dss, hipaa, sox, "
                   "or one of --retention-file (docs/retention.md).")
@click.option("--retention-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Your own retention profiles (default: retention.yml beside the rules folder, when it exists).")
def build(target: str, out_dir: Path, rules_dir: Path, dashboards_dir: Path | None, update_lock: bool,
          retention_name: str, retention_file: Path | None) -> None:
    """Compile the rules for a SIEM: deterministic files and archives under the output folder.

    Splunk: the add-on TA-kamal, the content app kamal_security and the index app kamal_indexes
    (.tgz each, AppInspect-clean). Elastic: detection rules, ES|QL hunting queries, Kibana data views
    and dashboards, ingest pipelines, templates and the ILM policy (one .zip). The retention profile
    sets the index's and the ILM policy's periods. Prints what each archive holds."""
    from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from .fields import default_dictionary
    from .retention import select_profile
    from .targets.elastic import ElasticBuild, build_elastic, write_elastic
    from .targets.splunk import build_splunk
    from .targets.summary import describe

    base = rules_dir.resolve().parent
    lock_path = base / "elastic-version-lock.json"
    if dashboards_dir is None and (base / "dashboards").is_dir():
        dashboards_dir = base / "dashboards"
    if retention_file is None and (base / "retention.yml").is_file():
        retention_file = base / "retention.yml"
    err = _console(stderr=True)
    written: list[Path] = []
    refusals: list[str] = []
    elastic: ElasticBuild | None = None
    steps = [s for s in ("splunk", "elastic") if target in (s, "all")]
    try:
        tuning = load_tuning(base / "tuning.yml" if (base / "tuning.yml").exists() else None)
        profile = select_profile(retention_name, retention_file)
        dictionary = default_dictionary()
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=err, transient=True, disable=not err.is_terminal) as progress:
            task = progress.add_task("building", total=len(steps))
            for step in steps:
                if step == "splunk":
                    progress.update(task, description="Splunk: TA-kamal, kamal_security and kamal_indexes")
                    paths, refused = build_splunk(rules_dir, dictionary, tuning, out_dir, dashboards_dir, profile)
                    written += paths
                    refusals += [f"[yellow]not built for Splunk:[/yellow] {escape(f)}: {escape(why)}" for f, why in refused]
                else:
                    progress.update(task, description="Elastic: rules, hunting queries, Kibana objects, ingest")
                    elastic = build_elastic(rules_dir, Path.cwd(), dictionary, tuning, lock_path, dashboards_dir, profile)
                    written += write_elastic(elastic, out_dir)
                    refusals += [f"[yellow]not built for Elastic:[/yellow] {escape(f)}: {escape(why)}" for f, why in elastic.refused]
                progress.advance(task)
    except KamalSiemError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(EXIT_ERROR)
    table = Table(title=f"kamal-siem build → {out_dir}, retention profile {profile.summary()}", title_justify="left")
    for column in ("artifact", "files", "bytes", "sha256", "holds"):
        table.add_column(column, justify="right" if column in ("files", "bytes") else "left",
                         overflow="fold" if column == "holds" else "ellipsis")
    for path in written:
        if path.suffix in (".tgz", ".zip") and path.is_file():
            item = describe(path)
            table.add_row(str(item.path), str(item.members), str(item.size), item.sha256[:16], item.holds)
    _console().print(table)
    for line in refusals:
        err.print(line)
    if elastic is not None and elastic.lock_changed:
        if update_lock:
            lock_path.write_text(elastic.lock, encoding="utf-8")
            err.print(f"{len(elastic.lock_changed)} rule version(s) recorded in {lock_path.name}")
        else:
            err.print(f"[yellow]{len(elastic.lock_changed)} rule(s) changed since {lock_path.name}:[/yellow] "
                      "run `kamal-siem build --update-lock` and commit the lock, so Kibana updates them in place")


def _register_integrations() -> None:
    from .hooks_install import hooks as hooks_group
    from .verify_chain import verify_chain_command

    from .review.command import review_command

    main.add_command(hooks_group)
    main.add_command(verify_chain_command)
    main.add_command(review_command)


_register_integrations()

if __name__ == "__main__":
    main()
