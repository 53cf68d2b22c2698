"""Retention profiles: how long the Kamal logs stay in each storage tier of a SIEM.

The built-in profiles are integrations/retention/retention.yml (shipped in the wheel); a user adds
their own in a file of the same shape. Each file is checked against
converter/schemas/retention.schema.json and for consistent periods, with errors that name the file
and the line. The Splunk and Elastic targets compile a profile (targets/splunk_indexes.py,
targets/elastic_retention.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .content import content_root
from .errors import ContentError, ContentErrors, KamalSiemError
from .schema_check import schema_errors
from .yamlpos import LineMap, load_yaml

DEFAULT_PROFILE = "default"
NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")  # checked here rather than by the schema, to report the key's own line
SECONDS_PER_DAY = 86400
SPLUNK_MAX_SECONDS = 4294967295  # the highest frozenTimePeriodInSecs indexes.conf accepts


@dataclass(frozen=True)
class Archive:
    """A restorable copy kept `keep_days` after the data leaves the SIEM."""

    keep_days: int
    splunk_frozen_dir: str | None = None  # coldToFrozenDir; None: a commented placeholder


@dataclass(frozen=True)
class ElasticOptions:
    rollover_max_age_days: int = 30
    rollover_max_primary_shard_size: str = "50gb"
    cold_searchable_snapshot: bool = False
    snapshot_repository: str = "kamal-siem-snapshots"


@dataclass(frozen=True)
class SplunkOptions:
    max_total_data_size_mb: int = 500000  # Splunk's own default, written out so that it is seen


@dataclass(frozen=True)
class RetentionProfile:
    name: str
    description: str
    hot_warm_days: int
    cold_days: int
    frozen_days: int
    total_days: int
    reference: str | None = None
    archive: Archive | None = None
    elastic: ElasticOptions = field(default_factory=ElasticOptions)
    splunk: SplunkOptions = field(default_factory=SplunkOptions)
    source: str = ""  # the file it came from
    origin: str = ""  # the same, for generated files: "built-in" or the file's name (no absolute paths)
    line: int | None = None

    @property
    def uses_snapshot_repository(self) -> bool:
        """Whether the Elastic side needs the snapshot repository (archive or searchable snapshots)."""
        return self.archive is not None or self.frozen_days > 0 or (self.cold_days > 0 and self.elastic.cold_searchable_snapshot)

    def summary(self) -> str:
        """One line for people: the periods of each tier."""
        parts = [f"hot/warm {self.hot_warm_days}d"]
        if self.cold_days:
            parts.append(f"cold {self.cold_days}d")
        if self.frozen_days:
            parts.append(f"frozen {self.frozen_days}d (Elastic)")
        text = f"{self.name}: {', '.join(parts)}, total {self.total_days}d"
        if self.archive:
            text += f", then archived {self.archive.keep_days}d"
        return text


def builtin_profiles_path() -> Path:
    return content_root() / "integrations" / "retention" / "retention.yml"


def _days(value: str) -> int:
    return int(value.removesuffix("d"))


def _check(name: str, entry: dict[str, Any], path: Path, lines: LineMap, origin: str) -> tuple[RetentionProfile | None, list[ContentError]]:
    def error(key: list[str | int], reason: str) -> ContentError:
        return ContentError(path, lines.line_of(["profiles", name, *key]), f"profiles/{name}: {reason}")

    errors: list[ContentError] = []
    hot_warm, total = _days(entry["hot_warm"]), _days(entry["total"])
    frozen = _days(entry.get("frozen", "0d"))
    if hot_warm < 1:
        errors.append(error(["hot_warm"], "hot_warm must be at least 1d"))
    if hot_warm > total:
        errors.append(error(["hot_warm"], f"hot_warm ({hot_warm}d) is longer than total ({total}d)"))
    elif hot_warm + frozen > total:
        errors.append(error(["frozen"], f"hot_warm + frozen ({hot_warm + frozen}d) is longer than total ({total}d)"))
    if "cold" in entry:
        cold = _days(entry["cold"])
        if hot_warm + cold + frozen != total:
            errors.append(error(["total"], f"hot_warm + cold + frozen is {hot_warm + cold + frozen}d, but total is {total}d"))
    else:
        cold = max(total - hot_warm - frozen, 0)
    if total * SECONDS_PER_DAY > SPLUNK_MAX_SECONDS:
        errors.append(error(["total"], f"total ({total}d) is longer than Splunk can keep an index "
                                       f"({SPLUNK_MAX_SECONDS // SECONDS_PER_DAY}d, frozenTimePeriodInSecs)"))
    archive = None
    if "archive" in entry:
        keep = _days(entry["archive"]["keep"])
        if keep < 1:
            errors.append(error(["archive", "keep"], "archive keep must be at least 1d (leave `archive` out to keep no copy)"))
        archive = Archive(keep, entry["archive"].get("splunk_frozen_dir"))
    options = entry.get("elastic", {})
    elastic = ElasticOptions(**{k: v for k, v in {
        "rollover_max_age_days": _days(options["rollover_max_age"]) if "rollover_max_age" in options else None,
        "rollover_max_primary_shard_size": options.get("rollover_max_primary_shard_size"),
        "cold_searchable_snapshot": options.get("cold_searchable_snapshot"),
        "snapshot_repository": options.get("snapshot_repository"),
    }.items() if v is not None})
    if elastic.rollover_max_age_days < 1:
        errors.append(error(["elastic", "rollover_max_age"], "rollover_max_age must be at least 1d"))
    if elastic.cold_searchable_snapshot and cold == 0:
        errors.append(error(["elastic", "cold_searchable_snapshot"], "cold_searchable_snapshot, but the profile has no cold days"))
    splunk = SplunkOptions(**entry.get("splunk", {}))
    if errors:
        return None, errors
    return RetentionProfile(name=name, description=" ".join(entry["description"].split()), hot_warm_days=hot_warm,
                            cold_days=cold, frozen_days=frozen, total_days=total, reference=entry.get("reference"),
                            archive=archive, elastic=elastic, splunk=splunk, source=str(path), origin=origin,
                            line=lines.line_of(["profiles", name])), []


def load_profile_file(path: Path, origin: str | None = None) -> dict[str, RetentionProfile]:
    """The profiles of one file; every problem is reported with its file and line. `origin` names the
    file in generated output (default: its name)."""
    origin = origin or path.name
    data, lines = load_yaml(path)
    errors = schema_errors(data, lines, path, "retention.schema.json")
    profiles: dict[str, RetentionProfile] = {}
    if not errors:
        for name, entry in data["profiles"].items():
            if not NAME.fullmatch(name):
                errors.append(ContentError(path, lines.line_of(["profiles", name]),
                                           f"profiles/{name}: a profile name is lowercase letters, digits and '-', "
                                           f"starting with a letter, at most 40 characters"))
                continue
            profile, problems = _check(name, entry, path, lines, origin)
            errors += problems
            if profile is not None:
                profiles[name] = profile
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ContentErrors(sorted(errors, key=lambda e: (e.line or 0, e.reason)))
    return profiles


def load_profiles(extra: Path | None = None) -> dict[str, RetentionProfile]:
    """The built-in profiles, plus those of `extra` (a user's file), which may not reuse a built-in name."""
    builtin = builtin_profiles_path()
    profiles = load_profile_file(builtin, "built-in")
    if extra is None or extra.resolve() == builtin.resolve():
        return profiles
    own = load_profile_file(extra)
    clashes = [ContentError(extra, p.line, f"profiles/{name}: `{name}` is a built-in profile ({builtin}): give yours another name")
               for name, p in own.items() if name in profiles]
    if clashes:
        raise clashes[0] if len(clashes) == 1 else ContentErrors(clashes)
    return {**profiles, **own}


def select_profile(name: str = DEFAULT_PROFILE, extra: Path | None = None) -> RetentionProfile:
    """The profile called `name`, from the built-in ones and `extra`."""
    profiles = load_profiles(extra)
    if name not in profiles:
        raise KamalSiemError(f"no retention profile {name!r}: choose one of {', '.join(sorted(profiles))}"
                             + ("" if extra else " (or define your own with --retention-file)"))
    return profiles[name]
