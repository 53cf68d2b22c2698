"""`kamal-siem verify-chain`: edits, deletions, reordering, truncation and torn lines in a hook spool
are reported with file:line; the canonical serialization is the same in Python and in the Ruby
emitter."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from converter.hooks_install import bundle_dir
from converter.verify_chain import ZERO_HASH, canonical, event_hash, verify, verify_chain_command

from .hooks_support import require_tool

CHAIN_ID = "5f0b7c2e-3d1a-4c8e-9b6f-2a7d4e1c9b30"


def _attribute(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def chained_event(seq: int, prev: str, hook: str = "pre-deploy", chain_id: str = CHAIN_ID) -> dict[str, Any]:
    """An event as the emitter spools it (fewer attributes), with its chain attributes and hash."""
    record = {"timeUnixNano": str(1_782_133_369_000_000_000 + seq), "severityNumber": 9, "severityText": "INFO",
              "eventName": "kamal.hook", "body": {"stringValue": f"Kamal hook {hook}"},
              "attributes": [_attribute("log.record.uid", f"uid-{seq}"), _attribute("kamal.hook.name", hook),
                             _attribute("kamal.hook.chain.id", chain_id), _attribute("kamal.hook.chain.seq", seq),
                             _attribute("kamal.hook.chain.prev_hash", prev)]}
    request = {"resourceLogs": [{"resource": {"attributes": [_attribute("service.name", "kamal")]},
                                 "scopeLogs": [{"scope": {"name": "kamal-siem.hooks", "version": "0.1.0"}, "logRecords": [record]}]}]}
    record["attributes"].append(_attribute("kamal.hook.chain.hash", event_hash(request)))
    return request


def write_spool(root: Path, count: int, per_segment: int = 100) -> list[str]:
    """A spool of `count` chained events; returns their lines."""
    root.mkdir(parents=True, exist_ok=True)
    lines, prev = [], ZERO_HASH
    for seq in range(1, count + 1):
        event = chained_event(seq, prev)
        prev = event["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"][-1]["value"]["stringValue"]
        lines.append(canonical(event))
    for start in range(0, count, per_segment):
        segment = root / f"events-{start // per_segment + 1:06d}.ndjson"
        segment.write_text("".join(line + "\n" for line in lines[start:start + per_segment]), encoding="utf-8")
    (root / "chain.json").write_text(json.dumps({"chain_id": CHAIN_ID, "seq": count, "hash": prev}))
    return lines


def findings(*paths: Path) -> list[tuple[str, str]]:
    """(kind, file name:line) of every finding."""
    return [(f.kind, f.where.rsplit("/", 1)[-1]) for f in verify(list(paths)).findings]


def test_an_intact_spool(tmp_path: Path) -> None:
    write_spool(tmp_path / "spool", 5, per_segment=2)
    result = verify([tmp_path / "spool"])
    assert result.findings == [] and result.events == 5 and result.chains == {CHAIN_ID}
    run = CliRunner().invoke(verify_chain_command, [str(tmp_path / "spool")])
    assert run.exit_code == 0 and "5 event(s) in 1 chain(s): the chain is intact" in run.output


def _edit(path: Path, number: int, change: Any) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = change(lines[number - 1])
    path.write_text("".join(line + "\n" for line in lines))


def test_an_edited_event(tmp_path: Path) -> None:
    write_spool(tmp_path / "s", 4)
    _edit(tmp_path / "s" / "events-000001.ndjson", 2, lambda line: line.replace("pre-deploy", "pre-build"))
    assert findings(tmp_path / "s") == [("edited", "events-000001.ndjson:2")]


def test_an_event_changed_and_rehashed_breaks_the_next_link(tmp_path: Path) -> None:
    write_spool(tmp_path / "s", 4)

    def rehash(line: str) -> str:
        event = json.loads(line.replace("pre-deploy", "pre-build"))
        attributes = event["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"]
        attributes[-1]["value"]["stringValue"] = event_hash(event)
        return canonical(event)

    _edit(tmp_path / "s" / "events-000001.ndjson", 2, rehash)
    assert findings(tmp_path / "s") == [("broken link", "events-000001.ndjson:3")]


def test_a_deleted_event_is_a_gap(tmp_path: Path) -> None:
    lines = write_spool(tmp_path / "s", 6)
    del lines[2:4]
    (tmp_path / "s" / "events-000001.ndjson").write_text("".join(line + "\n" for line in lines))
    run = CliRunner().invoke(verify_chain_command, [str(tmp_path / "s")])
    assert run.exit_code == 1
    assert f"{tmp_path / 's' / 'events-000001.ndjson'}:3: gap: seqs 3-4 missing before seq 5 (deleted events)" in run.output


def test_a_deleted_segment_and_a_deleted_first_event(tmp_path: Path) -> None:
    write_spool(tmp_path / "s", 6, per_segment=2)
    (tmp_path / "s" / "events-000002.ndjson").unlink()
    _edit(tmp_path / "s" / "events-000001.ndjson", 1, lambda line: "")
    found = findings(tmp_path / "s")
    assert ("gap", "events-000003.ndjson:1") in found and ("unreadable", "events-000001.ndjson:1") in found
    assert ("gap", "events-000001.ndjson:2") in found  # seq 1 is gone: the chain must start at 1


def test_reordered_events(tmp_path: Path) -> None:
    lines = write_spool(tmp_path / "s", 5)
    lines[2], lines[3] = lines[3], lines[2]
    (tmp_path / "s" / "events-000001.ndjson").write_text("".join(line + "\n" for line in lines))
    assert findings(tmp_path / "s") == [("reordered", "events-000001.ndjson:4")]


def test_truncation_and_a_torn_last_line(tmp_path: Path) -> None:
    lines = write_spool(tmp_path / "s", 5)
    segment = tmp_path / "s" / "events-000001.ndjson"
    segment.write_text("".join(line + "\n" for line in lines[:3]))
    assert findings(tmp_path / "s") == [("truncated", "chain.json")]
    segment.write_text("".join(line + "\n" for line in lines[:4]) + lines[4][:100])
    assert findings(tmp_path / "s") == [("truncated", "events-000001.ndjson:5"), ("truncated", "chain.json")]
    (tmp_path / "s" / "chain.json").unlink()
    segment.write_text("".join(line + "\n" for line in lines))
    assert findings(tmp_path / "s") == [("truncated", "chain.json")]


def test_duplicates_and_unchained_lines(tmp_path: Path) -> None:
    lines = write_spool(tmp_path / "s", 3)
    segment = tmp_path / "s" / "events-000001.ndjson"
    foreign = json.dumps({"resourceLogs": [{"resource": {}, "scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}}]}]}]})
    segment.write_text("".join(line + "\n" for line in [*lines, lines[1], foreign, "not json"]))
    assert findings(tmp_path / "s") == [("duplicate", "events-000001.ndjson:4"), ("unchained", "events-000001.ndjson:5"),
                                        ("unreadable", "events-000001.ndjson:6")]


def test_a_file_on_its_own_and_a_collector_export(tmp_path: Path) -> None:
    """A segment or an export starts wherever it starts; records a collector batched into one
    request are checked one by one; records that are not chained hook events are skipped."""
    lines = write_spool(tmp_path / "s", 6, per_segment=3)
    assert findings(tmp_path / "s" / "events-000002.ndjson") == []
    batched = {"resourceLogs": [json.loads(line)["resourceLogs"][0] for line in lines[:4]]}
    kamal_own = {"resourceLogs": [{"resource": {"attributes": [_attribute("service.name", "kamal")]},
                                   "scopeLogs": [{"logRecords": [{"timeUnixNano": "1", "eventName": "kamal.start"}]}]}]}
    export = tmp_path / "collector.jsonl"
    export.write_text(json.dumps(batched) + "\n" + json.dumps(kamal_own) + "\n" + lines[5] + "\n")
    result = verify([export])
    assert [(f.kind, f.where.rsplit("/", 1)[-1]) for f in result.findings] == [("gap", "collector.jsonl:3")]
    assert result.events == 5 and result.skipped == 1
    run = CliRunner().invoke(verify_chain_command, ["--format", "json", str(export)])
    assert run.exit_code == 1
    assert json.loads(run.output.splitlines()[0]) == {"where": f"{export}:3", "kind": "gap",
                                                      "detail": "seq 5 missing before seq 6 (deleted events)"}


def test_two_chains_in_one_spool_and_a_missing_input(tmp_path: Path) -> None:
    write_spool(tmp_path / "s", 2)
    other = canonical(chained_event(1, ZERO_HASH, chain_id="another-chain"))
    with (tmp_path / "s" / "events-000001.ndjson").open("a") as f:
        f.write(other + "\n")
    assert ("mixed chains", "events-000001.ndjson:1") in findings(tmp_path / "s")
    run = CliRunner().invoke(verify_chain_command, [str(tmp_path / "nowhere")])
    assert run.exit_code == 2


TRICKY = ["", "plain", 'quote " backslash \\ slash /', "controls \x00\x01\x08\x09\x0a\x0c\x0d\x1f\x7f",
          "unicode é ü 😀 \u2028 \u2029 \ufeff", "<script>&amp;</script>"]


def test_canonical_json_is_the_same_in_ruby_and_python() -> None:
    ruby = require_tool("ruby", "ruby")
    value = {"b": TRICKY, "a": {"z": 1, "y": [True, False, None, -5, 12345678901234567890]}, "ä": "x", "A": ""}
    script = 'require ARGV[0]; require "json"; print KamalSiem::Canonical.dump(JSON.parse(STDIN.read))'
    result = subprocess.run([ruby, "-e", script, str(bundle_dir() / "kamal-siem" / "emitter.rb")],
                            input=json.dumps(value).encode(), capture_output=True, check=True)
    assert result.stdout.decode("utf-8") == canonical(value)
    assert canonical({"b": 1, "a": "\n"}) == '{"a":"\\n","b":1}'
    with pytest.raises(ValueError, match="floats"):
        canonical({"x": 1.5})


def test_the_hook_replay_corpora_are_the_emitters_own_chains() -> None:
    """The hook events of tests/replay are the real emitter's output (tools/hook_replay_corpora.py),
    copied as spooled: each chain is intact but where the tampering case damaged its spool, and there
    verify-chain finds what the emitter itself recorded."""
    replay = Path(__file__).resolve().parent / "replay"
    segments = sorted(replay.glob("*/*/spool/events-*.ndjson"))
    found = {s.relative_to(replay).as_posix(): sorted((f.kind, int(f.where.rsplit(":", 1)[1])) for f in verify([s]).findings)
             for s in segments}
    assert found == {
        "kamal_deploy_lock_bypassed_hook_emitter/dana-laptop/spool/events-000001.ndjson": [],
        "kamal_deploy_lock_bypassed_hook_emitter/fv-az1043-217/spool/events-000001.ndjson": [],
        "kamal_hook_spool_tampered_with/dana-laptop/spool/events-000001.ndjson": [("anomaly", 7), ("gap", 7)],
        "kamal_hook_spool_tampered_with/erin-laptop/spool/events-000001.ndjson": [("anomaly", 1)],
        "uncommitted_code_deployed_to_a_protected_destination_hook_emitter/dana-laptop/spool/events-000001.ndjson": [],
    }
