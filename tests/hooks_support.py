"""Shared by the hook emitter tests: the tools they need, a Kamal app in a temporary git repository
with the emitter installed, a stand-in for the `kamal` CLI that runs the hooks as Kamal 2.12 does,
planted secrets, and reading the spool back."""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from converter.hooks_install import install
from converter.parsing.otlp import expand

from .tools import missing

VERSION = "714d1e19362cb0dbdb488b99b67c7a77bf7626c4"


def require(present: bool, reason: str) -> None:
    """Skips the test when something it needs is missing; fails instead with KAMAL_SIEM_REQUIRE_TOOLS=1
    (as `make test` sets it), like tests/tools.py."""
    if not present:
        missing(reason)


def require_tool(name: str, package: str) -> str:
    """The path of a command the test needs (see `require`)."""
    path = shutil.which(name)
    require(path is not None, f"`{name}` is not installed (Debian package {package})")
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Secrets a real deployer environment holds, under the names real apps give them. Every value holds
# PLANTED and a random part: neither may show up anywhere the emitter writes or sends.
SECRET_NAMES = ("RAILS_MASTER_KEY", "KAMAL_REGISTRY_PASSWORD", "SECRET_KEY_BASE", "AWS_SECRET_ACCESS_KEY",
                "STRIPE_API_KEY", "SMTP_LOGIN")


@dataclass
class Planted:
    """Random secret values planted in the environment, and the fragments that must never leak."""

    values: dict[str, str] = field(default_factory=dict)
    fragments: list[str] = field(default_factory=list)

    @classmethod
    def make(cls) -> Planted:
        planted = cls()
        for name in SECRET_NAMES:
            random = pysecrets.token_hex(10)
            planted.values[name] = f"{name.lower().replace('_', '-')}-PLANTED-{random}"
            planted.fragments.append(random)
        db_password = f"dbPLANTED{pysecrets.token_hex(8)}"
        planted.values["DATABASE_URL"] = f"postgres://shop:{db_password}@db.internal:5432/shop_production"
        planted.fragments.append(db_password)
        token = f"ghp_PLANTED{pysecrets.token_hex(16)}"
        planted.values["GITHUB_TOKEN"] = token
        planted.fragments += [token, "PLANTED"]
        return planted

    def leaks(self, text: str) -> list[str]:
        return [f for f in self.fragments if f in text]

    def assert_absent(self, text: str, where: str) -> None:
        leaked = self.leaks(text)
        assert not leaked, f"planted secret fragments {leaked} found in {where}"

    def assert_absent_in_tree(self, root: Path) -> int:
        """Every file under root; returns how many files were read."""
        count = 0
        for path in sorted(root.rglob("*")):
            if path.is_file():
                self.assert_absent(path.read_bytes().decode("utf-8", "replace"), str(path))
                count += 1
        return count


