"""Video decoding on the real UTD-MHAD depth clips, bad files, video windows and the towers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_clip import TINY_CLIP, TINY_VIDEO_PARAMS

from encoders.video import ClipFrames, SmallVideoCnn
from indexer.errors import BadInput
from indexer.video import probe_video, read_frames


@pytest.fixture(scope="module")
def depth_mp4(utd_dir):
    return utd_dir / "depth-video" / "a1_s1_t1_depth.mp4"


def _all_frames(path):
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_probe_matches_the_inertial_clip(depth_mp4, utd_dir):
    import scipy.io

    info = probe_video(depth_mp4)
    imu = scipy.io.loadmat(str(utd_dir / "inertial" / "a1_s1_t1_inertial.mat"))["d_iner"]
    assert (info.width, info.height) == (320, 240)
    assert info.duration == pytest.approx(len(imu) / 50.0, abs=0.1)  # the README: video spans the IMU clip


def test_read_frames_seeks_to_exactly_the_frames_of_the_interval(depth_mp4):
    every = _all_frames(depth_mp4)
    fps = probe_video(depth_mp4).fps
    got = read_frames(depth_mp4, 1.0, 2.0, fps)
    assert got.shape == (int(fps), 240, 320, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, every[int(fps) : 2 * int(fps)])
    half = read_frames(depth_mp4, 0.0, 1.0, fps / 3)  # every third frame
    np.testing.assert_array_equal(half, every[0 : int(fps) : 3])


def test_read_frames_stops_at_the_end_and_letterboxes(depth_mp4):
    info = probe_video(depth_mp4)
    got = read_frames(depth_mp4, 0.0, info.duration + 5.0, 5.0, 64)
    assert got.shape[1:] == (64, 64, 3)
    assert len(got) == int(np.ceil(info.duration * 5.0 - 1e-6))  # no frames past the video's end
    assert got[:, :8].max() == 0 and got[:, -8:].max() == 0  # 4:3 frame centred on a square: black bars
    assert got[:, 16:48].max() > 0


def test_bad_videos_raise_bad_input_naming_the_file(tmp_path, depth_mp4):
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(depth_mp4.read_bytes()[:3000])
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all " * 100)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path, reason in [(truncated, "not a readable video"), (garbage, "not a readable video"),
                         (empty, "empty"), (tmp_path / "missing.mp4", "does not exist")]:
        with pytest.raises(BadInput) as err:
            read_frames(path, 0.0, 1.0, 5.0, 32)
        assert err.value.path == str(path) and reason in err.value.reason
    with pytest.raises(BadInput, match="no decodable video frames"):
        read_frames(depth_mp4, 30.0, 31.0, 5.0, 32)


def test_recording_windows_cut_video_like_the_other_streams(utd_dir):
    from indexer.importers import discover
    from indexer.windows import WindowSpec, recording_windows

    entry = next(e for e in discover(utd_dir, "utd-mhad") if e.id.endswith("a1_s1_t1"))
    rec = entry.load()
    windows = recording_windows(rec, WindowSpec(2.0, 1.0), {"imu": 50.0, "video": 5.0}, video_size=48)
    imu = [w for w in windows if w.modality == "imu"]
    video = [w for w in windows if w.modality == "video"]
    assert [w.t_start for w in video] == [w.t_start for w in imu] and video
    for w in video:
        assert w.body_part == "all" and w.data.shape == (10, 48, 48, 3) and w.data.dtype == np.uint8
        assert w.valid == int(np.ceil((w.t_end - w.t_start) * 5.0 - 1e-6))
        assert w.data[w.valid :].max(initial=0) == 0


def test_small_cnn_ignores_padding_and_prepares_once():
    torch.manual_seed(0)
    tower = SmallVideoCnn(1, 24, **TINY_VIDEO_PARAMS).eval()
    frames = torch.randint(0, 255, (2, 8, 40, 40, 3), dtype=torch.uint8)
    frames[:, :, :5] = 0  # some background for the foreground crop
    valid = torch.tensor([8, 5])
    with torch.no_grad():
        out = tower(frames, valid)
        noisy = frames.clone()
        noisy[1, 5:] = 200  # padding content must not matter
        np.testing.assert_allclose(tower(noisy, valid).numpy(), out.numpy(), atol=1e-5)
        np.testing.assert_allclose(tower.forward_prepared(tower.prepare(frames, valid), valid).numpy(),
                                   out.numpy(), atol=1e-6)
    assert out.shape == (2, 24)
    np.testing.assert_allclose(out.norm(dim=1).numpy(), 1.0, atol=1e-5)
    assert not torch.allclose(out[0], out[1])


def test_clip_frames_runs_the_frozen_open_clip_image_tower():
    tower = ClipFrames(3, 32, clip=TINY_CLIP, project=False).eval()
    frames = torch.randint(0, 255, (2, 4, 48, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        out = tower(frames, torch.tensor([4, 2]))
        # the mean of the frame embeddings of the image tower, nothing learned on top
        per_frame = tower.frame_embeddings(frames[1, :2])
    expected = per_frame.mean(0) / per_frame.mean(0).norm()
    np.testing.assert_allclose(out[1].numpy(), expected.numpy(), atol=1e-5)
    assert list(tower.state_dict()) == []  # the frozen weights never go into a checkpoint
    projected = ClipFrames(3, 16, clip=TINY_CLIP, project=True)
    assert set(projected.state_dict()) == {"proj.weight"}
    with pytest.raises(ValueError, match="project"):
        ClipFrames(3, 16, clip=TINY_CLIP, project=False)
