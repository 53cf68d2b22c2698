"""The reference examples in ../shared/kamal-reference/ parse completely and as FACTS.md describes."""

from __future__ import annotations

from collections import Counter

from converter.parsing.files import Options, Summary, parse_inputs

from .conftest import shared_path


def parse(path: str) -> tuple[list[dict], Summary]:
    summary = Summary()
    return list(parse_inputs([path], Options(), summary)), summary


def test_every_example_log_parses_without_a_rejected_line() -> None:
    examples = shared_path("kamal-reference", "examples")
    events, summary = parse(str(examples))
    parsed = {s.source.split("examples/")[1]: s for s in summary.sources if not s.skipped}
    assert {s.log_type for s in parsed.values()} == {"audit", "run", "proxy", "docker"}
    assert all(s.rejected == 0 for s in parsed.values()), [(k, s.rejected) for k, s in parsed.items()]
    assert not any("error" in e for e in events)
    assert all("warnings" not in e for e in events)


def test_kamal2_audit_example_scenario() -> None:
    path = shared_path("kamal-reference", "examples", "kamal2", "host-10.20.1.11", "home", "deploy", ".kamal",
                       "storefront-production-audit.log")
    events, _ = parse(str(path))
    assert len(events) == 45
    assert {e["service"] for e in events} == {"storefront"}
    assert {e["destination"] for e in events} == {"production"}
    assert all(e["action"] != "unknown" for e in events)
    actions = Counter(e["action"] for e in events)
    assert actions["app_boot"] == 5 and actions["image_pull"] == 4
    failed = [e for e in events if e["performer"] == "runner" and e["action"] == "app_boot"]
    assert failed[0]["version"].startswith("277332e4") and failed[0]["role"] == "web"
    server_exec = next(e for e in events if e["action"] == "server_exec")
    assert (server_exec["cmd"], server_exec["host"]) == ("df -h /var/lib/docker", "10.20.1.11")


def test_otel_example_points_records_at_their_lines() -> None:
    path = shared_path("kamal-reference", "examples", "kamal2", "otel-output.POST-v1-logs.sample.json")
    events, summary = parse(str(path))
    assert [e["action"] for e in events] == ["run_start", "run_output", "run_output", "run_complete"]
    text = path.read_text().splitlines()
    for event in events:
        assert text[event["line"] - 1].strip() == "{"  # the line where the record's object opens
    assert events[-1]["runtime"] == 96.4 and events[-1]["outcome"] == "success"
    assert summary.sources[0].parsed == summary.sources[0].lines


def test_docker_examples_link_proxy_execs_to_services() -> None:
    events, _ = parse(str(shared_path("kamal-reference", "examples", "docker-events")))
    deploy = next(e for e in events if e.get("proxy_command") == "deploy")
    assert deploy["proxy_service"] == "storefront-web-production" and deploy["container_kind"] == "proxy"
    exec_container = next(e for e in events if e.get("container_kind") == "app_exec")
    assert (exec_container["role"], exec_container["destination"]) == ("web", "production")
    legacy = [e for e in events if "legacy" in e["source"]]
    assert [e["action"] for e in legacy] == ["create", "exec_create"]
