"""Delivery of the hook events: Splunk HEC, Elasticsearch _bulk and OTLP/HTTP into local receivers
that check each request against the protocol, syslog over TLS into a real rsyslogd; retries, outages
(events stay spooled and are resent once), deduplication, and no planted secret anywhere."""

from __future__ import annotations

import base64
import json
import secrets as pysecrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from converter.hooks_install import CHAINED_SUFFIX
from converter.verify_chain import verify

from .hook_receivers import Receiver
from .hooks_support import (DEPLOY_HOOKS, SECRET_NAMES, App, attrs, deploy_steps, free_port, kamal_env, make_app, require,
                            require_tool)

HEC_TOKEN = f"hec-{pysecrets.token_hex(12)}"
ES_KEY = base64.b64encode(f"kamal-hooks:{pysecrets.token_hex(12)}".encode()).decode()
OTLP_AUTH = f"Bearer otlp-{pysecrets.token_hex(12)}"
TOKENS = {"KAMAL_SIEM_HEC_TOKEN": HEC_TOKEN, "KAMAL_SIEM_ES_API_KEY": ES_KEY, "KAMAL_SIEM_OTLP_AUTH": OTLP_AUTH}


def destination(receiver: Receiver) -> dict[str, Any]:
    if receiver.kind == "hec":
        return {"type": "splunk_hec", "name": "splunk", "url": receiver.url, "token_env": "KAMAL_SIEM_HEC_TOKEN"}
    if receiver.kind == "bulk":
        return {"type": "elasticsearch", "name": "elastic", "url": receiver.url, "api_key_env": "KAMAL_SIEM_ES_API_KEY"}
    return {"type": "otlp_http", "name": "otel", "endpoint": receiver.url, "headers_env": {"Authorization": "KAMAL_SIEM_OTLP_AUTH"}}


CREDENTIALS = {"hec": HEC_TOKEN, "bulk": ES_KEY, "otlp": OTLP_AUTH}


def receiver(kind: str) -> Receiver:
    return Receiver(kind, free_port(), CREDENTIALS[kind])


@pytest.fixture
def app(tmp_path: Path) -> App:
    application = make_app(tmp_path)
    application.planted.fragments += list(TOKENS.values())  # the SIEM credentials must not leak either
    return application


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    made = {kind: receiver(kind) for kind in ("hec", "bulk", "otlp")}
    yield made
    for r in made.values():
        r.stop()


def env_with_tokens(app: App, **extra: str) -> dict[str, str]:
    return app.base_env(**TOKENS, **extra)


def spool_ids(app: App) -> list[str]:
    return [attrs(e)["log.record.uid"] for e in app.events()]


def spool_lines(app: App) -> list[str]:
    return [line for segment in app.segments() for line in segment.read_text(encoding="utf-8").splitlines()]


def assert_requests_clean(app: App, r: Receiver) -> None:
    """No planted app secret in any request; the SIEM credential only in its header."""
    credential = CREDENTIALS[r.kind]
    assert r.requests, f"{r.kind} received nothing"
    for request in r.requests:
        body = request.body.decode("utf-8")
        assert credential not in body
        app.planted.fragments.remove(credential)
        try:
            app.planted.assert_absent(request.text(), f"a {r.kind} request")
        finally:
            app.planted.fragments.append(credential)


