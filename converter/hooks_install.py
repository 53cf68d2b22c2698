"""`kamal-siem hooks install APP_DIR`: put the hook emitter into a Kamal app's hooks folder.

The emitter (integrations/hooks/kamal-siem/emitter.rb, Ruby's standard library only) goes to
`<hooks>/kamal-siem/`, and a small wrapper script goes to `<hooks>/<hook>` for every Kamal hook. An
app's own hook is not overwritten: it is renamed `<hook>.kamal-siem-chained`, and the wrapper runs it
after recording the event, with the same arguments, environment and standard input, ending with its
exit status. Installing again is a no-op (or an upgrade); `kamal-siem hooks uninstall` puts the app's
hooks back. `<hooks>` is `.kamal/hooks`, or `hooks_path:` of config/deploy.yml (and of the
destination files config/deploy.<destination>.yml).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import click
import yaml

from .content import parsers_dir

HOOKS = ("pre-connect", "pre-build", "pre-deploy", "post-deploy", "pre-app-boot", "post-app-boot",
         "pre-proxy-reboot", "post-proxy-reboot", "docker-setup")
CHAINED_SUFFIX = ".kamal-siem-chained"
MARKER = "kamal-siem-hook-wrapper"
EMITTER_DIR = "kamal-siem"
# files of <hooks>/kamal-siem/ that install owns (config.yml is the user's)
BUNDLE_FILES = ("emitter.rb", "redaction.json", "config.example.yml")
DEFAULT_HOOKS_PATH = ".kamal/hooks"

_PACKAGE = Path(__file__).resolve().parent

WRAPPER = '''#!/usr/bin/env ruby
# frozen_string_literal: true
#
# {marker}: {hook}
#
# Kamal runs this file as its `{hook}` hook. It records the run as one kamal-siem `run` event
# (spooled, then delivered to the configured SIEM destinations), then runs the app's own hook,
# `{hook}{suffix}` beside this file, if there is one, with the same arguments, environment
# and standard input, and ends with its exit status.
# Installed by `kamal-siem hooks install`; `kamal-siem hooks uninstall` restores the app's own hook.

hook = "{hook}"
wrapper = File.expand_path(__FILE__)
begin
  require File.join(File.dirname(wrapper), "{emitter_dir}", "emitter")
rescue StandardError, ScriptError => e
  warn "kamal-siem: #{{hook}}: the emitter did not load (#{{e.class}}); this run is not recorded"
end
if defined?(KamalSiem::Hook)
  KamalSiem::Hook.main(hook, wrapper, ARGV)
else
  chained = "#{{wrapper}}{suffix}"
  exec([chained, chained], *ARGV) if File.exist?(chained) || File.symlink?(chained)
end
'''


class HooksError(Exception):
    """A problem that stops install or uninstall before anything is changed."""


@dataclass
class Report:
    """What install or uninstall did (or would do), one (action, path) per file."""

    actions: list[tuple[str, Path]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, action: str, path: Path) -> None:
        self.actions.append((action, path))


def bundle_dir() -> Path:
    """integrations/hooks: inside the wheel's content, or in the checkout."""
    for candidate in (_PACKAGE / "_content" / "integrations" / "hooks", _PACKAGE.parent / "integrations" / "hooks"):
        if (candidate / EMITTER_DIR / "emitter.rb").is_file():
            return candidate
    raise HooksError("the hook emitter (integrations/hooks/kamal-siem/emitter.rb) is not installed with kamal-siem")


def render_wrapper(hook: str) -> str:
    if hook not in HOOKS:
        raise ValueError(f"not a Kamal hook: {hook}")
    return WRAPPER.format(marker=MARKER, hook=hook, suffix=CHAINED_SUFFIX, emitter_dir=EMITTER_DIR)


