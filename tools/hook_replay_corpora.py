#!/usr/bin/env python3
"""Regenerates the hook emitter's replay corpora (tests/replay/*/<machine>/spool/events-*.ndjson).

The events are the real emitter's output: `kamal-siem hooks install` puts the emitter into a Kamal app
checked out in a git repository, and a stand-in for the `kamal` CLI runs the app's hooks with the
variables Kamal 2.12 passes (as tests/hooks_support.py does). Each deployer machine runs in Linux
namespaces of its own (`unshare --uts --mount`), so the events carry a made-up host name, a made-up
user under /home and no trace of the machine that generated them; the spool segments are copied as
the emitter wrote them, so their hash chains verify (`kamal-siem verify-chain`).

    sudo .venv/bin/python tools/hook_replay_corpora.py [--out tests/replay]

Needs root (namespaces, a private /home and /etc/passwd), ruby and git. Timestamps, event ids,
process ids and hashes change on every run; the number and order of the events do not, so the
replay cases' line numbers stay valid.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KAMAL_SIEM = Path(sys.executable).parent / "kamal-siem"

LOCK_BYPASS = "kamal_deploy_lock_bypassed_hook_emitter"
UNCOMMITTED = "uncommitted_code_deployed_to_a_protected_destination_hook_emitter"
TAMPERED = "kamal_hook_spool_tampered_with"

# case, machine (host name), OS user, uid, git user.email (None: Kamal falls back to whoami), app checkout
MACHINES: dict[str, dict[str, Any]] = {
    "lock-laptop": {"case": LOCK_BYPASS, "host": "dana-laptop", "user": "dana", "uid": 1000, "email": "dana@shop.example",
                    "app": "/home/dana/src/shop-api"},
    "lock-ci": {"case": LOCK_BYPASS, "host": "fv-az1043-217", "user": "runner", "uid": 1001, "email": None,
                "app": "/home/runner/work/shop-api/shop-api"},
    "uncommitted-laptop": {"case": UNCOMMITTED, "host": "dana-laptop", "user": "dana", "uid": 1000,
                           "email": "dana@shop.example", "app": "/home/dana/src/shop-api"},
    "tampered-dana": {"case": TAMPERED, "host": "dana-laptop", "user": "dana", "uid": 1000, "email": "dana@shop.example",
                      "app": "/home/dana/src/shop-api"},
    "tampered-erin": {"case": TAMPERED, "host": "erin-laptop", "user": "erin", "uid": 1000, "email": "erin@shop.example",
                      "app": "/home/erin/code/shop-api"},
}

HOSTS = {"production": "10.20.1.11,10.20.1.12", "staging": "10.30.1.11", None: "10.20.1.11,10.20.1.12"}
SECRET_HOOKS = ("pre-connect", "pre-deploy", "post-deploy")
# not secret: obviously fake values; the emitter writes only the names
FAKE_SECRETS = {"KAMAL_REGISTRY_PASSWORD": "replay-fake-registry-password", "RAILS_MASTER_KEY": "replay-fake-master-key-0000"}

KAMAL_STAND_IN = """#!/usr/bin/ruby
# A stand-in for the kamal CLI: runs the app's hooks as Kamal 2.12's run_hook does (ENV updated with
# the hook's variables, the hook executed in the app folder, a failing hook stops the command). What
# to run comes from $REPLAY_PLAN; the arguments are only there to look like a kamal command line.
require "json"
plan = JSON.parse(File.read(ENV.fetch("REPLAY_PLAN")))
plan["steps"].each do |step|
  hook = File.join(plan["hooks"], step["hook"])
  next unless File.exist?(hook)
  pid = Process.spawn(step["env"], hook, chdir: plan["app"])
  Process.wait(pid)
  next if $?.success?
  warn "ERROR (Kamal::Cli::HookError): Hook `#{step["hook"]}` failed"
  exit 1
end
"""

DEPLOY_YML = """service: shop-api
image: acme/shop-api
servers:
  web:
    - 10.20.1.11
    - 10.20.1.12
proxy:
  host: shop.example
  app_port: 3000
registry:
  server: ghcr.io
  username: acme
  password:
    - KAMAL_REGISTRY_PASSWORD
env:
  secret:
    - RAILS_MASTER_KEY
