"""The real-Lucene harness the tests share: Debian's Lucene 8 jars, and tests/lucene/LuceneMatch.java
compiled into a folder of the test's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .conftest import ROOT

JARS = ("lucene-core-8.*.jar", "lucene-queryparser-8.*.jar", "lucene-memory-8.*.jar", "lucene-analyzers-common-8.*.jar",
        "jackson-databind.jar", "jackson-core.jar", "jackson-annotations.jar")


def compile_harness(out: Path) -> list[str]:
    """Compiles the harness into `out`; returns the java command that runs it."""
    jars = []
    for pattern in JARS:
        found = sorted(Path("/usr/share/java").glob(pattern))
        assert found, f"/usr/share/java/{pattern} is missing: install liblucene8-java and libjackson2-databind-java (.ci/run does)"
        jars.append(str(found[0]))
    assert shutil.which("javac"), "javac is missing: install default-jdk-headless (.ci/run does)"
    classpath = ":".join(jars)
    subprocess.run(["javac", "-cp", classpath, "-d", str(out), str(ROOT / "tests" / "lucene" / "LuceneMatch.java")], check=True)
    return ["java", "-cp", f"{classpath}:{out}", "LuceneMatch"]
