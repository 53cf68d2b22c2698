"""The Elastic version lock (elastic-version-lock.json): each rule's version and the hash of its
body. Kibana updates an imported rule in place when its `rule_id` matches and its `version` grows,
so a rule whose body changed gets the next version, recorded with `kamal-siem build --update-lock`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def body_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def load_lock(path: Path) -> dict[str, dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def apply_lock(bodies: list[dict[str, Any]], lock: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Set each body's `version`; return the lock as it should be and the rules whose entry changed."""
    new_lock: dict[str, dict[str, Any]] = {}
    changed = []
    for body in bodies:
        digest = body_hash(body)
        entry = lock.get(body["rule_id"])
        if entry is not None and entry["sha256"] == digest:
            version = entry["version"]
        else:
            version = entry["version"] + 1 if entry is not None else 1
            changed.append(body["rule_id"])
        body["version"] = version
        new_lock[body["rule_id"]] = {"name": body["name"], "sha256": digest, "version": version}
    return dict(sorted(new_lock.items())), changed


def dump_lock(lock: dict[str, dict[str, Any]]) -> str:
    return json.dumps(lock, indent=2, ensure_ascii=False) + "\n"