def test_every_event_reaches_every_http_destination_once(app: App, receivers: dict[str, Receiver], tmp_path: Path) -> None:
    for r in receivers.values():
        r.start()
    app.configure([destination(r) for r in receivers.values()])
    result = app.kamal(deploy_steps(app.planted), env=env_with_tokens(app))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    ids, lines = spool_ids(app), spool_lines(app)
    assert len(ids) == len(DEPLOY_HOOKS)
    for r in receivers.values():
        assert r.violations == []
        assert r.stored == ids, r.kind  # each event once, in order
        assert len(r.requests) == len(DEPLOY_HOOKS)  # one request per hook run: nothing resent
        assert_requests_clean(app, r)
    # HEC `event` and the Elasticsearch `message` are the spool line itself, byte for byte
    assert [receivers["hec"].documents[i]["event"] for i in ids] == lines
    assert [receivers["bulk"].documents[i]["message"] for i in ids] == lines
    assert {d["sourcetype"] for d in receivers["hec"].documents.values()} == {"kamal:run"}
    hook_names = [next(a["value"]["stringValue"] for a in d["record"]["attributes"] if a["key"] == "kamal.hook.name")
                  for d in receivers["otlp"].documents.values()]
    assert hook_names == list(DEPLOY_HOOKS)
    # what the SIEM received still verifies: HEC _raw lines, and the OTLP request bodies
    exported = tmp_path / "splunk-export.ndjson"
    exported.write_text("".join(receivers["hec"].documents[i]["event"] + "\n" for i in ids))
    otlp_bodies = tmp_path / "otlp-bodies.ndjson"
    otlp_bodies.write_text("".join(r.body.decode() + "\n" for r in receivers["otlp"].requests))
    checked = verify([exported, otlp_bodies])
    assert checked.findings == [] and checked.events == 2 * len(DEPLOY_HOOKS)
    app.planted.assert_absent_in_tree(app.spool)
    state = json.loads((app.spool / "state" / "splunk.json").read_text())
    assert state["through_seq"] == len(DEPLOY_HOOKS) and state["delivered"] == {}


@pytest.mark.parametrize("kind", ["hec", "bulk", "otlp"])
def test_an_outage_never_fails_the_deploy_and_loses_nothing(app: App, kind: str) -> None:
    r = receiver(kind)  # down: nothing listens on its port yet
    app.configure([destination(r)])
    try:
        result = app.kamal(deploy_steps(app.planted), env=env_with_tokens(app))
        assert result.returncode == 0
        name = destination(r)["name"]
        assert f"kamal-siem: {name}: not delivered (connection failed (Errno::ECONNREFUSED))" in result.stderr
        assert "6 event(s) kept in the spool for the next run" in result.stderr
        r.start()  # back up: the next hook run sends what the spool holds, then its own event
        steps = [{"hook": "pre-connect", "env": kamal_env("pre-connect", app.planted)}]
        assert app.kamal(steps, env=env_with_tokens(app)).returncode == 0
        assert r.stored == spool_ids(app) and len(r.stored) == 7
        assert app.kamal(steps, env=env_with_tokens(app)).returncode == 0
        assert r.stored == spool_ids(app) and len(r.stored) == 8 and len(set(r.stored)) == 8  # resent once, no duplicates
        assert r.violations == []
        assert_requests_clean(app, r)
    finally:
        r.stop()


@pytest.mark.parametrize(("kind", "status", "retried"), [
    ("hec", 503, True), ("hec", 500, True), ("hec", 400, False), ("hec", 403, False),
    ("bulk", 429, True), ("bulk", 502, True), ("bulk", 401, False),
    ("otlp", 503, True), ("otlp", 429, True), ("otlp", 500, False), ("otlp", 400, False),  # OTLP: only 429/502/503/504
])
def test_retries_follow_each_protocol(app: App, kind: str, status: int, retried: bool) -> None:
    r = receiver(kind).start()
    try:
        r.fail_next, r.fail_status = 2, status
        app.configure([destination(r)])
        result = app.hook("pre-build", env_with_tokens(app, **kamal_env("pre-build", app.planted)))
        assert result.returncode == 0
        if retried:  # two failures, then the third attempt of the same run succeeds
            assert len(r.requests) == 3 and r.stored == spool_ids(app) and result.stderr == ""
        else:  # not retried in this run; kept for the next
            assert len(r.requests) == 1 and r.stored == []
            assert f"answered HTTP {status}" in result.stderr and "kept in the spool" in result.stderr
            r.fail_next = 0
            app.flush(env_with_tokens(app))
            assert r.stored == spool_ids(app)
    finally:
        r.stop()


def test_a_lost_bulk_response_is_not_indexed_twice(app: App) -> None:
    """The documents were indexed but the answer was lost: the resend is refused per _id (409)."""
    r = receiver("bulk").start()
    try:
        r.lose = 1
        app.configure([destination(r)])
        result = app.hook("pre-build", env_with_tokens(app, **kamal_env("pre-build", app.planted)))
        assert result.returncode == 0 and result.stderr == ""
        assert len(r.requests) == 2 and r.stored == spool_ids(app)
        action = json.loads(r.requests[1].body.decode().split("\n")[0])
        assert action == {"create": {"_index": "logs-kamal.run-default", "_id": spool_ids(app)[0]}}
        app.hook("pre-build", env_with_tokens(app, **kamal_env("pre-build", app.planted)))
        assert r.stored == spool_ids(app) and len(r.requests) == 3
        assert r.requests[2].body.decode().count("\n") == 2  # only the new event
    finally:
        r.stop()


