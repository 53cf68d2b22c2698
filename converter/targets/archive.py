"""Deterministic archives: the same files give the same bytes (sorted entries, fixed times, owners
and modes), so a build can be checked by its hash."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

FIXED_TIME = 946684800  # 2000-01-01T00:00:00Z: zip cannot store times before 1980


def clear_folder(folder: Path) -> None:
    """Remove what an earlier build left in `folder` (its files, then its folders), keeping `folder`."""
    if not folder.exists():
        return
    for old in sorted(folder.rglob("*"), reverse=True):  # files before their folders
        if old.is_dir() and not old.is_symlink():
            old.rmdir()
        else:
            old.unlink()


def write_zip(target: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])


def write_tgz(target: Path, files: dict[str, bytes]) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        directories = sorted({str(Path(name).parents[i]) for name in files for i in range(len(Path(name).parents) - 1)})
        for name in directories:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, FIXED_TIME
            archive.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, FIXED_TIME
            archive.addfile(info, io.BytesIO(files[name]))
    with target.open("wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as packed:
        packed.write(raw.getvalue())
