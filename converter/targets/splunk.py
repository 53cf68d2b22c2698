"""The Splunk build: the add-on `TA-kamal` (parsing, for forwarders, indexers and search heads), the
content app `kamal_security` (the searches, for search heads) and, with a retention profile, the
index app `kamal_indexes` (for indexers), each under <out>/splunk/ and as a deterministic package
<out>/<app>-<version>.tgz."""

from __future__ import annotations

from pathlib import Path

from .. import __version__
from ..fields import FieldDictionary
from ..retention import RetentionProfile
from ..tuning import Tuning
from .archive import clear_folder, write_tgz
from .splunk_app import APP, app_files
from .splunk_indexes import INDEXES_APP, indexes_app_files
from .splunk_ta import TA, ta_files


def write_app(name: str, files: dict[str, bytes], out_dir: Path) -> list[Path]:
    """The app's folder under <out>/splunk/ (its old content removed) and its package."""
    folder = out_dir / "splunk" / name
    clear_folder(folder)
    for path, data in sorted(files.items()):
        target = out_dir / "splunk" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    package = out_dir / f"{name}-{__version__}.tgz"
    write_tgz(package, files)
    return [folder, package]


def build_splunk(rules_dir: Path, dictionary: FieldDictionary, tuning: Tuning, out_dir: Path,
                 dashboards_dir: Path | None = None, profile: RetentionProfile | None = None) -> tuple[list[Path], list[tuple[str, str]]]:
    """The Splunk packages, with the dashboards of `dashboards_dir` (none when None) in the content
    app, and the index app for the retention `profile` (none when None); returns what was written
    and the rules not built, with the reason."""
    from .splunk_dashboards import splunk_dashboard_files

    views = splunk_dashboard_files(dashboards_dir, rules_dir, dictionary, tuning) if dashboards_dir is not None else {}
    files, refused = app_files(rules_dir, dictionary, tuning, extra=views)
    written = write_app(APP, files, out_dir)
    written += write_app(TA, ta_files(dictionary), out_dir)
    if profile is not None:
        written += write_app(INDEXES_APP, indexes_app_files(profile), out_dir)
    return written, refused
