"""The Splunk build: the content app's files under <out>/splunk/ and its deterministic package."""

from __future__ import annotations

from pathlib import Path

from .. import __version__
from ..fields import FieldDictionary
from ..tuning import Tuning
from .archive import write_tgz
from .splunk_app import APP, app_files


def build_splunk(rules_dir: Path, dictionary: FieldDictionary, tuning: Tuning, out_dir: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    files, refused = app_files(rules_dir, dictionary, tuning)
    written = []
    for name, data in sorted(files.items()):
        path = out_dir / "splunk" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    written.append(out_dir / "splunk" / APP)
    package = out_dir / f"{APP}-{__version__}.tgz"
    write_tgz(package, files)
    written.append(package)
    return written, refused
