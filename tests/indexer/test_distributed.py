"""`indexer build --ray`: reading, windowing and embedding on a (local) Ray cluster write the
same index as a local build. One module-scoped local cluster: Ray starts slowly on 2 cores."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from indexer.build import build_path
from indexer.errors import BadInput
from indexer.importers import discover
from indexer.importers.archive import _raise
from indexer.model import Entry
from indexer.store import IndexStore

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'motionsearch[scale]')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'motionsearch[scale]')")


@pytest.fixture(scope="module")
def cluster():
    from indexer.distributed import RayRunner

    runner = RayRunner()
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield runner
    ray.shutdown()


def demo_with_a_bad_file() -> list[Entry]:
    """The built-in demo archive with one recording whose file is missing, in the middle."""
    entries = discover(None, "demo")
    missing = Entry("demo/missing", ["/nowhere/missing.csv"],
                    partial(_raise, BadInput("/nowhere/missing.csv", "missing stream file")))
    return entries[:5] + [missing] + entries[5:]


@pytest.mark.slow
def test_a_ray_build_writes_the_rows_and_vectors_of_a_local_build(cluster, tmp_path, tiny_encoder):
    here = build_path(tmp_path / "here", demo_with_a_bad_file(), tiny_encoder, progress=False, workers=0)
    on_ray = build_path(tmp_path / "ray", demo_with_a_bad_file(), tiny_encoder, progress=False, ray=cluster)
    assert on_ray.skipped == here.skipped == [("/nowhere/missing.csv", "missing stream file")]
    assert (on_ray.read, on_ray.windows_written) == (here.read, here.windows_written) and here.read == 48
    columns = ["id", "recording_id", "modality", "body_part", "t_start", "t_end", "label", "encoder_id"]
    a = IndexStore(tmp_path / "here").windows(columns=columns + ["vector"]).sort("id")
    b = IndexStore(tmp_path / "ray").windows(columns=columns + ["vector"]).sort("id")
    assert a.select(columns).equals(b.select(columns))
    np.testing.assert_allclose(np.stack(b["vector"].to_list()), np.stack(a["vector"].to_list()), atol=1e-6)
    assert IndexStore(tmp_path / "ray").indexed_ids(tiny_encoder.id) == IndexStore(tmp_path / "here").indexed_ids(
        tiny_encoder.id)

    # The commit log works as in a local build: a second Ray build finds everything indexed.
    again = build_path(tmp_path / "ray", demo_with_a_bad_file(), tiny_encoder, progress=False, ray=cluster)
    assert (again.already_indexed, again.read, again.windows_written) == (48, 0, 0)
