"""The README's examples on the demo index run as written: its Python block, the demo searches
and the bring-your-own-archive commands. They run from the repository, where the quick start's
first command builds ./demo-index (as .ci/run does before the tests)."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
DEMO = REPO / "demo-index"
needs_demo = pytest.mark.skipif(not (DEMO / "windows.lance").exists(),
                                reason="run the quick start first: python -m indexer build --demo ./demo-index")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def commands_after(heading: str) -> list[str]:
    """The shell lines of the first bash block after `heading`."""
    rest = README[README.index(heading):]
    block = re.search(r"```bash\n(.*?)```", rest, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


@pytest.mark.slow
@needs_demo
def test_the_python_example_runs(tmp_path):
    (code,) = blocks("python")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "walking" in run.stdout and "waving" in run.stdout


@pytest.mark.slow
@needs_demo
def test_the_demo_searches_run():
    for line in commands_after("Then search the demo"):
        if line.startswith("python -m ui"):
            continue  # serves until stopped; the UI tests launch it
        run = subprocess.run([sys.executable, *shlex.split(line)[1:]], cwd=REPO, capture_output=True, text=True,
                             timeout=600)
        assert run.returncode == 0, f"{line}\n{run.stderr[-2000:]}"
        assert "demo/" in run.stdout, line


@pytest.mark.slow
@needs_demo
def test_bringing_your_own_archive_runs(tmp_path):
    for line in commands_after("## Bringing your own recordings"):
        argv = [a.replace("./demo-index", str(DEMO)) for a in shlex.split(line)[1:]]
        run = subprocess.run([sys.executable, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, f"{line}\n{run.stderr[-2000:]}"
    assert "read: 2, skipped: 0" in run.stdout


def test_the_module_table_names_every_module():
    """A newcomer finds every module of the four packages in the README's table, with what it
    is for: a module added without a line there fails here."""
    start = README.index("| package | modules |")
    table = README[start:README.index("\n\n", start)]
    rows = {row.split("|")[1].strip(" `/"): row for row in table.splitlines()[2:]}
    missing = []
    for package in ("indexer", "encoders", "query", "ui"):
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO / package)
            if path.name in ("__init__.py", "__main__.py") or "builtin" in rel.parts[0]:
                continue
            named = f"`{rel.as_posix()}`" in rows[package] or f"`{path.name}`" in rows[package] or \
                (len(rel.parts) > 1 and f"`{rel.parts[0]}/`" in rows[package])
            if not named:
                missing.append(f"{package}/{rel.as_posix()}")
    assert not missing, f"modules missing from the README's module table: {', '.join(missing)}"
