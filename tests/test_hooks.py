"""The Kamal hook emitter (integrations/hooks): installation, the events a simulated `kamal deploy`
produces (Debian's ruby runs the hooks), lock-bypass and CI detection, secrets, robustness."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from converter.hooks_install import (BUNDLE_FILES, CHAINED_SUFFIX, HOOKS, HooksError, bundle_contents, bundle_dir, hooks,
                                     install, render_redaction, render_wrapper, uninstall)
from converter.verify_chain import verify

from .conftest import ROOT
from .hooks_support import DEPLOY_HOOKS, SECRET_NAMES, VERSION, App, attrs, deploy_steps, kamal_env, make_app, require_tool

USER_HOOK = "#!/bin/sh\n# the app's own pre-deploy hook\necho \"checks for $KAMAL_SERVICE\"\nexit 0\n"


def _app_with_own_hooks(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    hooks_dir = app / ".kamal" / "hooks"
    hooks_dir.mkdir(parents=True)
    (hooks_dir / "pre-deploy").write_text(USER_HOOK)
    (hooks_dir / "pre-deploy").chmod(0o750)
    (hooks_dir / "post-deploy").symlink_to("../../bin/notify")
    (hooks_dir / "pre-connect.sample").write_text("#!/bin/sh\n")
    return app


# ---------------------------------------------------------------- installation (no ruby needed)

def test_install_chains_existing_hooks_is_idempotent_and_uninstall_restores(tmp_path: Path) -> None:
    app = _app_with_own_hooks(tmp_path)
    hooks_dir = app / ".kamal" / "hooks"
    report = install(app)
    actions = {(a, p.relative_to(hooks_dir).as_posix()) for a, p in report.actions}
    assert ("chained", f"pre-deploy{CHAINED_SUFFIX}") in actions and ("chained", f"post-deploy{CHAINED_SUFFIX}") in actions
    assert {p for a, p in actions if a == "installed"} == set(HOOKS) | {f"kamal-siem/{n}" for n in BUNDLE_FILES}
    for hook in HOOKS:
        path = hooks_dir / hook
        assert path.read_text() == render_wrapper(hook)
        assert stat.S_IMODE(path.stat().st_mode) == 0o755
    chained = hooks_dir / f"pre-deploy{CHAINED_SUFFIX}"
    assert chained.read_text() == USER_HOOK and stat.S_IMODE(chained.stat().st_mode) == 0o750
    assert os.readlink(hooks_dir / f"post-deploy{CHAINED_SUFFIX}") == "../../bin/notify"
    assert (hooks_dir / "pre-connect.sample").read_text() == "#!/bin/sh\n"
    assert not (hooks_dir / f"pre-connect.sample{CHAINED_SUFFIX}").exists()

    before = {p: p.read_bytes() for p in hooks_dir.rglob("*") if p.is_file() and not p.is_symlink()}
    again = install(app)
    assert {a for a, _p in again.actions} == {"unchanged"}
    assert {p: p.read_bytes() for p in hooks_dir.rglob("*") if p.is_file() and not p.is_symlink()} == before

    (hooks_dir / "kamal-siem" / "config.yml").write_text("destinations: []\n")
    removed = uninstall(app)
    assert ("restored", hooks_dir / "pre-deploy") in removed.actions
    assert (hooks_dir / "pre-deploy").read_text() == USER_HOOK
    assert stat.S_IMODE((hooks_dir / "pre-deploy").stat().st_mode) == 0o750
    assert os.readlink(hooks_dir / "post-deploy") == "../../bin/notify"
    assert sorted(p.name for p in hooks_dir.iterdir()) == ["kamal-siem", "post-deploy", "pre-connect.sample", "pre-deploy"]
    assert sorted(p.name for p in (hooks_dir / "kamal-siem").iterdir()) == ["config.yml"]  # the user's settings stay
    assert any("kept" in note for note in removed.notes)
    assert uninstall(app).actions == []


def test_an_upgrade_rewrites_only_what_changed(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    install(app)
    emitter = app / ".kamal" / "hooks" / "kamal-siem" / "emitter.rb"
    emitter.write_text("# an older emitter\n")
    (app / ".kamal" / "hooks" / "pre-build").chmod(0o644)
    report = install(app)
    assert sorted((a, p.name) for a, p in report.actions if a != "unchanged") == [("updated", "emitter.rb"), ("updated", "pre-build")]
    assert emitter.read_bytes() == (bundle_dir() / "kamal-siem" / "emitter.rb").read_bytes()


def test_install_follows_hooks_path_of_the_deploy_config(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "config").mkdir(parents=True)
    (app / "config" / "deploy.yml").write_text("service: shop\nhooks_path: ops/kamal-hooks  # ours\nimage: acme/shop\n")
    (app / "config" / "deploy.staging.yml").write_text("hooks_path: \"ops/staging hooks\"\n")
    (app / "config" / "deploy.production.yml").write_text("servers: [web-1]\n")
    install(app)
    for folder in ("ops/kamal-hooks", "ops/staging hooks"):
        assert all((app / folder / hook).is_file() for hook in HOOKS), folder
    assert not (app / ".kamal" / "hooks").exists()
    install(app, hooks_path="custom")
    assert (app / "custom" / "pre-connect").is_file()
    (app / "config" / "deploy.yml").write_text("hooks_path: <%= ENV['HOOKS'] %>\n")
    with pytest.raises(HooksError, match="ERB"):
        install(app)


def test_a_conflict_stops_install_before_anything_changes(tmp_path: Path) -> None:
    app = _app_with_own_hooks(tmp_path)
    hooks_dir = app / ".kamal" / "hooks"
    (hooks_dir / f"pre-deploy{CHAINED_SUFFIX}").write_text("#!/bin/sh\nexit 0\n")
    listing = sorted(p.name for p in hooks_dir.iterdir())
    with pytest.raises(HooksError, match="merge them by hand"):
        install(app)
    assert sorted(p.name for p in hooks_dir.iterdir()) == listing
    result = CliRunner().invoke(hooks, ["install", str(app)])
    assert result.exit_code == 2 and "merge them by hand" in result.output


def test_cli_install_and_uninstall(tmp_path: Path) -> None:
    app = _app_with_own_hooks(tmp_path)
    dry = CliRunner().invoke(hooks, ["install", "--dry-run", str(app)])
    assert dry.exit_code == 0 and "would be chained" in dry.output
    assert not (app / ".kamal" / "hooks" / "pre-build").exists()
    result = CliRunner().invoke(hooks, ["install", str(app)])
    assert result.exit_code == 0, result.output
    assert result.output.count("installed") == len(HOOKS) + len(BUNDLE_FILES) and "chained" in result.output
    result = CliRunner().invoke(hooks, ["uninstall", str(app)])
    assert result.exit_code == 0 and "restored" in result.output
    assert (app / ".kamal" / "hooks" / "pre-deploy").read_text() == USER_HOOK


def test_the_committed_bundle_is_current() -> None:
    """integrations/hooks holds the wrappers and redaction.json for people who copy it by hand;
    regenerate with `.venv/bin/python -m converter.hooks_install`."""
    for relative, (content, mode) in bundle_contents().items():
        path = ROOT / "integrations" / "hooks" / relative
        assert path.read_bytes() == content, f"{relative} is out of date"
        if relative in HOOKS:
            assert stat.S_IMODE(path.stat().st_mode) == mode
    rules = json.loads(render_redaction())["rules"]
    assert len(rules) >= 10 and all("(?<secret>" in r["pattern"] and "(?P<" not in r["pattern"] for r in rules)


def test_redaction_rules_compile_and_mask_in_ruby(tmp_path: Path) -> None:
    ruby = require_tool("ruby", "ruby")
    script = (
        'require ARGV[0]; m = KamalSiem::Masker.new({}, [], ARGV[1]);'
        ' STDIN.read.split("\\n").each { |l| puts m.text(l) }'
    )
    samples = ["psql postgres://app:pw@db/shop", "docker login ghcr.io -u bob -p s3cret", "RAILS_MASTER_KEY=abc rails c",
               "curl -H 'Authorization: Bearer abc123' x", "git clone https://ghp_abcdefghijklmnopqrstuvwxyz12@github.com/x/y",
               "plain text stays", "token: xoxb-123456789012-abcdefghij"]
    result = subprocess.run([ruby, "-e", script, str(bundle_dir() / "kamal-siem" / "emitter.rb"),
                             str(bundle_dir() / "kamal-siem" / "redaction.json")],
                            input="\n".join(samples), capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [
        "psql postgres://app:[REDACTED]@db/shop", "docker login ghcr.io -u bob -p [REDACTED]",
        "RAILS_MASTER_KEY=[REDACTED] rails c", "curl -H 'Authorization: Bearer [REDACTED]' x",
        "git clone https://[REDACTED]@github.com/x/y", "plain text stays", "token: [REDACTED]"]


# ---------------------------------------------------------------- the emitter, run by ruby

@pytest.fixture
def app(tmp_path: Path) -> App:
    application = make_app(tmp_path)
    application.configure([])
    return application


def _git(app: App, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=app.root, capture_output=True, text=True, check=True,
                          env={"PATH": os.environ["PATH"], "HOME": str(app.home)}).stdout.strip()


def test_a_simulated_deploy_records_every_hook_in_order(app: App) -> None:
    result = app.kamal(deploy_steps(app.planted))
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and result.stdout == ""
    events = app.events()
    assert [attrs(e)["kamal.hook.name"] for e in events] == list(DEPLOY_HOOKS)
    assert [attrs(e)["kamal.hook.chain.seq"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert len({attrs(e)["log.record.uid"] for e in events}) == 6
    assert len({attrs(e)["kamal.hook.invocation.id"] for e in events}) == 1  # one kamal process
    revision = _git(app, "rev-parse", "HEAD")
    for event in events:
        a, resource = attrs(event), event["resource"]
        hook = a["kamal.hook.name"]
        assert resource["service.name"] == "kamal" and resource["service.namespace"] == "shop-api"
        assert resource["deployment.environment.name"] == "production"
        assert resource["kamal.performer"] == "dana@shop.example" and resource["kamal.deploy_version"] == VERSION
        assert resource["host.name"] == socket.gethostname()
        assert event["scope"] == {"name": "kamal-siem.hooks", "version": "0.1.0"}
        assert event["record"]["eventName"] == "kamal.hook" and event["record"]["severityText"] == "INFO"
        assert a["kamal.command"] == "deploy"
        assert a["kamal.hosts"] == ["web-1.shop.example", "web-2.shop.example"]
        assert a["kamal.service_version"] == "shop-api@714d1e1"
        assert a["kamal.recorded_at"] == "2026-06-22T13:02:49Z"
        assert a["kamal.hook.env"]["KAMAL_SERVICE"] == "shop-api" and set(a["kamal.hook.env"]) <= {
            "KAMAL_RECORDED_AT", "KAMAL_PERFORMER", "KAMAL_DESTINATION", "KAMAL_VERSION", "KAMAL_SERVICE_VERSION",
            "KAMAL_SERVICE", "KAMAL_HOSTS", "KAMAL_ROLES", "KAMAL_LOCK", "KAMAL_COMMAND", "KAMAL_SUBCOMMAND", "KAMAL_RUNTIME"}
        assert a["vcs.ref.head.name"] == "release/2026-06" and a["vcs.ref.head.type"] == "branch"
        assert a["vcs.ref.head.revision"] == revision
        assert a["vcs.repository.url.full"] == "https://github.com/acme/shop-api.git"
        assert a["kamal.hook.git.dirty"] is True and a["kamal.hook.git.changed_files"] == 1
        assert a["user.name"] == subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        assert a["kamal.hook.invoked_by_kamal"] is True and a["kamal.hook.lock.nested"] is False
        assert a["kamal.hook.lock.bypass"] is False
        assert a["kamal.hook.lock.expected"] is (hook in ("pre-deploy", "pre-app-boot", "post-app-boot"))
        assert a["kamal.lock"] == ("true" if a["kamal.hook.lock.expected"] else "false")
        assert a["kamal.hook.ci.detected"] is False and "kamal.hook.ci.provider" not in a
        assert a["kamal.hook.secrets.expected"] is (hook in ("pre-connect", "pre-deploy", "post-deploy"))
        secret_names = sorted(SECRET_NAMES) if a["kamal.hook.secrets.expected"] else []
        assert a.get("kamal.hook.secrets.names", []) == secret_names
        # the names of other KAMAL_ variables (a secret, here) are recorded, never their values
        assert a.get("kamal.hook.env.other_kamal_names") == (["KAMAL_REGISTRY_PASSWORD"] if secret_names else None)
        assert a["kamal.hook.chained"] is False
    post = attrs(events[-1])
    assert post["kamal.runtime"] == 96 and post["kamal.hook.env"]["KAMAL_RUNTIME"] == "96"
    assert all("kamal.runtime" not in attrs(e) for e in events[:-1])
    assert not verify([app.spool]).findings
    assert app.planted.assert_absent_in_tree(app.spool) >= 3


def test_the_events_parse_as_run_records_without_errors(app: App) -> None:
    assert app.kamal(deploy_steps(app.planted)).returncode == 0
    segments = [str(p) for p in app.segments()]
    kamal_siem = Path(sys.executable).parent / "kamal-siem"  # the console script of this environment
    result = subprocess.run([str(kamal_siem), "parse", "--strict", "-q", *segments],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    parsed = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(parsed) == len(DEPLOY_HOOKS)
    assert not [p for p in parsed if "error" in p or "warnings" in p]
    for event in parsed:
        assert event["log_type"] == "run" and event["performer"] == "dana@shop.example"
        assert event["service"] == "shop-api" and event["destination"] == "production" and event["version"] == VERSION
        assert event["command"] == "deploy" and event["event_name"] == "kamal.hook"
        assert event["timestamp"].endswith("Z")
    assert parsed[-1]["runtime"] == 96.0
    app.planted.assert_absent(result.stdout, "the parse output")


def test_the_app_own_hook_runs_after_with_the_same_args_env_stdin_and_exit_status(app: App, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    own = app.hooks / f"pre-deploy{CHAINED_SUFFIX}"
    own.write_text(f'#!/bin/sh\nprintf "%s|" "$@" > {seen}.args\necho "$KAMAL_COMMAND $RAILS_MASTER_KEY" > {seen}.env\n'
                   f'cat > {seen}.stdin\nls {app.spool} > {seen}.spool\nexit 3\n')
    own.chmod(0o755)
    env = app.base_env(**kamal_env("pre-deploy", app.planted))
    result = app.hook("pre-deploy", env, stdin="from kamal\n", args=("one arg", "two"))
    assert result.returncode == 3
    assert Path(f"{seen}.args").read_text() == "one arg|two|"
    assert Path(f"{seen}.env").read_text() == f"deploy {app.planted.values['RAILS_MASTER_KEY']}\n"  # its env is untouched
    assert Path(f"{seen}.stdin").read_text() == "from kamal\n"
    assert "events-000001.ndjson" in Path(f"{seen}.spool").read_text()  # recorded before the app's hook ran
    (event,) = app.events()
    assert attrs(event)["kamal.hook.chained"] is True and attrs(event)["kamal.hook.args.count"] == 2
    # the wrapper fails like Kamal would run the hook: a non-executable hook cannot run
    own.chmod(0o644)
    assert app.hook("pre-deploy", env).returncode == 126


LOCK_CASES = [
    # hook, command, subcommand, KAMAL_LOCK, expected, bypass
    ("pre-connect", "deploy", None, False, False, False),
    ("pre-connect", "deploy", None, True, False, True),  # Kamal has not connected yet: it cannot hold the lock
    ("pre-connect", "app", "exec", True, False, True),
    ("pre-build", "deploy", None, True, False, True),
    ("pre-build", "setup", None, True, True, False),  # setup holds its lock around build and deploy
    ("pre-deploy", "deploy", None, True, True, False),
    ("pre-deploy", "rollback", None, True, True, False),
    ("post-deploy", "deploy", None, True, False, True),  # Kamal released the lock before post-deploy
    ("post-deploy", "setup", None, True, True, False),
    ("pre-app-boot", "app", "boot", True, True, False),
    ("pre-proxy-reboot", "proxy", "reboot", True, True, False),
    ("pre-proxy-reboot", "proxy", "upgrade", True, False, True),
    ("post-proxy-reboot", "upgrade", None, True, True, False),  # kamal upgrade holds the lock
    ("docker-setup", "server", "bootstrap", True, True, False),
]


def test_lock_bypass_detection(app: App) -> None:
    steps = [{"hook": hook, "env": kamal_env(hook, app.planted, command=command, subcommand=subcommand, lock=lock)}
             for hook, command, subcommand, lock, _expected, _bypass in LOCK_CASES]
    assert app.kamal(steps).returncode == 0
    events = app.events()
    assert len(events) == len(LOCK_CASES)
    for event, (hook, command, subcommand, lock, expected, bypass) in zip(events, LOCK_CASES, strict=True):
        a = attrs(event)
        case = f"{hook} {command} {subcommand} KAMAL_LOCK={lock}"
        assert a["kamal.hook.name"] == hook and a["kamal.lock"] == str(lock).lower(), case
        assert a["kamal.hook.lock.expected"] is expected, case
        assert a["kamal.hook.lock.bypass"] is bypass, case
        assert (event["record"]["severityText"], event["record"]["severityNumber"]) == (("WARN", 13) if bypass else ("INFO", 9)), case
        if bypass:
            assert "came from the environment" in a["kamal.hook.lock.reason"]
            assert "deploy lock bypass" in event["record"]["body"]


def test_a_deploy_with_kamal_lock_set_in_the_environment_is_flagged(app: App) -> None:
    """`KAMAL_LOCK=true kamal deploy`: Kamal never takes the lock and passes KAMAL_LOCK=true to every hook."""
    steps = deploy_steps(app.planted, lock=True)
    assert app.kamal(steps, env=app.base_env(KAMAL_LOCK="true")).returncode == 0
    flagged = {attrs(e)["kamal.hook.name"]: attrs(e)["kamal.hook.lock.bypass"] for e in app.events()}
    assert flagged == {"pre-connect": True, "pre-build": True, "pre-deploy": False, "pre-app-boot": False,
                       "post-app-boot": False, "post-deploy": True}


def test_a_nested_kamal_call_from_a_hook_inherits_the_lock_without_a_bypass(app: App, tmp_path: Path) -> None:
    """kamal issue #1517: a pre-deploy hook running `kamal app exec ...` passes the held lock on."""
    inner = tmp_path / "inner.json"
    inner.write_text(json.dumps({"app": str(app.root), "hooks": str(app.hooks), "steps": [
        {"hook": "pre-connect", "env": kamal_env("pre-connect", app.planted, command="app", subcommand="exec", lock=True)}]}))
    own = app.hooks / f"pre-deploy{CHAINED_SUFFIX}"
    own.write_text(f"#!/bin/sh\nexec kamal {inner}\n")
    own.chmod(0o755)
    steps = [{"hook": "pre-deploy", "env": kamal_env("pre-deploy", app.planted)}]
    assert app.kamal(steps).returncode == 0
    outer, nested = app.events()
    assert attrs(outer)["kamal.hook.name"] == "pre-deploy" and attrs(outer)["kamal.hook.lock.nested"] is False
    a = attrs(nested)
    assert a["kamal.hook.name"] == "pre-connect" and a["kamal.lock"] == "true"
    assert a["kamal.hook.lock.nested"] is True and a["kamal.hook.lock.bypass"] is False
    assert "nested" in a["kamal.hook.lock.reason"]
    assert a["kamal.hook.invocation.id"] != attrs(outer)["kamal.hook.invocation.id"]
    # the same pre-connect with the lock from a shell is a bypass, and a hook run by hand is not Kamal's
    direct = app.hook("pre-connect", app.base_env(**kamal_env("pre-connect", app.planted, lock=True)))
    assert direct.returncode == 0
    last = attrs(app.events()[-1])
    assert last["kamal.hook.invoked_by_kamal"] is False and last["kamal.hook.lock.bypass"] is True
    assert "kamal.hook.invocation.id" not in last


