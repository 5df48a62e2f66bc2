"""The layout holds: layers point one way, no import cycles, no hidden own-package imports inside
functions, declared public APIs, and command lines that answer before loading torch."""
from __future__ import annotations

import ast
import importlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("indexer", "encoders", "query", "ui")
HEAVY = ("torch", "lancedb", "gradio", "faiss", "polars", "pyarrow", "ray", "boto3")


def _sources():
    for package in PACKAGES:
        yield from sorted((REPO / package).rglob("*.py"))


def _deferred_own_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every own-package import inside a function body."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if in_function and isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module]
            elif in_function and isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            else:
                names = []
            found.extend((child.lineno, n) for n in names if n.split(".")[0] in PACKAGES)
            visit(child, inner)

    visit(tree, False)
    return found


def test_no_own_package_import_hides_inside_a_function():
    """Imports inside functions once hid three import cycles; only the command-line modules may
    defer an own-package import (so that torch loads after the arguments are parsed)."""
    offenders = []
    for path in _sources():
        rel = path.relative_to(REPO)
        if path.name == "cli.py":
            continue
        offenders += [f"{rel}:{line} imports {mod}" for line, mod in _deferred_own_imports(ast.parse(path.read_text()))]
    assert offenders == []


def test_import_contracts_hold():
    """The layers ui -> query -> encoders -> indexer, ui over query only, query and ui kept out of
    the index layout's modules, and no cycles inside a package (pyproject.toml
    [tool.importlinter]); .ci/run runs the same check."""
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (the dev extra brings it)")
    run = subprocess.run([exe, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "BROKEN" not in run.stdout


def _type_checking_names(tree: ast.Module) -> set[str]:
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    return {a.asname or a.name for n in block.body for a in n.names}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves_and_the_three_lists_agree(package):
    """`__all__`, the lazy-export table and the TYPE_CHECKING imports name the same API."""
    module = importlib.import_module(package)
    assert module.__all__, f"{package} declares no public API"
    assert len(module.__all__) == len(set(module.__all__))
    assert set(module.__all__) == set(module._EXPORTS) == _type_checking_names(ast.parse(Path(module.__file__).read_text()))
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert missing == []


ENCODERS_API = {"Encoder", "load_checkpoint", "TokenEncoder", "owned_tokens", "token_spans", "conform_imu",
                "project_2d", "SHIPPED", "checkpoint_config", "load_text_tower", "EncoderConfig",
                "centred_cosines", "label_sums", "refined_labels", "neighbour_graph", "spread", "MAX_SPREAD_WINDOWS",
                "expanded_query", "EXPAND_HITS", "balanced", "macro_f1", "spec_for_modality"}


def test_query_uses_only_the_public_encoders_names():
    for path in sorted((REPO / "query").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "encoders":
                assert node.module == "encoders", f"{path.name} imports {node.module}"
                assert {a.name for a in node.names} <= ENCODERS_API, path.name
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("encoders") for a in node.names), path.name


def test_the_readme_import_works():
    run = subprocess.run([sys.executable, "-c", "from query import open_index; print(open_index.__name__)"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "open_index"


PROBE = """
import runpy, sys
sys.argv = [{package!r}] + {argv!r}
try:
    runpy.run_module({package!r}, run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
print("EXIT", code)
print("LOADED", ",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("package, argv, code", [
    *[(p, ["--help"], 0) for p in PACKAGES],
    *[(p, ["no-such-command"], 2) for p in ("indexer", "encoders", "query")],
    ("indexer", ["build", "--demo", "x", "--workers", "-1"], 2), ("indexer", ["build", "--help"], 0),
    ("query", ["sync", "--help"], 0), ("encoders", ["train-tokens", "--help"], 0),
    ("ui", ["--port", "1"], 2),  # neither --index nor --demo
])
def test_command_lines_answer_before_loading_heavy_libraries(package, argv, code):
    """`--help` and a typo answer at once: nothing heavy is imported before the arguments are parsed."""
    expected = code
    code = PROBE.format(package=package, argv=argv, heavy=HEAVY)
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - start
    out = run.stdout.splitlines()
    assert f"EXIT {expected}" in out, run.stdout + run.stderr
    assert "LOADED " in out, out  # none of torch, lancedb, gradio, faiss
    assert seconds < 10  # generous on a loaded 2-core machine; torch alone takes ~3 s here