def render_redaction(path: Path | None = None) -> str:
    """parsers/redaction.yml's rules as Ruby regexes (the emitter masks with them too)."""
    path = path or parsers_dir() / "redaction.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rules = [{"name": rule["name"], "pattern": f"(?<before>{rule['before']})(?<secret>{rule['secret']})(?<after>{rule['after']})"}
             for rule in data["rules"]]
    document = {"generated_from": "parsers/redaction.yml (kamal-siem hooks install)", "replacement": data["replacement"],
                "rules": rules}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def bundle_contents() -> dict[str, tuple[bytes, int]]:
    """Every file install writes, relative to the hooks folder: content and mode."""
    files: dict[str, tuple[bytes, int]] = {hook: (render_wrapper(hook).encode(), 0o755) for hook in HOOKS}
    source = bundle_dir() / EMITTER_DIR
    for name in BUNDLE_FILES:
        content = render_redaction().encode() if name == "redaction.json" else (source / name).read_bytes()
        files[f"{EMITTER_DIR}/{name}"] = (content, 0o644)
    return files


_TOP_LEVEL = re.compile(r"^hooks_path:[ \t]*(?P<value>.*?)[ \t]*$", re.MULTILINE)


def _hooks_path_of(deploy_file: Path) -> str | None:
    match = _TOP_LEVEL.search(deploy_file.read_text(encoding="utf-8", errors="replace"))
    if not match:
        return None
    value = match.group("value")
    if "<%" in value:
        raise HooksError(f"{deploy_file}: hooks_path is computed by ERB; name the folder with --hooks-path")
    if value[:1] in ("'", '"'):
        end = value.find(value[0], 1)
        value = value[1:end] if end > 0 else value[1:]
    else:
        value = re.sub(r"[ \t]+#.*$", "", value)
    try:
        parsed = yaml.safe_load(value) if value else None
    except yaml.YAMLError:
        parsed = value
    if parsed in (None, ""):
        return None
    return str(parsed)


def hooks_dirs(app_dir: Path, override: str | None = None) -> list[Path]:
    """The hooks folders Kamal uses for this app (relative paths are relative to the app, where
    `kamal` runs): --hooks-path, else hooks_path of config/deploy.yml and of each destination file."""
    if override:
        return [(app_dir / override).resolve()]
    found: list[str] = []
    config = app_dir / "config"
    base = config / "deploy.yml"
    base_path = _hooks_path_of(base) if base.is_file() else None
    found.append(base_path or DEFAULT_HOOKS_PATH)
    for overlay in sorted(config.glob("deploy.*.yml")):
        value = _hooks_path_of(overlay)
        if value:
            found.append(value)
    unique: list[Path] = []
    for value in found:
        path = (app_dir / os.path.expanduser(value)).resolve()
        if path not in unique:
            unique.append(path)
    return unique


def is_wrapper(path: Path) -> bool:
    """Whether `path` is one of our wrappers (a regular file with our marker near the top)."""
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as f:
        return MARKER.encode() in f.read(1024)