CI_CASES = {
    "github_actions": ({"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com",
                        "GITHUB_REPOSITORY": "acme/shop-api", "GITHUB_RUN_ID": "9753949763", "GITHUB_RUN_ATTEMPT": "2",
                        "GITHUB_WORKFLOW": "Deploy", "GITHUB_JOB": "deploy", "GITHUB_ACTOR": "dana",
                        "GITHUB_TRIGGERING_ACTOR": "erin", "GITHUB_EVENT_NAME": "workflow_dispatch",
                        "ACTIONS_RUNTIME_TOKEN": "actions-PLANTED-runtime-token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc-PLANTED-x"},
                       {"cicd.pipeline.name": "Deploy", "cicd.pipeline.run.id": "9753949763",
                        "cicd.pipeline.run.url.full": "https://github.com/acme/shop-api/actions/runs/9753949763/attempts/2",
                        "cicd.pipeline.task.name": "deploy", "kamal.hook.ci.actor": "dana",
                        "kamal.hook.ci.triggering_actor": "erin", "kamal.hook.ci.trigger": "workflow_dispatch"}),
    "gitlab_ci": ({"CI": "true", "GITLAB_CI": "true", "CI_PROJECT_PATH": "acme/shop-api", "CI_PIPELINE_ID": "1234",
                   "CI_PIPELINE_URL": "https://gitlab.example/acme/shop-api/-/pipelines/1234", "CI_JOB_NAME": "deploy",
                   "CI_JOB_ID": "5678", "CI_JOB_URL": "https://gitlab.example/acme/shop-api/-/jobs/5678",
                   "GITLAB_USER_LOGIN": "dana", "CI_PIPELINE_SOURCE": "push", "CI_JOB_TOKEN": "glcbt-PLANTED-jobtoken"},
                  {"cicd.pipeline.name": "acme/shop-api", "cicd.pipeline.run.id": "1234",
                   "cicd.pipeline.run.url.full": "https://gitlab.example/acme/shop-api/-/pipelines/1234",
                   "cicd.pipeline.task.name": "deploy", "cicd.pipeline.task.run.id": "5678", "cicd.pipeline.task.run.url.full": "https://gitlab.example/acme/shop-api/-/jobs/5678",
                   "kamal.hook.ci.actor": "dana", "kamal.hook.ci.trigger": "push"}),
    "buildkite": ({"CI": "true", "BUILDKITE": "true", "BUILDKITE_PIPELINE_SLUG": "shop-api",
                   "BUILDKITE_BUILD_ID": "b81ed283-58b7-4925-aa4a-d3da0eafcf2b",
                   "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/shop-api/builds/59034", "BUILDKITE_JOB_ID": "d593f546",
                   "BUILDKITE_LABEL": ":rocket: deploy", "BUILDKITE_BUILD_CREATOR": "Dana",
                   "BUILDKITE_BUILD_CREATOR_EMAIL": "dana@shop.example", "BUILDKITE_AGENT_ACCESS_TOKEN": "bkagent-PLANTED-token"},
                  {"cicd.pipeline.name": "shop-api", "cicd.pipeline.run.id": "b81ed283-58b7-4925-aa4a-d3da0eafcf2b",
                   "cicd.pipeline.run.url.full": "https://buildkite.com/acme/shop-api/builds/59034",
                   "cicd.pipeline.task.name": ":rocket: deploy", "cicd.pipeline.task.run.id": "d593f546",
                   "cicd.pipeline.task.run.url.full": "https://buildkite.com/acme/shop-api/builds/59034#d593f546",
                   "kamal.hook.ci.actor": "dana@shop.example"}),
    "circleci": ({"CI": "true", "CIRCLECI": "true", "CIRCLE_PROJECT_USERNAME": "acme", "CIRCLE_PROJECT_REPONAME": "shop-api",
                  "CIRCLE_WORKFLOW_ID": "6a3e1b5c", "CIRCLE_JOB": "deploy", "CIRCLE_BUILD_NUM": "881",
                  "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/shop-api/881", "CIRCLE_USERNAME": "dana",
                  "CIRCLE_OIDC_TOKEN": "eyJPLANTEDxxxxxxxx.eyJPLANTEDyyyyyyy.PLANTEDsignature"},
                 {"cicd.pipeline.name": "acme/shop-api", "cicd.pipeline.run.id": "6a3e1b5c", "cicd.pipeline.task.name": "deploy",
                  "cicd.pipeline.task.run.id": "881",
                  "cicd.pipeline.task.run.url.full": "https://circleci.com/gh/acme/shop-api/881", "kamal.hook.ci.actor": "dana"}),
    "jenkins": ({"JENKINS_URL": "https://jenkins.example/", "BUILD_ID": "42", "BUILD_NUMBER": "42",
                 "BUILD_TAG": "jenkins-shop-deploy-42", "BUILD_URL": "https://deployer:jenkinsPLANTEDpw@jenkins.example/job/shop-deploy/42/",
                 "JOB_NAME": "shop-deploy", "BUILD_USER_ID": "dana"},
                {"cicd.pipeline.name": "shop-deploy", "cicd.pipeline.run.id": "jenkins-shop-deploy-42",
                 "cicd.pipeline.run.url.full": "https://jenkins.example/job/shop-deploy/42/", "kamal.hook.ci.actor": "dana"}),
    "generic": ({"CI": "true"}, {}),
}


