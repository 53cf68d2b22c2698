"""`kamal-siem verify-chain SPOOL_OR_FILE...`: check the hash chain of the hook emitter's events.

Every event the hook emitter (integrations/hooks) spools is an OTLP/JSON logs export request holding
one log record, whose attributes carry `kamal.hook.chain.id`, `.seq` (1, 2, ...), `.prev_hash` (the
previous event's hash; 64 zeros for the first) and `.hash`: the SHA-256, in hex, of the canonical
JSON serialization of the request without the `kamal.hook.chain.hash` attribute. Canonical JSON:
object keys sorted by code point, no whitespace, strings with only `"`, `\\`, `\\b`, `\\f`, `\\n`,
`\\r`, `\\t` and other C0 controls (as `\\u00xx`) escaped and everything else raw UTF-8; integers,
true, false and null; no floats.

A spool folder (events-NNNNNN.ndjson segments and chain.json, the head) is checked as one whole
chain starting at seq 1; a file on its own (a segment, a collector file-exporter output, an export
from the SIEM of the events as delivered) from its first event on. Findings, each with file:line:
unreadable or torn lines, edits (hash mismatch), broken links (an event changed and re-hashed, or
replaced), gaps (missing sequence numbers: deleted events), reordering, duplicates, truncation (the
head in chain.json is past the last event), and anomalies the emitter itself recorded when it
appended. Exit status 1 on any finding, 2 when an input cannot be read.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

ZERO_HASH = "0" * 64
CHAIN = "kamal.hook.chain."
HASH_KEY = CHAIN + "hash"
SEGMENT = re.compile(r"^events-(\d{6,})\.ndjson$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TO_ESCAPE = re.compile(r'["\\\x00-\x1f]')
EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class CanonicalError(ValueError):
    pass


def _string(value: str) -> str:
    return '"' + _TO_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), value) + '"'


def canonical(value: Any) -> str:
    """The canonical JSON serialization (the same as the Ruby emitter's)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_string(str(k))}:{canonical(value[k])}" for k in sorted(value, key=str)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, str):
        return _string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    raise CanonicalError(f"no canonical form for {type(value).__name__} (floats are not allowed)")


def event_hash(request: dict[str, Any]) -> str:
    """The hash of a one-record request, computed without its `kamal.hook.chain.hash` attribute."""
    copy = json.loads(json.dumps(request))
    record = copy["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    record["attributes"] = [a for a in record.get("attributes", []) if a.get("key") != HASH_KEY]
    try:
        data = canonical(copy).encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from a \ud800 escape: not ours
        raise CanonicalError("a string is not valid Unicode") from exc
    return hashlib.sha256(data).hexdigest()


def _plain(any_value: Any) -> Any:
    if not isinstance(any_value, dict) or len(any_value) != 1:
        return None
    kind, inner = next(iter(any_value.items()))
    if kind == "intValue":
        try:
            return int(inner)
        except (TypeError, ValueError):
            return None
    if kind in ("stringValue", "boolValue", "doubleValue"):
        return inner
    return None


@dataclass
class Link:
    """One chained event as found."""

    where: str
    seq: int
    chain_id: str
    hash: str
    prev_hash: str
    position: int
    edited: bool


@dataclass
class Finding:
    where: str
    kind: str
    detail: str
    order: tuple[bool, str, int] = (False, "", 0)  # head findings after the lines'

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.detail}"


@dataclass
class Result:
    findings: list[Finding] = field(default_factory=list)
    events: int = 0
    chains: set[str] = field(default_factory=set)
    skipped: int = 0


def _records(request: Any) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(one-record request, attributes) for every log record of an export request, rebuilt from
    its resource and scope (a collector may have batched several into one request)."""
    for resource_logs in request.get("resourceLogs") or []:
        for scope_logs in resource_logs.get("scopeLogs") or []:
            for record in scope_logs.get("logRecords") or []:
                single_scope = {k: v for k, v in scope_logs.items() if k != "logRecords"}
                single_scope["logRecords"] = [record]
                single = {k: v for k, v in resource_logs.items() if k != "scopeLogs"}
                single["scopeLogs"] = [single_scope]
                attributes = {str(a.get("key")): _plain(a.get("value")) for a in record.get("attributes") or []
                              if isinstance(a, dict)}
                yield {"resourceLogs": [single]}, attributes


class Verifier:
    """Reads the inputs, in order, and collects every chained event."""

    def __init__(self) -> None:
        self.result = Result()
        self.links: dict[str, list[Link]] = {}
        self.position = 0

    def finding(self, where: str, kind: str, detail: str, head: bool = False) -> None:
        file, _, line = where.rpartition(":")
        order = (head, file, int(line)) if line.isdigit() else (head, where, 0)
        self.result.findings.append(Finding(where, kind, detail, order))

    def read_file(self, path: Path, in_spool: bool) -> None:
        data = path.read_bytes()
        lines = data.split(b"\n")
        torn = bool(lines and lines[-1])
        if not torn:
            lines = lines[:-1]
        for number, raw in enumerate(lines, 1):
            where = f"{path}:{number}"
            if torn and number == len(lines):
                self.finding(where, "truncated", "the last line is incomplete (no newline at the end of the file)")
                continue
            if not raw.strip():
                if in_spool:
                    self.finding(where, "unreadable", "an empty line")
                continue
            try:
                request = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                self.finding(where, "unreadable", "not JSON (an edited or partly written line)")
                continue
            if not isinstance(request, dict) or not isinstance(request.get("resourceLogs"), list):
                self.finding(where, "unreadable", "not an OTLP logs export request")
                continue
            try:
                records = list(_records(request))
            except (AttributeError, TypeError):
                self.finding(where, "unreadable", "not an OTLP logs export request")
                continue
            for single, attributes in records:
                self.record(where, single, attributes, in_spool)

    def record(self, where: str, single: dict[str, Any], attributes: dict[str, Any], in_spool: bool) -> None:
        seq, chain_id = attributes.get(CHAIN + "seq"), attributes.get(CHAIN + "id")
        recorded, prev = attributes.get(HASH_KEY), attributes.get(CHAIN + "prev_hash")
        if not (isinstance(seq, int) and isinstance(chain_id, str) and isinstance(recorded, str) and isinstance(prev, str)):
            if in_spool:
                self.finding(where, "unchained", "an event without kamal.hook.chain.id/seq/prev_hash/hash")
            else:
                self.result.skipped += 1
            return
        self.result.events += 1
        self.result.chains.add(chain_id)
        try:
            edited = event_hash(single) != recorded
        except (CanonicalError, KeyError, IndexError, TypeError):
            edited = True
        if edited:
            self.finding(where, "edited", f"seq {seq}: the content does not match its hash")
        anomaly = attributes.get(CHAIN + "anomaly")
        if isinstance(anomaly, str) and anomaly:
            self.finding(where, "anomaly", f"seq {seq}: the emitter found, when it appended this event: {anomaly}")
        self.position += 1
        self.links.setdefault(chain_id, []).append(Link(where, seq, chain_id, recorded, prev, self.position, edited))

    def check_chains(self, from_start: bool) -> None:
        for chain_id, links in self.links.items():
            by_seq: dict[int, Link] = {}
            highest: Link | None = None
            for link in links:  # in input order
                if link.seq in by_seq:
                    self.finding(link.where, "duplicate", f"seq {link.seq} appears again (first at {by_seq[link.seq].where})")
                    continue
                if highest is not None and link.seq < highest.seq:
                    self.finding(link.where, "reordered", f"seq {link.seq} comes after seq {highest.seq} ({highest.where})")
                by_seq[link.seq] = link
                if highest is None or link.seq > highest.seq:
                    highest = link
            seqs = sorted(by_seq)
            first = 1 if from_start else seqs[0]
            previous = first - 1
            for seq in seqs:
                link = by_seq[seq]
                if seq < 1:
                    self.finding(link.where, "edited", f"seq {seq} is not a sequence number")
                    continue
                if seq > previous + 1:
                    missing = f"seq {previous + 1}" if seq == previous + 2 else f"seqs {previous + 1}-{seq - 1}"
                    self.finding(link.where, "gap", f"{missing} missing before seq {seq} (deleted events)")
                if seq == 1 and link.prev_hash != ZERO_HASH:
                    self.finding(link.where, "broken link", "seq 1 does not start a chain (its prev_hash is not zero)")
                before = by_seq.get(seq - 1)
                if before is not None and link.prev_hash != before.hash:
                    self.finding(link.where, "broken link",
                                 f"seq {seq}'s prev_hash is not the hash of seq {seq - 1} ({before.where}): "
                                 "an event was replaced or changed and re-hashed")
                previous = seq
            if len(self.links) > 1 and from_start:
                self.finding(links[0].where, "mixed chains", f"chain {chain_id} shares the spool with another chain")

    def check_head(self, spool: Path) -> None:
        head_path = spool / "chain.json"
        where = str(head_path)
        if not head_path.exists():
            if any(self.links.values()):
                self.finding(where, "truncated", "chain.json, the head of the chain, is missing", head=True)
            return
        try:
            head = json.loads(head_path.read_text(encoding="utf-8"))
            seq, digest, chain_id = int(head["seq"]), str(head["hash"]), str(head["chain_id"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            self.finding(where, "unreadable", "chain.json is not the emitter's head record", head=True)
            return
        links = self.links.get(chain_id, [])
        if not links:
            if seq > 0:
                self.finding(where, "truncated", f"chain.json records seq {seq} of chain {chain_id}, the spool holds none of it", head=True)
            return
        last = max(links, key=lambda link: link.seq)
        if seq > last.seq:
            self.finding(where, "truncated", f"chain.json records seq {seq}, the spool ends at seq {last.seq} ({last.where})", head=True)
        elif seq < last.seq:
            self.finding(where, "stale head", f"chain.json records seq {seq}, the spool goes on to seq {last.seq}", head=True)
        elif digest != last.hash:
            self.finding(where, "broken link", f"chain.json's hash is not the hash of seq {seq} ({last.where})", head=True)


def spool_segments(spool: Path) -> list[Path]:
    found = [p for p in spool.iterdir() if SEGMENT.match(p.name) and p.is_file()]
    return sorted(found, key=lambda p: int(SEGMENT.match(p.name).group(1)))  # type: ignore[union-attr]


def verify(paths: list[Path]) -> Result:
    """Verify each input on its own: a spool folder as a whole chain, a file from its first event."""
    total = Result()
    for path in paths:
        verifier = Verifier()
        if path.is_dir():
            segments = spool_segments(path)
            for segment in segments:
                verifier.read_file(segment, in_spool=True)
            verifier.check_chains(from_start=True)
            verifier.check_head(path)
        else:
            verifier.read_file(path, in_spool=SEGMENT.match(path.name) is not None)
            verifier.check_chains(from_start=False)
        total.findings.extend(sorted(verifier.result.findings, key=lambda f: f.order))
        total.events += verifier.result.events
        total.chains |= verifier.result.chains
        total.skipped += verifier.result.skipped
    return total


@click.command("verify-chain")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Findings as `file:line: kind: detail` lines, or one JSON object per finding.")
def verify_chain_command(paths: tuple[Path, ...], fmt: str) -> None:
    """Check the hash chain of hook events: a spool folder (~/.kamal-siem/spool) or event files.

    Reports unreadable lines, edits, broken links, gaps, reordering, duplicates and truncation with
    file:line; exits 1 on any finding."""
    try:
        result = verify(list(paths))
    except OSError as exc:
        click.echo(f"error: {exc.strerror or exc}: {exc.filename}", err=True)
        sys.exit(EXIT_ERROR)
    for finding in result.findings:
        if fmt == "json":
            click.echo(json.dumps({"where": finding.where, "kind": finding.kind, "detail": finding.detail}))
        else:
            click.echo(str(finding))
    skipped = f", {result.skipped} record(s) without a chain skipped" if result.skipped else ""
    verdict = f"{len(result.findings)} finding(s)" if result.findings else "the chain is intact"
    click.echo(f"{result.events} event(s) in {len(result.chains)} chain(s){skipped}: {verdict}", err=True)
    sys.exit(EXIT_FINDINGS if result.findings else EXIT_OK)