builder:
  arch: amd64
"""


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, **kwargs)


class Machine:
    """One deployer machine, inside its own namespaces."""

    def __init__(self, name: str) -> None:
        m = MACHINES[name]
        self.name, self.host, self.user, self.uid, self.email = name, m["host"], m["user"], m["uid"], m["email"]
        self.home = Path("/home") / self.user
        self.app = Path(m["app"])
        self.hooks = self.app / ".kamal" / "hooks"
        self.spool = self.home / ".kamal-siem" / "spool"
        self.plans = self.home / ".replay"
        self.bin = self.home / ".local" / "bin"
        self.count = 0

    # --- the machine ---------------------------------------------------------------------------
    def boot(self) -> None:
        run(["hostname", self.host])
        run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/home"])
        passwd = [line for line in Path("/etc/passwd").read_text().splitlines()
                  if line.split(":")[2:3] != [str(self.uid)]]
        passwd.append(f"{self.user}:x:{self.uid}:{self.uid}:{self.user.title()}:{self.home}:/bin/bash")
        fake = Path("/home/.passwd")
        fake.write_text("\n".join(passwd) + "\n")
        run(["mount", "--bind", str(fake), "/etc/passwd"])
        for folder in (self.home, self.plans, self.bin, self.app):
            folder.mkdir(parents=True, exist_ok=True)
        (self.bin / "kamal").write_text(KAMAL_STAND_IN)
        (self.bin / "kamal").chmod(0o755)
        self.chown()

    def chown(self) -> None:
        run(["chown", "-R", f"{self.uid}:{self.uid}", str(self.home)])

    def as_user(self, cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        full = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--", *cmd]
        return subprocess.run(full, env=env or self.shell_env(), cwd=cwd or self.app, text=True, check=check,
                              capture_output=True)

    def shell_env(self, **extra: str) -> dict[str, str]:
        env = {"PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home), "USER": self.user,
               "LOGNAME": self.user, "SHELL": "/bin/bash", "LANG": "C.UTF-8"}
        env.update(extra)
        return env

    def git(self, *args: str) -> str:
        return self.as_user(["git", *args], env=self.shell_env(GIT_CONFIG_NOSYSTEM="1")).stdout.strip()

    # --- the app ----------------------------------------------------------------------------------
    def make_app(self, own_hooks: dict[str, str] | None = None) -> None:
        files = {
            "config/deploy.yml": DEPLOY_YML,
            "config/deploy.production.yml": "",
            "config/deploy.staging.yml": "servers:\n  web:\n    - 10.30.1.11\nproxy:\n  host: staging.shop.example\n",
            ".kamal/secrets": "KAMAL_REGISTRY_PASSWORD=$KAMAL_REGISTRY_PASSWORD\nRAILS_MASTER_KEY=$(cat config/master.key)\n",
            ".gitignore": "/config/master.key\n/log/\n/tmp/\n",
            "Gemfile": 'source "https://rubygems.org"\n\ngem "rails", "~> 8.0"\ngem "kamal", "~> 2.12", require: false\n',
            "app/controllers/checkout_controller.rb": "class CheckoutController < ApplicationController\n  def create\n"
                                                      "    @order = Order.place!(cart: current_cart)\n  end\nend\n",
        }
        for path, text in files.items():
            (self.app / path).parent.mkdir(parents=True, exist_ok=True)
            (self.app / path).write_text(text)
        for hook, text in (own_hooks or {}).items():
            (self.hooks / hook).parent.mkdir(parents=True, exist_ok=True)
            (self.hooks / hook).write_text(text)
            (self.hooks / hook).chmod(0o755)
        run([str(KAMAL_SIEM), "hooks", "install", str(self.app)], capture_output=True)
        self.chown()
        self.git("init", "-q", "-b", "main")
        if self.email:
            self.git("config", "user.email", self.email)
        self.git("config", "user.name", self.user.title())
        self.git("add", "-A")
        self.git("-c", f"user.email={self.email or 'ci@shop.example'}", "commit", "-qm", "Checkout: place the order in one step")
        self.git("remote", "add", "origin", "https://github.com/acme/shop-api.git")

    def edit(self, path: str, text: str) -> None:
        target = self.app / path
        target.write_text(target.read_text() + text)
        self.chown()

    def commit(self, message: str) -> None:
        self.git("commit", "-qam", message)

    # --- kamal ------------------------------------------------------------------------------------
    def hook_env(self, hook: str, command: str, subcommand: str | None, destination: str | None, lock: bool,
                 recorded_at: str, runtime: int | None = None) -> dict[str, str]:
        """What Kamal 2.12 passes to a hook (Kamal::Tags#env and run_hook's details, in Kamal's order)."""
        version = self.git("rev-parse", "HEAD")
        env = {"KAMAL_RECORDED_AT": recorded_at, "KAMAL_PERFORMER": self.email or self.user}
        if destination:
            env["KAMAL_DESTINATION"] = destination
        env.update({"KAMAL_VERSION": version, "KAMAL_SERVICE_VERSION": f"shop-api@{version[:7]}", "KAMAL_SERVICE": "shop-api",
                    "KAMAL_HOSTS": HOSTS[destination], "KAMAL_LOCK": "true" if lock else "false", "KAMAL_COMMAND": command})
        if subcommand:
            env["KAMAL_SUBCOMMAND"] = subcommand
        if runtime is not None:
            env["KAMAL_RUNTIME"] = str(runtime)
        if hook in SECRET_HOOKS:
            env.update(FAKE_SECRETS)
        return env

    def steps(self, command: str, subcommand: str | None, destination: str | None, hooks: tuple[str, ...],
              lock_from_env: bool) -> list[dict[str, Any]]:
        recorded_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        out = []
        for hook in hooks:
            # Kamal's own view of its lock (Kamal::Commander#holding_lock?); KAMAL_LOCK=true in the
            # environment makes it believe it holds the lock from the start
            held = lock_from_env or hook in ("pre-deploy", "pre-app-boot", "post-app-boot") or (
                hook in ("pre-build", "post-deploy") and command == "setup")
            out.append({"hook": hook, "env": self.hook_env(hook, command, subcommand, destination, held, recorded_at,
                                                           runtime=94 if hook == "post-deploy" else None)})
        return out

    def kamal(self, argv: list[str], steps: list[dict[str, Any]], env: dict[str, str] | None = None) -> None:
        self.count += 1
        plan = self.plans / f"plan-{self.count}.json"
        plan.write_text(json.dumps({"app": str(self.app), "hooks": str(self.hooks), "steps": steps}))
        self.chown()
        env = dict(env or self.shell_env())
        env["REPLAY_PLAN"] = str(plan)
        result = self.as_user(["kamal", *argv], env=env, check=False)
        if result.returncode != 0:
            raise SystemExit(f"{self.name}: kamal {' '.join(argv)} failed:\n{result.stderr}")
        time.sleep(1.1)  # one second apart, in order

    def deploy(self, destination: str | None = "production", command: str = "deploy", env: dict[str, str] | None = None,
               lock_from_env: bool = False) -> None:
        hooks = ("pre-connect", "pre-build", "pre-deploy", "pre-app-boot", "post-app-boot", "post-deploy")
        argv = [command, *(["-d", destination] if destination else [])]
        self.kamal(argv, self.steps(command, None, destination, hooks, lock_from_env), env)

    def simple(self, command: str, subcommand: str, hooks: tuple[str, ...], destination: str = "production",
               extra: tuple[str, ...] = ()) -> None:
        self.kamal([command, subcommand, "-d", destination, *extra],
                   self.steps(command, subcommand, destination, hooks, False))

    def segment(self) -> Path:
        return self.spool / "events-000001.ndjson"

    def copy_out(self, out: Path) -> None:
        target = out / MACHINES[self.name]["case"] / self.host / "spool"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for segment in sorted(self.spool.glob("events-*.ndjson")):
            shutil.copyfile(segment, target / segment.name)
            os.chmod(target / segment.name, 0o644)


# --- the scenarios, one per machine -------------------------------------------------------------------

def lock_laptop(m: Machine) -> None:
    m.make_app()
    m.deploy()                                                      # a deploy that takes the lock
    m.deploy(env=m.shell_env(KAMAL_LOCK="true"), lock_from_env=True)  # `KAMAL_LOCK=true kamal deploy`
    m.deploy(command="setup")                                       # setup holds the lock around build and deploy
    # the app's own pre-deploy hook runs `kamal app exec` (kamal issue #1517): the nested kamal
    # inherits the held lock
    nested = m.plans / "nested.json"
    nested.write_text(json.dumps({"app": str(m.app), "hooks": str(m.hooks),
                                  "steps": m.steps("app", "exec", "production", ("pre-connect",), True)}))
    (m.hooks / "pre-deploy.kamal-siem-chained").write_text(
        f'#!/bin/sh\n# pending migrations stop the deploy\nREPLAY_PLAN={nested} kamal app exec --reuse -d "$KAMAL_DESTINATION" '
        '"bin/rails db:abort_if_pending_migrations"\n')
    (m.hooks / "pre-deploy.kamal-siem-chained").chmod(0o755)
    m.chown()
    m.git("add", ".kamal/hooks")
    m.commit("Deploy: stop on pending migrations")  # committed: the tree stays clean
    m.deploy()


def lock_ci(m: Machine) -> None:
    m.make_app()
    ci = m.shell_env(CI="true", GITHUB_ACTIONS="true", GITHUB_SERVER_URL="https://github.com", GITHUB_REPOSITORY="acme/shop-api",
                     GITHUB_RUN_ID="12834601577", GITHUB_RUN_ATTEMPT="1", GITHUB_WORKFLOW="Deploy", GITHUB_JOB="deploy",
                     GITHUB_ACTOR="dana-shop", GITHUB_TRIGGERING_ACTOR="dana-shop", GITHUB_EVENT_NAME="push",
                     GITHUB_REF_NAME="main", RUNNER_OS="Linux", KAMAL_LOCK="true", **FAKE_SECRETS)
    m.deploy(env=ci, lock_from_env=True)  # `env: KAMAL_LOCK: "true"` in the workflow


def uncommitted_laptop(m: Machine) -> None:
    m.make_app()
    m.edit("app/controllers/checkout_controller.rb", "# TODO: skip the fraud check for now\n")
    m.edit("config/deploy.yml", "  # hotfix\n")
    m.deploy()                                                                       # dirty tree to production
    m.simple("app", "logs", ("pre-connect",), extra=("--since", "10m"))              # dirty, but no deploy
    m.deploy("staging")                                                              # dirty tree to staging
    m.simple("build", "push", ("pre-connect", "pre-build"))                          # dirty build for production
    m.deploy(None, command="redeploy")                                               # dirty, no destination
    m.commit("Checkout: skip the fraud check for card-present orders")
    m.deploy()                                                                       # committed, to production


def tampered_dana(m: Machine) -> None:
    m.make_app()
    m.deploy()
    m.simple("app", "exec", ("pre-connect",), extra=("-i", "bin/rails console"))
    # someone deletes the console session's event (the last line) from the spool
    lines = m.segment().read_text().splitlines(keepends=True)
    m.segment().write_text("".join(lines[:-1]))
    m.deploy()


def tampered_erin(m: Machine) -> None:
    m.make_app()
    m.deploy()
    m.segment().unlink()  # someone deletes the spool's events, chain.json stays
    m.simple("app", "logs", ("pre-connect",))
    m.simple("app", "logs", ("pre-connect",))


SCENARIOS = {"lock-laptop": lock_laptop, "lock-ci": lock_ci, "uncommitted-laptop": uncommitted_laptop,
             "tampered-dana": tampered_dana, "tampered-erin": tampered_erin}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "replay")
    parser.add_argument("--machine", help=argparse.SUPPRESS)  # the inner run, inside the namespaces
    args = parser.parse_args()
    if args.machine:
        machine = Machine(args.machine)
        machine.boot()
        SCENARIOS[args.machine](machine)
        machine.copy_out(args.out.resolve())
        return
    if os.geteuid() != 0:
        raise SystemExit("needs root: each deployer machine runs in namespaces of its own (unshare --uts --mount)")
    for name in SCENARIOS:
        print(f"{name} ...", file=sys.stderr)
        run(["unshare", "--uts", "--mount", "--propagation", "private", "--fork",
             sys.executable, __file__, "--machine", name, "--out", str(args.out.resolve())])


if __name__ == "__main__":
    main()