@pytest.mark.parametrize("provider", sorted(CI_CASES))
def test_ci_detection(app: App, provider: str) -> None:
    ci_env, expected = CI_CASES[provider]
    env = app.base_env(**ci_env, **kamal_env("pre-deploy", app.planted))
    result = app.hook("pre-deploy", env)
    assert result.returncode == 0, result.stderr
    a = attrs(app.events()[0])
    assert a["kamal.hook.ci.detected"] is True and a["kamal.hook.ci.provider"] == provider
    for key, value in expected.items():
        assert a.get(key) == value, key
    assert not {k for k in a if k.startswith(("cicd.", "kamal.hook.ci."))} - set(expected) - {"kamal.hook.ci.detected", "kamal.hook.ci.provider"}
    # no single-valued attribute is also the namespace of others (OpenTelemetry's naming rule): the
    # Elasticsearch ingest pipeline writes attributes as object paths, where `a.b` cannot be both
    scalars = {k for k, v in a.items() if not isinstance(v, (dict, list))}
    assert not {k for k in scalars if any(other.startswith(k + ".") for other in a)}
    app.planted.assert_absent_in_tree(app.spool)


def test_secret_shaped_values_are_masked_even_in_allowed_fields(app: App) -> None:
    master_key = app.planted.values["RAILS_MASTER_KEY"]
    env = app.base_env(**kamal_env("post-deploy", app.planted, performer="ci-bot ghp_abcdefghijklmnopqrstuvwxyz0123456789"))
    env.update({"GITHUB_ACTIONS": "true", "GITHUB_WORKFLOW": f"deploy with {master_key}", "GITHUB_REPOSITORY": "acme/shop-api",
                "GITHUB_RUN_ID": "1", "GITHUB_SERVER_URL": "https://x-access-token:PLANTEDserverpw@github.example"})
    assert app.hook("post-deploy", env).returncode == 0
    event = app.events()[0]
    a = attrs(event)
    assert a["cicd.pipeline.name"] == "deploy with [REDACTED]"
    assert a["cicd.pipeline.run.url.full"] == "https://github.example/acme/shop-api/actions/runs/1"
    assert event["resource"]["kamal.performer"] == "ci-bot [REDACTED]"
    assert a["kamal.hook.env"]["KAMAL_PERFORMER"] == "ci-bot [REDACTED]"
    app.planted.fragments.append("PLANTEDserverpw")
    app.planted.assert_absent_in_tree(app.spool)