def _write(path: Path, content: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def install(app_dir: Path, hooks_path: str | None = None, dry_run: bool = False) -> Report:
    """Install (or upgrade) the emitter and the wrappers; idempotent."""
    app_dir = Path(app_dir)
    if not app_dir.is_dir():
        raise HooksError(f"{app_dir} is not a folder")
    files = bundle_contents()
    report = Report()
    dirs = hooks_dirs(app_dir, hooks_path)
    for directory in dirs:  # refuse conflicts before changing anything
        if _exists(directory) and not directory.is_dir():
            raise HooksError(f"{directory} is not a folder")
        for hook in HOOKS:
            path, chained = directory / hook, directory / f"{hook}{CHAINED_SUFFIX}"
            if _exists(path) and not is_wrapper(path) and _exists(chained):
                raise HooksError(f"{path} is not kamal-siem's wrapper and {chained.name} exists too: "
                                 "merge them by hand, then install again")
            if path.is_dir():
                raise HooksError(f"{path} is a folder, not a hook")
    for directory in dirs:
        for relative, (content, mode) in files.items():
            path = directory / relative
            if relative in HOOKS and _exists(path) and not is_wrapper(path):
                chained = directory / f"{relative}{CHAINED_SUFFIX}"
                report.add("chained", chained)
                if not dry_run:
                    os.rename(path, chained)  # keeps the app's hook as it was: content, mode, symlink
            elif _exists(path):
                same = path.read_bytes() == content and (path.stat().st_mode & 0o777) == mode
                if same:
                    report.add("unchanged", path)
                    continue
                report.add("updated", path)
                if not dry_run:
                    _write(path, content, mode)
                continue
            report.add("installed", path)
            if not dry_run:
                _write(path, content, mode)
        if not (directory / EMITTER_DIR / "config.yml").exists():
            report.notes.append(f"no {directory / EMITTER_DIR / 'config.yml'}: events are only spooled until you configure "
                                f"destinations (see {EMITTER_DIR}/config.example.yml), or use ~/.kamal-siem/config.yml")
    return report


def uninstall(app_dir: Path, hooks_path: str | None = None, dry_run: bool = False) -> Report:
    """Remove the wrappers and the emitter, and give the app its own hooks back. The user's
    kamal-siem/config.yml and the spool stay."""
    app_dir = Path(app_dir)
    report = Report()
    for directory in hooks_dirs(app_dir, hooks_path):
        for hook in HOOKS:
            path, chained = directory / hook, directory / f"{hook}{CHAINED_SUFFIX}"
            if is_wrapper(path):
                report.add("removed", path)
                if not dry_run:
                    path.unlink()
                if _exists(chained):
                    report.add("restored", path)
                    if not dry_run:
                        os.rename(chained, path)
            elif _exists(path):
                if _exists(chained):
                    report.notes.append(f"{path} is not kamal-siem's wrapper: left it and {chained.name} alone")
            elif _exists(chained):
                report.add("restored", path)
                if not dry_run:
                    os.rename(chained, path)
        emitter_dir = directory / EMITTER_DIR
        for name in BUNDLE_FILES:
            path = emitter_dir / name
            if _exists(path):
                report.add("removed", path)
                if not dry_run:
                    path.unlink()
        if emitter_dir.is_dir():
            left = sorted(p.name for p in emitter_dir.iterdir())
            if dry_run:
                left = [name for name in left if name not in BUNDLE_FILES]
            if not left:
                report.add("removed", emitter_dir)
                if not dry_run:
                    emitter_dir.rmdir()
            else:
                report.notes.append(f"kept {emitter_dir} ({', '.join(left)})")
    return report


def _print(report: Report, dry_run: bool) -> None:
    prefix = "would be " if dry_run else ""
    for action, path in report.actions:
        click.echo(f"{prefix}{action:9} {path}")
    for note in report.notes:
        click.echo(f"note: {note}", err=True)


@click.group("hooks")
def hooks() -> None:
    """The Kamal hook emitter: record every Kamal hook run as a `run` event for the SIEM."""


@hooks.command("install")
@click.argument("app_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--hooks-path", default=None, metavar="PATH",
              help="The app's hooks folder (relative to APP_DIR), instead of hooks_path of config/deploy.yml.")
@click.option("--dry-run", is_flag=True, help="Show what would change, change nothing.")
def install_command(app_dir: Path, hooks_path: str | None, dry_run: bool) -> None:
    """Install the emitter into APP_DIR's hooks folder, chaining the app's own hooks."""
    try:
        report = install(app_dir, hooks_path, dry_run)
    except (HooksError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    _print(report, dry_run)


@hooks.command("uninstall")
@click.argument("app_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--hooks-path", default=None, metavar="PATH",
              help="The app's hooks folder (relative to APP_DIR), instead of hooks_path of config/deploy.yml.")
@click.option("--dry-run", is_flag=True, help="Show what would change, change nothing.")
def uninstall_command(app_dir: Path, hooks_path: str | None, dry_run: bool) -> None:
    """Remove the emitter from APP_DIR and restore the app's own hooks."""
    try:
        report = uninstall(app_dir, hooks_path, dry_run)
    except (HooksError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    _print(report, dry_run)


def write_bundle(target: Path | None = None) -> list[Path]:
    """Regenerate the committed wrappers and redaction.json in integrations/hooks (for people who
    copy the folder by hand); a test checks they are current."""
    target = target or bundle_dir()
    written = []
    for relative, (content, mode) in bundle_contents().items():
        if relative in HOOKS or relative.endswith("redaction.json"):
            _write(target / relative, content, mode)
            written.append(target / relative)
    return written


if __name__ == "__main__":  # python -m converter.hooks_install: regenerate integrations/hooks
    for written_path in write_bundle():
        print(written_path)