@dataclass
class App:
    """A Kamal app checkout with the emitter installed."""

    root: Path
    home: Path
    spool: Path
    planted: Planted
    hooks: Path
    bin: Path
    runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)

    @property
    def config_path(self) -> Path:
        return self.root.parent / "kamal-siem-test.yml"  # outside the checkout: the tree stays as the test made it

    def configure(self, destinations: list[dict[str, Any]], **settings: Any) -> None:
        delivery = {"timeout": 8, "max_total": 20, "attempts": 3, "backoff": 0.05, "max_backoff": 0.2, "retry_pause": 0,
                    "connect_timeout": 1, "read_timeout": 3}
        delivery.update(settings.pop("delivery", {}))
        data = {"spool_dir": str(self.spool), "delivery": delivery, "destinations": destinations, **settings}
        self.config_path.write_text(yaml.safe_dump(data), encoding="utf-8")

    def base_env(self, **extra: str) -> dict[str, str]:
        """The deployer's environment: minimal, plus what a CI job exports (GITHUB_TOKEN, DATABASE_URL)."""
        env = {"PATH": f"{self.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(self.home),
               "LANG": "C.UTF-8", "KAMAL_SIEM_CONFIG": str(self.config_path),
               "GITHUB_TOKEN": self.planted.values["GITHUB_TOKEN"], "DATABASE_URL": self.planted.values["DATABASE_URL"]}
        env.update(extra)
        return env

    def kamal(self, steps: list[dict[str, Any]], env: dict[str, str] | None = None,
              stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Runs `kamal` (our stand-in) over the steps; returns its completed process."""
        plan = self.root.parent / f"plan-{len(self.runs)}.json"
        plan.write_text(json.dumps({"app": str(self.root), "hooks": str(self.hooks), "steps": steps}), encoding="utf-8")
        result = subprocess.run([str(self.bin / "kamal"), str(plan)], cwd=self.root, env=env or self.base_env(),
                                input=stdin, capture_output=True, text=True, timeout=180)
        plan.unlink()
        self.runs.append(result)
        for stream in (result.stdout, result.stderr):
            self.planted.assert_absent(stream, "the output of a hook run")
        return result

    def hook(self, hook: str, env: dict[str, str], stdin: str = "", args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        """Runs one hook directly (not under `kamal`)."""
        result = subprocess.run([str(self.hooks / hook), *args], cwd=self.root, env=env, input=stdin,
                                capture_output=True, text=True, timeout=120)
        self.runs.append(result)
        for stream in (result.stdout, result.stderr):
            self.planted.assert_absent(stream, "the output of a hook run")
        return result

    def flush(self, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["ruby", str(self.hooks / "kamal-siem" / "emitter.rb"), "flush"], cwd=self.root,
                                env=env or self.base_env(), capture_output=True, text=True, timeout=120)
        self.runs.append(result)
        for stream in (result.stdout, result.stderr):
            self.planted.assert_absent(stream, "the output of a flush")
        return result

    def segments(self) -> list[Path]:
        return sorted(self.spool.glob("events-*.ndjson"))

    def events(self) -> list[dict[str, Any]]:
        """Every spooled event as {resource, scope, record} with plain attribute values, in order."""
        out = []
        for segment in self.segments():
            for line in segment.read_text(encoding="utf-8").splitlines():
                for _path, flat in expand(json.loads(line)):
                    out.append(flat)
        return out


FAKE_KAMAL = '''#!{python}
"""A stand-in for the kamal CLI: runs the app's hooks as Kamal 2.12's run_hook does (ENV updated with
the hook's variables, the hook file executed in the app folder, a non-zero exit aborts the command)."""
import json, os, subprocess, sys

plan = json.load(open(sys.argv[1]))
for step in plan["steps"]:
    hook = os.path.join(plan["hooks"], step["hook"])
    if not os.path.exists(hook):
        continue
    env = dict(os.environ)
    env.update(step["env"])
    for name in step.get("unset", []):
        env.pop(name, None)
    status = subprocess.run([hook], env=env, cwd=plan["app"]).returncode
    if status != 0:
        print("ERROR (Kamal::Cli::HookError): Hook `%s` failed" % step["hook"], file=sys.stderr)
        sys.exit(1)
'''


def kamal_env(hook: str, planted: Planted, *, command: str = "deploy", subcommand: str | None = None,
              destination: str | None = "production", lock: bool | None = None, runtime: int | None = None,
              hosts: str = "web-1.shop.example,web-2.shop.example", roles: str | None = None,
              performer: str = "dana@shop.example", service: str = "shop-api", secrets: bool | None = None) -> dict[str, str]:
    """The variables Kamal 2.12 sets for a hook (Kamal::Tags#env and run_hook's details, in Kamal's
    order), plus every secret for the hooks that get them."""
    env = {"KAMAL_RECORDED_AT": "2026-06-22T13:02:49Z", "KAMAL_PERFORMER": performer}
    if destination:
        env["KAMAL_DESTINATION"] = destination
    env.update({"KAMAL_VERSION": VERSION, "KAMAL_SERVICE_VERSION": f"{service}@{VERSION[:7]}", "KAMAL_SERVICE": service,
                "KAMAL_HOSTS": hosts})
    if roles:
        env["KAMAL_ROLES"] = roles
    if lock is None:
        lock = hook in ("pre-deploy", "pre-app-boot", "post-app-boot", "docker-setup", "pre-proxy-reboot",
                        "post-proxy-reboot") or (hook in ("pre-build", "post-deploy") and command == "setup")
    env["KAMAL_LOCK"] = "true" if lock else "false"
    env["KAMAL_COMMAND"] = command
    if subcommand:
        env["KAMAL_SUBCOMMAND"] = subcommand
    if runtime is not None:
        env["KAMAL_RUNTIME"] = str(runtime)
    if secrets if secrets is not None else hook in ("pre-connect", "pre-deploy", "post-deploy"):
        env.update({name: planted.values[name] for name in SECRET_NAMES})
    return env


DEPLOY_HOOKS = ("pre-connect", "pre-build", "pre-deploy", "pre-app-boot", "post-app-boot", "post-deploy")


def deploy_steps(planted: Planted, **kwargs: Any) -> list[dict[str, Any]]:
    """`kamal deploy`: pre-connect, pre-build (build push), pre-deploy (inside the lock), app boot's
    pre/post-app-boot (one host group), post-deploy (after the lock is released, with the runtime)."""
    steps = []
    for hook in DEPLOY_HOOKS:
        extra = dict(kwargs)
        if hook == "post-deploy":
            extra.setdefault("runtime", 96)
        if hook in ("pre-app-boot", "post-app-boot"):
            extra.setdefault("hosts", "web-1.shop.example,web-2.shop.example")
        steps.append({"hook": hook, "env": kamal_env(hook, planted, **extra)})
    return steps


def make_app(tmp_path: Path, *, dirty: bool = True) -> App:
    """A Kamal app in a git repository (origin with a token in its URL, a dirty tree), the emitter
    installed with `kamal-siem hooks install`, and the `kamal` stand-in on PATH."""
    require_tool("ruby", "ruby")
    require_tool("git", "git")
    planted = Planted.make()
    root = tmp_path / "shop-api"
    (root / "config").mkdir(parents=True)
    (root / "config" / "deploy.yml").write_text("service: shop-api\nimage: acme/shop-api\nservers:\n  - web-1.shop.example\n",
                                                encoding="utf-8")
    (root / ".kamal").mkdir()
    (root / ".kamal" / "secrets").write_text(
        "KAMAL_REGISTRY_PASSWORD=$KAMAL_REGISTRY_PASSWORD\nRAILS_MASTER_KEY=$(cat config/master.key)\n"
        "SECRET_KEY_BASE=$SECRET_KEY_BASE\nexport STRIPE_API_KEY=$(op read op://shop/stripe/key)\n", encoding="utf-8")
    (root / ".kamal" / "secrets-common").write_text("SMTP_LOGIN=$SMTP_LOGIN\nAWS_SECRET_ACCESS_KEY=$AWS_KEY\n", encoding="utf-8")
    git = ["git", "-c", "user.email=dana@shop.example", "-c", "user.name=Dana", "-c", "init.defaultBranch=main"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    install(root)  # the hooks are committed with the app
    subprocess.run([*git, "init", "-q"], cwd=root, check=True, env=env)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True, env=env)
    subprocess.run([*git, "commit", "-qm", "Initial"], cwd=root, check=True, env=env)
    subprocess.run([*git, "checkout", "-qb", "release/2026-06"], cwd=root, check=True, env=env)
    remote = f"https://x-access-token:{planted.values['GITHUB_TOKEN']}@github.com/acme/shop-api.git"
    subprocess.run([*git, "remote", "add", "origin", remote], cwd=root, check=True, env=env)
    if dirty:
        (root / "config" / "deploy.yml").write_text("service: shop-api\nimage: acme/shop-api\nservers: [web-1, web-2]\n",
                                                    encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kamal = bin_dir / "kamal"
    kamal.write_text(FAKE_KAMAL.format(python=sys.executable), encoding="utf-8")
    kamal.chmod(0o755)
    return App(root, home, tmp_path / "spool", planted, root / ".kamal" / "hooks", bin_dir)


def attrs(event: dict[str, Any]) -> dict[str, Any]:
    return dict(event["record"].get("attributes", {}))
