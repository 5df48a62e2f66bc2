"""Session fixtures shared by the UI tests (loaded with `pytest_plugins = ["ui_harness"]`, so
both test files get one index and one running server).

The index is small and real: a quarter of the demo archive plus, when ../shared/data is there,
two UTD-MHAD test-subject clips (with depth video) and one CMU take, embedded through the real
build by a tiny randomly initialised text-aligned encoder (IMU, pose and video towers; a tiny
open_clip text tower), so every kind of search runs its real code. Rankings from random weights
mean nothing; the tests check the page against the query API, not retrieval quality. The
server is the real app launched by `ui.app.serve` on a free local port.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import CMU, UTD
from tiny_clip import TINY_CLIP, TINY_TOWER_PARAMS, TINY_VIDEO_PARAMS

UTD_CLIPS = ("utd-mhad/a1_s2_t1", "utd-mhad/a5_s4_t2")  # test subjects, right-wrist actions
MAX_UPLOAD_MB = 1.0  # small, so the size limit can be tested without big files


@pytest.fixture(scope="session")
def ui_index(tmp_path_factory) -> Path:
    """The small test index, or the index in $MOTIONSEARCH_UI_INDEX (e.g. ./demo-index: how the
    browser test times the page and takes the README's screenshots on the demo)."""
    if os.environ.get("MOTIONSEARCH_UI_INDEX"):
        return Path(os.environ["MOTIONSEARCH_UI_INDEX"])
    from encoders import checkpoint
    from encoders.factory import create_model, load_checkpoint
    from encoders.model import text_aligned_config
    from encoders.video import video_tower_spec
    from indexer.build import build_path
    from indexer.importers import discover

    root = tmp_path_factory.mktemp("ui-index")
    video = video_tower_spec("small_cnn", rate=4.0, size=48, params=TINY_VIDEO_PARAMS)
    checkpoint.save(create_model(text_aligned_config("cnn_gru", TINY_CLIP, video, params=TINY_TOWER_PARAMS), seed=0),
                    root / "encoder")
    encoder = load_checkpoint(root / "encoder")
    entries = [e for e in discover(None, "demo") if e.subject in ("1", "2") and e.id.endswith("_t1")]
    if (UTD / "inertial").is_dir():
        entries += [e for e in discover(UTD) if e.id in UTD_CLIPS]
    if any(CMU.glob("*.bvh")):
        entries += discover(CMU)[:1]
    summary = build_path(root / "index", entries, encoder, progress=False)
    assert not summary.skipped, summary.format()
    return root / "index"


@pytest.fixture(scope="session")
def ui_server(ui_index, tmp_path_factory):
    """(app, base url) of the launched page; closed at the end of the session."""
    from ui.app import serve

    before = os.environ.get("GRADIO_TEMP_DIR")
    app, url = serve(ui_index, port=None, block=False, max_upload_mb=MAX_UPLOAD_MB,
                     workdir=tmp_path_factory.mktemp("ui-work"))
    yield app, url.rstrip("/") + "/"
    app.close()
    if before is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = before


@pytest.fixture(scope="session")
def query_files(tmp_path_factory) -> dict[str, Path]:
    """Query clips written the way a user would have them: a demo IMU clip (.npy and .csv, 50 Hz)
    and the same take's pose (.npy, canonical joints, 30 Hz)."""
    from indexer.importers.demo import make_recording

    folder = tmp_path_factory.mktemp("ui-queries")
    rec = make_recording("waving", "3", "2")  # subject 3 is not in the index: a new clip
    imu = rec.imu[0]
    np.save(folder / "waving_imu.npy", imu.data)
    header = ",".join(imu.channels)
    np.savetxt(folder / "waving_imu.csv", imu.data, delimiter=",", header=header, comments="")
    np.save(folder / "waving_pose.npy", rec.pose.data)
    return {"imu_npy": folder / "waving_imu.npy", "imu_csv": folder / "waving_imu.csv",
            "pose_npy": folder / "waving_pose.npy"}
