"""The Elastic bundle: detection rules as Kibana's import NDJSON, with the version lock applied, and the
Elasticsearch side (ingest pipelines, component and index templates, the ILM policy, install.sh)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..fields import FieldDictionary
from ..local.rules import rule_files
from ..retention import RetentionProfile
from ..tuning import Tuning
from .archive import clear_folder, write_zip
from .elastic_assets import elastic_assets
from .elastic_rules import elastic_content
from .kibana_objects import SAVED_OBJECTS_FILE, kibana_saved_objects
from .version_lock import apply_lock, dump_lock, load_lock

RULES_FILE = "kamal-siem-detection-rules.ndjson"


@dataclass
class ElasticBuild:
    files: dict[str, bytes] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (rule file, why)
    hunting_refused: list[tuple[str, str]] = field(default_factory=list)  # (rule file, why no hunting query)
    lock: str = ""
    lock_changed: list[str] = field(default_factory=list)


def build_elastic(rules_dir: Path, root: Path, dictionary: FieldDictionary, tuning: Tuning, lock_path: Path,
                  dashboards_dir: Path | None = None, profile: RetentionProfile | None = None) -> ElasticBuild:
    """Rules (with the lock applied), ES|QL hunting queries, Kibana data views and the dashboards of
    `dashboards_dir` (data views only when None), and the Elasticsearch side, its ILM policy (and SLM
    policy) from the retention `profile` (None: elastic_templates.DEFAULT_RETENTION)."""
    build = ElasticBuild()
    content = elastic_content(rule_files(rules_dir), root, dictionary, tuning)
    rules = content.rules
    bodies = [r.body for r in rules if r.body is not None]
    build.refused = [(str(r.path), r.refused) for r in rules if r.refused]
    build.hunting_refused = list(content.hunting_refused)
    build.files.update(content.hunting)
    build.files[SAVED_OBJECTS_FILE] = kibana_saved_objects(dashboards_dir, rules_dir, dictionary, tuning)
    lock, build.lock_changed = apply_lock(bodies, load_lock(lock_path))
    build.lock = dump_lock(lock)
    build.files[RULES_FILE] = "".join(json.dumps(b, sort_keys=True, ensure_ascii=False) + "\n" for b in bodies).encode()
    build.files.update(elastic_assets(dictionary, profile))
    return build


def write_elastic(build: ElasticBuild, out_dir: Path) -> list[Path]:
    """The bundle unpacked under <out>/elastic/ (what an earlier build left there removed) and zipped."""
    folder = out_dir / "elastic"
    clear_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in sorted(build.files.items()):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        written.append(folder / name)
    archive = out_dir / "kamal-siem-elastic.zip"
    write_zip(archive, build.files)
    written.append(archive)
    return written