def test_the_emitter_never_fails_the_deploy_unless_asked(app: App, tmp_path: Path) -> None:
    seen = tmp_path / "ran"
    own = app.hooks / f"pre-build{CHAINED_SUFFIX}"
    own.write_text(f"#!/bin/sh\ntouch {seen}\n")
    own.chmod(0o755)
    env = app.base_env(**kamal_env("pre-build", app.planted))
    app.config_path.write_text("destinations: [unclosed\n")  # broken settings: warn, spool by default, go on
    result = app.hook("pre-build", env)
    assert result.returncode == 0 and seen.exists()
    assert "kamal-siem-test.yml is not valid" in result.stderr
    assert (app.home / ".kamal-siem" / "spool" / "events-000001.ndjson").is_file()
    seen.unlink()
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    app.config_path.write_text(f"spool_dir: {blocked}/spool\n")  # the spool cannot be written
    result = app.hook("pre-build", env)
    assert result.returncode == 0 and seen.exists() and "the event was not recorded" in result.stderr
    seen.unlink()
    app.config_path.write_text(f"spool_dir: {blocked}/spool\nfail_on_delivery_error: true\n")
    result = app.hook("pre-build", env)
    assert result.returncode == 1 and not seen.exists()
    app.config_path.write_text(f"spool_dir: {app.spool}\ndestinations: [{{type: splunk_hec, url: 'https://u:PLANTEDpw@h', token: x}}]\n")
    result = app.hook("pre-build", env)
    assert result.returncode == 0 and "never from the config itself" in result.stderr
    assert "PLANTEDpw" not in result.stderr