def test_hec_indexer_acknowledgment(app: App) -> None:
    r = receiver("hec").start()
    try:
        app.configure([{**destination(r), "ack": True, "index": "kamal"}])
        assert app.hook("pre-build", env_with_tokens(app, **kamal_env("pre-build", app.planted))).returncode == 0
        event_request, ack_request = r.requests
        channel = event_request.headers["X-Splunk-Request-Channel"]
        assert ack_request.path == f"/services/collector/ack?channel={channel}"
        assert json.loads(ack_request.body) == {"acks": [1]}
        assert r.violations == [] and r.stored == spool_ids(app)
        assert r.documents[spool_ids(app)[0]]["index"] == "kamal"
        app.hook("pre-build", env_with_tokens(app, **kamal_env("pre-build", app.planted)))
        assert r.requests[2].headers["X-Splunk-Request-Channel"] == channel  # one channel per spool
    finally:
        r.stop()


def test_a_token_kept_in_kamal_secrets_delivers_from_the_hooks_that_get_secrets(app: App) -> None:
    """Kamal hands the secrets (here the HEC token) only to pre-connect, pre-deploy and post-deploy:
    the other hooks spool, and the next secret-receiving hook sends their events."""
    r = receiver("hec").start()
    try:
        app.configure([destination(r)])
        steps = deploy_steps(app.planted)
        for step in steps:
            if step["hook"] in ("pre-connect", "pre-deploy", "post-deploy"):
                step["env"]["KAMAL_SIEM_HEC_TOKEN"] = HEC_TOKEN
        result = app.kamal(steps)
        assert result.returncode == 0
        assert result.stderr.count("KAMAL_SIEM_HEC_TOKEN not set in this hook's environment") == 3
        assert r.stored == spool_ids(app) and len(r.requests) == 3
        assert [len(r.body.decode().splitlines()) for r in r.requests] == [1, 2, 3]
        assert_requests_clean(app, r)
    finally:
        r.stop()


def test_fail_on_delivery_error_stops_the_deploy(app: App, tmp_path: Path) -> None:
    r = receiver("otlp")  # down
    app.configure([destination(r)], fail_on_delivery_error=True)
    own = app.hooks / f"pre-connect{CHAINED_SUFFIX}"
    own.write_text(f"#!/bin/sh\ntouch {tmp_path / 'ran'}\n")
    own.chmod(0o755)
    result = app.kamal(deploy_steps(app.planted), env=env_with_tokens(app))
    assert result.returncode == 1 and "Hook `pre-connect` failed" in result.stderr
    assert "delivery failed and fail_on_delivery_error is set" in result.stderr
    assert not (tmp_path / "ran").exists()
    assert len(app.events()) == 1  # recorded all the same
    result = app.kamal(deploy_steps(app.planted), env=env_with_tokens(app, KAMAL_SIEM_FAIL_ON_DELIVERY_ERROR="false"))
    assert result.returncode == 0


def test_after_a_failure_later_hooks_only_spool_until_the_pause_ends(app: App) -> None:
    r = receiver("hec")
    app.configure([destination(r)], delivery={"retry_pause": 300})
    env = env_with_tokens(app, **kamal_env("pre-build", app.planted))
    assert "connection failed" in app.hook("pre-build", env).stderr
    r.start()
    try:
        result = app.hook("pre-build", env)
        assert "paused after a failure" in result.stderr and r.requests == []
        flushed = app.flush(env_with_tokens(app))
        assert flushed.returncode == 0 and "splunk: ok (2 sent, 0 pending)" in flushed.stdout
        assert r.stored == spool_ids(app)
    finally:
        r.stop()


