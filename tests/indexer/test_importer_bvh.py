"""BVH importer: a hand-made BVH with a known answer, the real CMU takes, and broken files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.bodyparts import SKELETONS
from indexer.errors import BadInput
from indexer.importers import bvh, detect_format

CMU = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cmu-mocap"


def cmu_or_skip() -> Path:
    if not (CMU / "02_01.bvh").exists():
        pytest.skip(f"CMU mocap data not found at {CMU}")
    return CMU


# A 3-joint chain: root (6 channels, rotation order Z X Y) -> b at (0, 1, 0) -> c at (1, 0, 0).
TINY = """\
HIERARCHY
ROOT root
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT b
  {
    OFFSET 0 1 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT c
    {
      OFFSET 1 0 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 0.5 0
      }
    }
  }
}
MOTION
Frames: 4
Frame Time: 0.01
1 2 3 0 0 0 0 0 0 0 0 0
0 0 0 90 0 0 0 0 0 0 0 0
0 0 0 90 90 0 0 0 0 0 0 0
0 0 0 0 0 0 90 0 0 0 0 0
"""


def write(tmp_path: Path, text: str, name: str = "take.bvh") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- known answers


def test_tiny_chain_forward_kinematics(tmp_path):
    motion = bvh.parse_bvh(write(tmp_path, TINY), units="m")
    assert motion.joint_names == ["root", "b", "c"]  # End Site is not a joint
    assert motion.parents == [-1, 0, 1]
    assert motion.rate == pytest.approx(100.0)
    p = motion.positions
    assert p.shape == (4, 3, 3)
    # Frame 0: pure translation of the root.
    np.testing.assert_allclose(p[0], [[1, 2, 3], [1, 3, 3], [2, 3, 3]], atol=1e-9)
    # Frame 1: root turns 90 degrees about Z: (0,1,0) -> (-1,0,0) and (1,0,0) -> (0,1,0).
    np.testing.assert_allclose(p[1], [[0, 0, 0], [-1, 0, 0], [-1, 1, 0]], atol=1e-9)
    # Frame 2: Z then X as written means R = Rz(90) @ Rx(90): b's (0,1,0) -> (0,0,1) (the
    # opposite order would put it at (-1,0,0)); c's (1,0,0) -> (0,1,0).
    np.testing.assert_allclose(p[2], [[0, 0, 0], [0, 0, 1], [0, 1, 1]], atol=1e-9)
    # Frame 3: only b turns, so only c moves: b + Rz(90) (1,0,0) = (0,1,0) + (0,1,0).
    np.testing.assert_allclose(p[3], [[0, 0, 0], [0, 1, 0], [0, 2, 0]], atol=1e-9)


def test_units_scale_lengths(tmp_path):
    path = write(tmp_path, TINY)
    metres = bvh.parse_bvh(path, units="m").positions
    np.testing.assert_allclose(bvh.parse_bvh(path, units="in").positions, metres * 0.0254)
    np.testing.assert_allclose(bvh.parse_bvh(path, units="cm").offsets[1], [0, 0.01, 0])
    np.testing.assert_allclose(bvh.parse_bvh(path, units=0.5).positions, metres * 0.5)


def test_tuple_unpacking_and_glued_braces(tmp_path):
    glued = TINY.replace("ROOT root\n{", "ROOT root{").replace("  }\n}\nMOTION", "  }}\nMOTION")
    names, parents, offsets, positions, frame_time = bvh.parse_bvh(write(tmp_path, glued), units="m")
    assert names == ["root", "b", "c"] and parents == [-1, 0, 1]
    assert frame_time == pytest.approx(0.01)
    np.testing.assert_allclose(offsets, [[0, 0, 0], [0, 1, 0], [1, 0, 0]])
    assert positions.shape == (4, 3, 3)


def test_single_file_and_missing_description(tmp_path):
    folder = tmp_path / "my-mocap"
    folder.mkdir()
    path = write(folder, TINY, "07_03.bvh")
    (folder / "descriptions.csv").write_text("file,subject,description\nother.bvh,9,run\n")
    assert bvh.detect(path) and bvh.detect(folder) and not bvh.detect(tmp_path)
    entries = bvh.discover(path, units="m")
    assert [e.id for e in entries] == ["my-mocap/07_03"]
    with pytest.raises(BadInput, match="fit no skeleton"):
        entries[0].load()  # "root/b/c" maps onto no body parts: reported, not indexed blind


# ----------------------------------------------------------------------------- CMU takes


def test_cmu_folder_is_detected_and_sorted():
    root = cmu_or_skip()
    assert detect_format(root) == "bvh"
    entries = bvh.discover(root)
    ids = [e.id for e in entries]
    assert len(ids) == len(list(root.glob("*.bvh"))) == 58
    assert ids == sorted(ids) and ids[0] == "cmu-mocap/02_01"
    assert entries[0].sources == [str(root / "02_01.bvh")]


def test_cmu_walk_take():
    root = cmu_or_skip()
    rec = {e.id: e for e in bvh.discover(root)}["cmu-mocap/02_01"].load()
    pose = rec.pose
    assert pose.data.shape == (344, 43, 3)
    assert pose.rate == 120.0
    assert pose.skeleton == "cmu-bvh"
    assert pose.joints[0] == "hip" and "End Site" not in pose.joints and "lFoot" in pose.joints
    assert rec.subject == "2" and rec.trial == "01"
    assert rec.labels == ["walk"]
    assert len(rec.text) == 1 and rec.text[0].text == "walk"
    assert rec.text[0].end == pytest.approx(344 / 120)
    # Metres, y up: a walking adult's pelvis about 0.85-1.0 m up, ankles a few cm above the floor.
    hip_y = pose.data[:, pose.joints.index("hip"), 1]
    feet_y = pose.data[:, [pose.joints.index("lFoot"), pose.joints.index("rFoot")], 1]
    head_y = pose.data[:, pose.joints.index("head"), 1]
    assert 0.8 < np.median(hip_y) < 1.0
    assert 0.0 < feet_y.min() < 0.15
    assert 1.35 < np.median(head_y) < 1.7
    print(f"02_01: hip at frame 0 {pose.data[0, 0]}, median hip height {np.median(hip_y):.3f} m, "
          f"lowest ankle {feet_y.min():.3f} m")
    canonical = pose.canonical()
    assert canonical.shape == (344, 16, 3)


def test_cmu_bones_are_rigid():
    root = cmu_or_skip()
    motion = bvh.parse_bvh(root / "02_01.bvh")
    p = motion.positions
    for j, parent in enumerate(motion.parents):
        if parent < 0:
            continue
        length = np.linalg.norm(p[:, j] - p[:, parent], axis=-1)
        # Rigid FK: every frame has the rest offset's length.
        assert np.ptp(length) < 1e-4, motion.joint_names[j]
        assert length[0] == pytest.approx(np.linalg.norm(motion.offsets[j]), abs=1e-6)
    thigh = np.linalg.norm(motion.offsets[motion.joint_names.index("rShin")])
    assert 0.3 < thigh < 0.5  # a femur in metres


def test_cmu_units_are_resolved_per_file():
    root = cmu_or_skip()
    daz = bvh.parse_bvh(root / "02_01.bvh")
    assert daz.units == "cm"
    # The README's "inches" would make the walker's hip 2.2 m high.
    inches = bvh.parse_bvh(root / "02_01.bvh", units="in")
    assert np.median(inches.positions[:, 0, 1]) > 2.0
    asf = bvh.parse_bvh(root / "16_01.bvh")  # the ASF-named conversion, 30 fps
    assert asf.units == "cmu-asf" and asf.rate == 30.0
    assert len(asf.joint_names) == 31 and "lfemur" in asf.joint_names
    assert 0.9 < np.median(asf.positions[:, 0, 1]) < 1.1


def test_cmu_asf_take_is_indexed_or_reported():
    root = cmu_or_skip()
    entry = {e.id: e for e in bvh.discover(root)}["cmu-mocap/16_01"]
    if not any(set(m) <= set(bvh.parse_bvh(root / "16_01.bvh").joint_names) for m in SKELETONS.values()):
        with pytest.raises(BadInput) as err:
            entry.load()
        assert str(root / "16_01.bvh") in str(err.value)
    else:
        rec = entry.load()
        assert rec.pose.canonical().shape[1] == 16 and rec.labels == ["jump"]


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty"),
        ("   \n\n", "empty"),
        (TINY.replace("0 0 0 0 0 0 90 0 0 0 0 0\n", ""), "truncated MOTION"),
        (TINY.replace("Frames: 4", "Frames: 40"), "truncated MOTION"),
        (TINY.replace("1 2 3 0 0 0 0 0 0 0 0 0\n", "1 2 3 0 0 0 0 0 0 0 0\n"), "has 11 values"),
        (TINY.replace("1 2 3 0 0 0", "1 2 x 0 0 0"), "non-numeric value 'x'"),
        (TINY.replace("Frame Time: 0.01", "Frame Time: 0"), "bad Frame Time"),
        (TINY.replace("Frame Time: 0.01", "Frame Time: -0.01"), "bad Frame Time"),
        (TINY.replace("HIERARCHY\n", ""), "missing HIERARCHY"),
        (TINY.split("MOTION")[0], "missing MOTION"),
        (TINY.replace("OFFSET 0 1 0", "OFFSET 0 one 0"), "non-numeric OFFSET"),
        (TINY.replace("Zrotation Xrotation Yrotation\n  JOINT b", "Zrotation Xrotation Wrotation\n  JOINT b"), "unknown channel"),
    ],
)
def test_bad_files_name_the_file(tmp_path, text, reason):
    path = write(tmp_path, text)
    with pytest.raises(BadInput, match=reason) as err:
        bvh.parse_bvh(path, units="m")
    assert str(path) in str(err.value)


def test_bad_file_fails_only_its_entry(tmp_path):
    root = cmu_or_skip()
    folder = tmp_path / "mix"
    folder.mkdir()
    (folder / "a_good.bvh").write_text((root / "02_01.bvh").read_text())
    (folder / "b_empty.bvh").write_text("")
    good, bad = bvh.discover(folder)
    assert good.load().pose.data.shape == (344, 43, 3)
    assert good.load().labels == []  # no descriptions.csv: imported without labels
    with pytest.raises(BadInput, match="empty"):
        bad.load()


DATA = CMU.parent


@pytest.mark.parametrize("folder, skeleton, first_label", [
    ("bandai-namco/dataset-2/data", "bandai21", "raise up both hands"),
    ("bandai-namco/dataset-1/data", "bandai21", None),
    ("cmu-mocap-iclone/bvh", "iclone-cc", None),
])
def test_other_real_mocap_sets_import_with_their_labels(folder, skeleton, first_label):
    """The Bandai Namco (21 joints) and iClone-named CMU takes read without any renaming: an
    upright body in metres, labelled from the JSON side files / the CMU database index."""
    path = DATA / folder
    if not path.is_dir():
        pytest.skip(f"{path} not found")
    entries = bvh.discover(path)
    assert len(entries) >= 50
    for entry in entries[:: max(1, len(entries) // 8)]:
        rec = entry.load()
        assert rec.pose.skeleton == skeleton
        assert rec.labels and rec.text, entry.id  # every take is described
        canon = rec.pose.canonical()
        height = canon[:, 3, 1].mean() - canon[:, [12, 15], 1].mean()  # head above ankles, y up
        assert 1.0 < height < 2.0, (entry.id, height)
    if first_label:
        assert entries[0].load().labels[0] == first_label