def test_a_truncated_spool_is_noticed_by_the_next_hook(app: App) -> None:
    assert app.kamal(deploy_steps(app.planted)[:3]).returncode == 0
    (segment,) = app.segments()
    lines = segment.read_text().splitlines(keepends=True)
    segment.write_text("".join(lines[:2]))  # the last event removed
    result = app.hook("post-deploy", app.base_env(**kamal_env("post-deploy", app.planted, runtime=5)))
    assert "spool truncated" in result.stderr
    last = attrs(app.events()[-1])
    assert last["kamal.hook.chain.seq"] == 4  # the chain goes on from the head: the gap stays visible
    assert "spool truncated: chain.json records seq 3, the spool ends at seq 2" in last["kamal.hook.chain.anomaly"]
    kinds = sorted((f.kind, f.where.rsplit("/", 1)[-1]) for f in verify([app.spool]).findings)
    assert kinds == [("anomaly", "events-000001.ndjson:3"), ("gap", "events-000001.ndjson:3")]


def test_segments_rotate_and_the_chain_continues_across_them(app: App) -> None:
    app.configure([], max_segment_bytes=6000)
    assert app.kamal(deploy_steps(app.planted)).returncode == 0
    assert len(app.segments()) >= 3
    assert [attrs(e)["kamal.hook.chain.seq"] for e in app.events()] == [1, 2, 3, 4, 5, 6]
    assert not verify([app.spool]).findings
