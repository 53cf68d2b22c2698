"""A reproducible corpus of Kamal 2 audit lines for the benchmarks: the same seed gives the same bytes.

The mix follows a busy production app: deploys (pull, boot per role, tag, prune), execs, accessory
and proxy operations, one line in 3,000 of a kind the parser does not know, and a few lines each
of what the rules catch (an uncommitted version, a secret dump, a server exec), so the rules have
work to do and raise about as many alerts as a real week would at this volume."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from pathlib import Path

# everyone in tuning.yml's example allowlist: the allowlist rule stays quiet, as it does once tuned
PEOPLE = ["dana@shop.example", "erik@shop.example", "runner", "mallory@shop.example", "omar@shop.example"]
VERSION = 2  # of the mix below; part of the corpus file names, so a change regenerates them


def write_corpus(path: Path, lines: int, seed: int = 20261127) -> Path:
    rng = random.Random(seed)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with path.open("w", encoding="utf-8") as out:
        buffer = []
        for i in range(lines):
            ts = (start + dt.timedelta(seconds=i * 3)).strftime("%Y-%m-%dT%H:%M:%SZ")
            who = PEOPLE[(i // 40) % len(PEOPLE)]
            version = hashlib.sha1(str(i // 200).encode()).hexdigest()
            r = rng.random()
            if r < 0.18:
                tags, msg = "[production]", f"Pulled image with version {version}"
            elif r < 0.36:
                tags, msg = f"[production] [{rng.choice(['web', 'workers'])}]", f"Booted app version {version}"
            elif r < 0.50:
                tags, msg = "[production]", f"Tagging ghcr.io/shop/api:{version} as the latest image"
            elif r < 0.60:
                tags, msg = "[production]", "Pruned containers"
            elif r < 0.70:
                tags, msg = "[production]", "Pruned images"
            elif r < 0.80:
                tags, msg = "[production]", f"Executed cmd 'bin/rails runner \"Order.find({i}).touch\"' on app version {version}"
            elif r < 0.85:
                tags, msg = "[production]", f"Executed cmd 'bin/rails db:migrate:status' on app version {version}"
            elif r < 0.90:
                tags, msg = "[production]", f"Executed cmd 'redis-cli INFO keyspace' on {rng.choice(['redis', 'db'])} accessory"
            elif r < 0.94:
                tags, msg = "[production]", rng.choice(["Rebooted proxy", "Booted redis accessory", "Stopped redis accessory"])
            elif r < 0.9985:
                tags, msg = "[production]", f"Pulled image with version {version}"
            elif r < 0.9990:
                tags, msg = "[production]", f"Executed cmd 'df -h /var/lib/docker' on 10.0.{i % 4}.{i % 250}"
            elif r < 0.9995:
                tags, msg = "[production] [web]", f"Booted app version {version}_uncommitted_{version[:16]}"
            elif r < 0.9997:
                tags, msg = "[production]", f"Executed cmd 'printenv' on app version {version}"
            else:
                tags, msg = "[production]", "Frobnicated the deploy"
            buffer.append(f"[{ts}] [{who}] {tags} {msg}\n")
            if len(buffer) >= 100_000:
                out.write("".join(buffer))
                buffer = []
        out.write("".join(buffer))
    return path
