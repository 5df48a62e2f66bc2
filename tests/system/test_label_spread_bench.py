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
