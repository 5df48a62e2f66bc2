"""The declared public APIs of query and ui, and the import rules the redesign set: layers point
one way (ui -> query -> encoders -> indexer), own packages are imported at module top (only the
CLI handlers defer them, to answer --help before torch or gradio load)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import query
import ui

ROOT = Path(__file__).resolve().parents[1]
OWN = ("query", "ui", "indexer", "encoders")
ENCODERS_API = {"Encoder", "load_checkpoint", "TokenEncoder", "owned_tokens", "token_spans", "conform_imu",
                "project_2d"}


def _modules(package: str):
    for path in sorted((ROOT / package).glob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def _imported(node) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    return []


def _type_checking_names(tree: ast.Module) -> set[str]:
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    return {a.asname or a.name for n in block.body for a in n.names}


@pytest.mark.parametrize("package", [query, ui])
def test_all_exports_and_type_checking_block_agree(package):
    tree = ast.parse(Path(package.__file__).read_text())
    assert len(package.__all__) == len(set(package.__all__))
    assert set(package.__all__) == set(package._EXPORTS) == _type_checking_names(tree)
    for name in package.__all__:
        assert getattr(package, name) is not None


def test_ui_needs_only_query():
    for path, tree in _modules("ui"):
        for node in ast.walk(tree):
            for module in _imported(node):
                assert module.split(".")[0] not in ("indexer", "encoders"), f"{path.name} imports {module}"


def test_query_uses_only_the_public_encoders_names():
    for path, tree in _modules("query"):
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "encoders":
                assert node.module == "encoders", f"{path.name} imports {node.module}"
                assert {a.name for a in node.names} <= ENCODERS_API, path.name
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("encoders") for a in node.names), path.name


@pytest.mark.parametrize("package", ["query", "ui"])
def test_own_packages_are_imported_at_module_top(package):
    for path, tree in _modules(package):
        if path.name == "cli.py":  # command handlers defer the heavy API until arguments are parsed
            continue
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    for module in _imported(node):
                        assert module.split(".")[0] not in OWN, f"{path.name}:{node.lineno} imports {module}"


@pytest.mark.parametrize("package, heavy, argv", [
    ("query", "torch", ["--help"]), ("query", "torch", ["txet"]), ("query", "torch", ["sync", "--help"]),
    ("ui", "gradio", ["--help"]), ("ui", "gradio", ["--port", "1"]),
])
def test_cli_answers_before_loading_heavy_libraries(package, heavy, argv):
    code = (f"import sys\nfrom {package}.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            f"print({heavy!r} in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout + done.stderr


def test_layers_point_one_way_and_query_has_no_circles():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("encoders", "indexer", "query", "ui", include_external_packages=False)
    illegal = graph.find_illegal_dependencies_for_layers(layers=["ui", "query", "encoders", "indexer"],
                                                         containers=set())
    # indexer.cli is the one place allowed to hand the build a concrete encoder (DESIGN.md).
    assert {(d.importer, d.imported) for d in illegal} <= {("indexer", "encoders")}
    for dep in illegal:
        assert {h for r in dep.routes for h in r.heads} <= {"indexer.cli"}
    modules = sorted(m for m in graph.modules if m.startswith("query."))
    circles = [(a, b) for i, a in enumerate(modules) for b in modules[i + 1:]
               if graph.chain_exists(a, b) and graph.chain_exists(b, a)]
    assert not circles