def test_errors_never_show_credentials(app: App) -> None:
    """A receiver that rejects the token: the error names the status, never the token or a secret."""
    r = Receiver("hec", free_port(), "another-token").start()
    try:
        app.configure([destination(r)])
        result = app.hook("pre-deploy", env_with_tokens(app, **kamal_env("pre-deploy", app.planted)))
        assert result.returncode == 0 and "splunk: not delivered (Splunk HEC answered HTTP 401)" in result.stderr
        state = (app.spool / "state" / "splunk.json").read_text()
        assert "answered HTTP 401" in state
        app.planted.assert_absent_in_tree(app.spool)
    finally:
        r.stop()


# ---------------------------------------------------------------- syslog over TLS into rsyslogd

class Rsyslog:
    """rsyslogd on 127.0.0.1 with an imtcp TLS listener (gtls driver, octet-counted framing is
    rsyslog's default on TCP), writing each message's RFC 5424 fields to a file."""

    def __init__(self, root: Path, binary: str) -> None:
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.out = root / "received.log"
        self.process: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        (root / "work").mkdir(exist_ok=True)
        self.cert, self.key = certificate(root, "server")
        config = f'''global(workDirectory="{root}/work" maxMessageSize="64k"
       DefaultNetstreamDriver="gtls"
       DefaultNetstreamDriverCAFile="{self.cert}"
       DefaultNetstreamDriverCertFile="{self.cert}"
       DefaultNetstreamDriverKeyFile="{self.key}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
template(name="fields" type="string"
         string="%pri%|%protocol-version%|%timereported:::date-rfc3339%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|%msg%\\n")
ruleset(name="hooks") {{ action(type="omfile" file="{self.out}" template="fields") }}
input(type="imtcp" port="{self.port}" address="127.0.0.1" ruleset="hooks")
'''
        self.config = root / "rsyslog.conf"
        self.config.write_text(config)

    def start(self) -> Rsyslog:
        check = subprocess.run([self.binary, "-N1", "-f", str(self.config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.process = subprocess.Popen([self.binary, "-n", "-f", str(self.config), "-i", str(self.root / "pid")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError("rsyslogd did not listen")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self.process = None

    def lines(self, expected: int, timeout: float = 10) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.out.read_text(encoding="utf-8").splitlines() if self.out.exists() else []
            if len(lines) >= expected:
                time.sleep(0.3)  # and nothing more arrives
                return self.out.read_text(encoding="utf-8").splitlines()
            time.sleep(0.1)
        return self.out.read_text(encoding="utf-8").splitlines() if self.out.exists() else []


def certificate(root: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made with openssl."""
    require_tool("openssl", "openssl")
    cert, key = root / f"{name}.pem", root / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Rsyslog]:
    binary = shutil.which("rsyslogd") or shutil.which("rsyslogd", path="/usr/sbin:/sbin")  # sbin: often not on PATH
    require(binary is not None, "`rsyslogd` is not installed (Debian package rsyslog)")
    assert binary is not None
    modules = ("/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/aarch64-linux-gnu/rsyslog", "/usr/lib/rsyslog", "/usr/lib64/rsyslog")
    require(any(Path(d, "lmnsd_gtls.so").exists() for d in modules),
            "rsyslog's TLS driver lmnsd_gtls is not installed (Debian package rsyslog-gnutls)")
    server = Rsyslog(tmp_path / "rsyslog", binary)
    yield server
    server.stop()


def syslog_destination(server: Rsyslog, ca: Path | None = None) -> dict[str, Any]:
    return {"type": "syslog_tls", "name": "syslog", "host": "127.0.0.1", "port": server.port, "ca_file": str(ca or server.cert)}


def test_syslog_over_tls_into_rsyslog(app: App, rsyslog: Rsyslog) -> None:
    rsyslog.start()
    app.configure([syslog_destination(rsyslog)])
    result = app.kamal(deploy_steps(app.planted))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    lines = rsyslog.lines(len(DEPLOY_HOOKS))
    spooled = spool_lines(app)
    assert len(lines) == len(DEPLOY_HOOKS)
    for line, hook, event in zip(lines, DEPLOY_HOOKS, spooled, strict=True):
        pri, version, timestamp, hostname, app_name, procid, msgid, sd, msg = line.split("|", 8)
        assert pri == "110" and version == "1"  # facility 13 (log audit) * 8 + severity 6 (informational)
        assert timestamp.endswith("Z") and timestamp.startswith("20")
        assert hostname == app.events()[0]["resource"]["host.name"]
        assert app_name == "kamal-siem" and procid.isdigit() and msgid == hook and sd == "-"
        assert msg == event  # the spool line, intact through octet-counted framing
    app.planted.assert_absent(rsyslog.out.read_text(), "rsyslog's output")


def test_syslog_outage_and_an_unverified_server(app: App, rsyslog: Rsyslog, tmp_path: Path) -> None:
    other_ca, _key = certificate(tmp_path, "someone-else")
    app.configure([syslog_destination(rsyslog)])
    result = app.kamal(deploy_steps(app.planted))  # rsyslog is down
    assert result.returncode == 0 and "syslog: not delivered (connection failed" in result.stderr
    rsyslog.start()
    app.configure([syslog_destination(rsyslog, ca=other_ca)])  # a server we cannot verify gets nothing
    env = app.base_env(**kamal_env("pre-connect", app.planted))
    result = app.hook("pre-connect", env)
    assert "syslog: not delivered (TLS error (OpenSSL::SSL::SSLError))" in result.stderr
    assert rsyslog.lines(1, timeout=1.5) == []
    app.configure([syslog_destination(rsyslog)])
    assert app.hook("pre-connect", env).returncode == 0
    lines = rsyslog.lines(8)
    assert [line.split("|", 8)[8] for line in lines] == spool_lines(app)  # all 8, in order, once
    assert app.hook("pre-connect", env).returncode == 0
    lines = rsyslog.lines(9)
    assert len(lines) == 9 and len(set(lines)) == 9
    state = json.loads((app.spool / "state" / "syslog.json").read_text())
    assert state["through_seq"] == 9
    assert not verify([app.spool]).findings


def test_secret_names_reach_the_siem_but_never_values(app: App, receivers: dict[str, Receiver]) -> None:
    otlp = receivers["otlp"].start()
    app.configure([destination(otlp)])
    assert app.kamal(deploy_steps(app.planted)[:1], env=env_with_tokens(app)).returncode == 0
    (document,) = otlp.documents.values()
    names = next(a["value"]["arrayValue"]["values"] for a in document["record"]["attributes"] if a["key"] == "kamal.hook.secrets.names")
    assert [v["stringValue"] for v in names] == sorted(SECRET_NAMES)
    assert_requests_clean(app, otlp)


def test_non_ascii_values_under_a_c_locale(app: App, receivers: dict[str, Receiver]) -> None:
    """LANG=C makes Ruby read files as US-ASCII: the events (and their delivery) must not depend on it."""
    for kind in ("hec", "otlp"):
        receivers[kind].start()
    app.configure([destination(receivers["hec"]), destination(receivers["otlp"])])
    performer = "Dörte Ünal <dörte@shop.example> 🚀"
    steps = [{"hook": hook, "env": kamal_env(hook, app.planted, performer=performer)} for hook in ("pre-connect", "pre-build")]
    result = app.kamal(steps, env=env_with_tokens(app, LANG="C", LC_ALL="C"))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert [e["resource"]["kamal.performer"] for e in app.events()] == [performer, performer]
    assert receivers["hec"].stored == receivers["otlp"].stored == spool_ids(app)
    assert [receivers["hec"].documents[i]["event"] for i in spool_ids(app)] == spool_lines(app)
    assert not verify([app.spool]).findings


def test_parallel_hook_runs_keep_one_chain_and_send_each_event_once(app: App) -> None:
    """Two deploys at once on one runner share the spool: appends and deliveries take file locks."""
    r = receiver("hec").start()
    try:
        app.configure([destination(r)])
        env = env_with_tokens(app, **kamal_env("pre-build", app.planted))
        runs = [subprocess.Popen([str(app.hooks / "pre-build")], cwd=app.root, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(8)]
        for run in runs:
            _out, err = run.communicate(timeout=120)
            assert run.returncode == 0 and err == "", err
        assert sorted(attrs(e)["kamal.hook.chain.seq"] for e in app.events()) == list(range(1, 9))
        assert not verify([app.spool]).findings
        assert sorted(r.stored) == sorted(spool_ids(app)) and len(r.stored) == 8  # none twice
    finally:
        r.stop()
