"""bench/label_spread.py: the timing report of `query label --spread`'s own work, on small sizes."""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import label_spread  # noqa: E402


def test_the_report_times_each_size(tmp_path, capsys):
    out = tmp_path / "spread.json"
    assert label_spread.main(["--sizes", "300", "1000", "--dim", "32", "--labels", "4", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [r["n_windows"] for r in report["sizes"]] == [300, 1000] and report["dim"] == 32
    for row in report["sizes"]:
        assert row["graph_s"] >= 0 and row["spread_s"] >= 0 and row["total_s"] >= row["graph_s"]
        # each window keeps its 10 nearest, and the graph is made symmetric: 10-20 edges a window
        assert 10 * row["n_windows"] <= row["edges"] <= 20 * row["n_windows"]
    assert "1,000 windows" in capsys.readouterr().out


def test_an_approximate_graph_is_compared_with_the_exact_one(tmp_path, capsys):
    """Above --exact-up-to windows the neighbours come from an inverted-file search; the report
    then says how many of the exact graph's edges it found and how many spread labels agree."""
    out = tmp_path / "spread.json"
    assert label_spread.main(["--sizes", "500", "8000", "--labels", "4", "--exact-up-to", "1000",
                              "--json", str(out)]) == 0
    small, large = json.loads(out.read_text())["sizes"]
    assert small["search"] == "exact" and "neighbour_recall" not in small
    assert large["search"] == "ivf" and large["exact_graph_s"] >= 0
    # clustered windows in 384 dimensions: the probed lists hold nearly all true neighbours (0.99
    # when measured), and the labels follow
    assert large["neighbour_recall"] > 0.9 and large["same_label"] > 0.95
    assert "of its edges found" in capsys.readouterr().out
