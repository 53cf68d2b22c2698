"""What `kamal-siem build` wrote, for the summary table: per archive its members, size and digest,
and what it holds (rules by kind, dashboards, pipelines)."""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Artifact:
    path: Path
    members: int
    size: int
    sha256: str
    holds: str  # what is in it, for people


def _members(path: Path) -> list[tuple[str, bytes]]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            return [(name, archive.read(name)) for name in archive.namelist() if not name.endswith("/")]
    with tarfile.open(path) as archive:
        out = []
        for member in archive.getmembers():
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is not None:
                out.append((member.name, handle.read()))
        return out


def _holds(members: list[tuple[str, bytes]]) -> str:
    parts: list[str] = []
    names = [name for name, _ in members]
    for name, data in members:
        if name.endswith("default/savedsearches.conf"):
            searches = sum(1 for line in data.decode().splitlines() if line.startswith("[") and line.strip() != "[default]")
            parts.append(f"{searches} saved searches")
        elif name.endswith("default/props.conf"):
            sourcetypes = sum(1 for line in data.decode().splitlines() if line.startswith("[") and ":" in line)
            parts.append(f"{sourcetypes} sourcetypes")
        elif name.endswith("detection-rules.ndjson"):
            kinds = Counter(json.loads(line)["type"] for line in data.decode().splitlines() if line.strip())
            parts.append("rules: " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())))
        elif name.endswith("default/indexes.conf"):
            frozen = re.findall(r"^frozenTimePeriodInSecs = (\d+)$", data.decode(), re.M)
            indexes = [line[1:-1] for line in data.decode().splitlines() if line.startswith("[") and line.strip() != "[default]"]
            parts.append(", ".join(f"index {i}" for i in indexes) + "".join(f", frozen after {int(f) // 86400} days" for f in frozen))
        elif name.startswith("ilm/") and name.endswith(".json"):
            phases = json.loads(data)["policy"]["phases"]
            parts.append(f"ILM {' > '.join(p for p in ('hot', 'warm', 'cold', 'frozen', 'delete') if p in phases)}"
                         + (f" at {phases['delete']['min_age']}" if "delete" in phases else ""))
        elif name.startswith("slm/") and name.endswith(".json"):
            parts.append(f"SLM archive kept {json.loads(data).get('retention', {}).get('expire_after', 'forever')}")
        elif name.endswith("kibana-objects.ndjson"):
            kinds = Counter(json.loads(line).get("type") for line in data.decode().splitlines() if line.strip())
            parts.append(f"{kinds.get('dashboard', 0)} dashboards, {kinds.get('index-pattern', 0)} data views")
    views = sum(1 for n in names if "/data/ui/views/" in n)
    if views:
        parts.append(f"{views} dashboards")
    for folder, label in (("ingest-pipelines/", "ingest pipelines"), ("index-templates/", "index templates"),
                          ("hunting/", "hunting queries"), ("lookups/", "lookups")):
        count = sum(1 for n in names if f"/{folder}" in f"/{n}")
        if count:
            parts.append(f"{count} {label}")
    return "; ".join(parts)


def describe(path: Path) -> Artifact:
    data = path.read_bytes()
    members = _members(path)
    return Artifact(path, len(members), len(data), hashlib.sha256(data).hexdigest(), _holds(members))
