"""A retention profile as Elasticsearch policies: the ILM policy of the kamal-siem data streams and,
when the profile keeps an archive, the SLM policy that snapshots them (ILM's delete phase waits for
its snapshot). Bodies of `PUT _ilm/policy/<name>` and `PUT _slm/policy/<name>`.

Phase ages count from the rollover of a backing index, so a document written just after a rollover
reaches each phase up to `rollover_max_age` later than its own age says: every document is kept at
least `total` days, at most `total` plus `rollover_max_age`."""

from __future__ import annotations

from typing import Any

from ..retention import RetentionProfile
from .elastic_templates import META, POLICY

SLM_POLICY = "kamal-siem-archive"
SLM_SCHEDULE = "0 30 2 * * ?"  # daily, 02:30 UTC (SLM's retention task runs at 01:30 by default)
# the data streams of every log type and the router's (data stream names: a snapshot takes their backing indices)
SNAPSHOT_INDICES = ["logs-kamal.*-*", "logs-kamal-*"]


def _days(days: int) -> str:
    return f"{days}d"


def ilm_policy_for(profile: RetentionProfile) -> dict[str, Any]:
    """hot (rollover) -> warm (read-only, force-merged) -> cold -> frozen (optional) -> delete."""
    options = profile.elastic
    repository = {"snapshot_repository": options.snapshot_repository}
    phases: dict[str, Any] = {
        "hot": {"min_age": "0ms", "actions": {
            "rollover": {"max_age": _days(options.rollover_max_age_days),
                         "max_primary_shard_size": options.rollover_max_primary_shard_size},
            "set_priority": {"priority": 100}}},
        # right after rollover: nothing writes to a backing index that is no longer the write index
        "warm": {"min_age": "0ms", "actions": {"readonly": {}, "forcemerge": {"max_num_segments": 1},
                                               "set_priority": {"priority": 50}}},
    }
    if profile.cold_days:
        cold: dict[str, Any] = {"set_priority": {"priority": 0}}
        if options.cold_searchable_snapshot:
            cold["searchable_snapshot"] = dict(repository)
        phases["cold"] = {"min_age": _days(profile.hot_warm_days), "actions": cold}
    if profile.frozen_days:
        phases["frozen"] = {"min_age": _days(profile.hot_warm_days + profile.cold_days),
                            "actions": {"searchable_snapshot": dict(repository)}}
    delete: dict[str, Any] = {}
    if profile.archive is not None:
        delete["wait_for_snapshot"] = {"policy": SLM_POLICY}
    delete["delete"] = {}
    phases["delete"] = {"min_age": _days(profile.total_days), "actions": delete}
    return {"policy": {"phases": phases, "_meta": {
        **META, "retention_profile": profile.name, "description": f"kamal-siem retention profile {profile.summary()}"}}}


def slm_policies(profile: RetentionProfile) -> dict[str, dict[str, Any]]:
    """{name: body} of the archive's SLM policy, none when the profile keeps no archive."""
    if profile.archive is None:
        return {}
    return {SLM_POLICY: {
        "schedule": SLM_SCHEDULE,
        "name": f"<{SLM_POLICY}-{{now/d}}>",
        "repository": profile.elastic.snapshot_repository,
        "config": {"indices": list(SNAPSHOT_INDICES), "include_global_state": False,
                   "metadata": {"managed_by": "kamal-siem", "retention_profile": profile.name}},
        "retention": {"expire_after": _days(profile.archive.keep_days)},
    }}


def retention_readme(profile: RetentionProfile) -> str:
    """The README's retention section for `profile`."""
    options = profile.elastic
    steps = [f"- hot: the write index rolls over after {options.rollover_max_age_days} days or at "
             f"{options.rollover_max_primary_shard_size} a primary shard;",
             "- warm, right after rollover: read-only, force-merged to one segment (no shrink: the data streams keep "
             f"Elasticsearch's default of one primary shard); hot and warm together keep {profile.hot_warm_days} days on the fast tiers;"]
    if profile.cold_days:
        how = (f"mounted as a searchable snapshot from the repository `{options.snapshot_repository}` (Enterprise license)"
               if options.cold_searchable_snapshot else "moved to cold nodes where the cluster has them (data tiers)")
        steps.append(f"- cold, {profile.hot_warm_days} days after rollover: {how}, still searchable;")
    if profile.frozen_days:
        steps.append(f"- frozen, {profile.hot_warm_days + profile.cold_days} days after rollover: a partially mounted "
                     f"searchable snapshot in `{options.snapshot_repository}` (Enterprise license), searchable, slower;")
    if profile.archive is not None:
        steps.append(f"- delete, {profile.total_days} days after rollover, once the SLM policy `{SLM_POLICY}` has taken a "
                     f"snapshot holding the index (`wait_for_snapshot`). That policy snapshots the kamal-siem data streams "
                     f"daily to `{options.snapshot_repository}` and deletes each snapshot {profile.archive.keep_days} days "
                     f"later: a restorable archive until about {profile.total_days + profile.archive.keep_days} days.")
    else:
        steps.append(f"- delete, {profile.total_days} days after rollover (no archive).")
    repository = ""
    if profile.uses_snapshot_repository:
        repository = (f"\n\nRegister the snapshot repository `{options.snapshot_repository}` (`PUT _snapshot/"
                      f"{options.snapshot_repository}`, S3, GCS, Azure or a shared file system) before `install.sh`, which "
                      f"checks that it exists.")
    return (f"The ILM policy `{POLICY}` follows the retention profile `{profile.name}` ({profile.origin}): "
            f"{profile.description}\n\n" + "\n".join(steps) + "\n\n"
            f"Phase ages count from rollover, so a document is kept at least {profile.total_days} days and at most "
            f"{profile.total_days + options.rollover_max_age_days}. The component template `kamal-siem@settings` names "
            f"the policy; PUT it again (`install.sh`) after a rebuild with another profile and every backing index "
            f"follows it from its next phase on." + repository)
