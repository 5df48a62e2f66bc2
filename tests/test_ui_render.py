"""The UI's pictures (front view, cards, video cuts), score cue and filters, without a server."""
from __future__ import annotations

import numpy as np
import pytest

from indexer.importers.demo import make_recording
from ui import render
from ui.filters import Filters


@pytest.fixture(scope="module")
def demo():
    return make_recording("squat", "2", "1")


def test_video_clip_cuts_the_matched_range(utd_dir, tmp_path):
    import av

    from indexer.importers import discover

    rec = next(e for e in discover(utd_dir) if e.id == "utd-mhad/a1_s2_t1").load()
    out = render.video_clip(rec.video, tmp_path / "clip.mp4", 0.5, 2.0)
    with av.open(str(out)) as clip, av.open(rec.video.path) as src:
        stream, rate = clip.streams.video[0], float(src.streams.video[0].average_rate)
        frames = sum(1 for _ in clip.decode(stream))
        assert stream.codec_context.name == "h264"
    assert abs(frames - 1.5 * rate) <= 1.5
    with pytest.raises(ValueError, match="no video frame"):
        render.video_clip(rec.video, tmp_path / "none.mp4", 50.0, 60.0)


def test_filters_become_sql_over_windows_and_recordings():
    f = Filters.from_inputs(["demo"], [2], ["it's a wave"], 0, 0)
    assert f.windows_where(None) == "dataset IN ('demo') AND subject IN ('2') AND label IN ('it''s a wave')"
    assert f.recordings_where() == "dataset IN ('demo') AND subject IN ('2') AND text IN ('it''s a wave')"
    assert Filters.from_inputs([], [], [], None, None).windows_where(None) is None
    assert Filters.from_inputs([], [], [], 3, 0).recordings_where() == "duration >= 3.0"
    with pytest.raises(ValueError, match="above the maximum"):
        Filters.from_inputs([], [], [], 5, 2)


def test_uploads_accept_every_video_the_library_reads(tmp_path):
    """One list of video suffixes: what the library decodes (.m4v included), the page accepts."""
    from query import VIDEO_SUFFIXES
    from ui.views import UPLOAD_TYPES, check_upload

    assert ".m4v" in VIDEO_SUFFIXES and tuple(UPLOAD_TYPES["video"]) == tuple(VIDEO_SUFFIXES)
    clip = tmp_path / "clip.m4v"
    clip.write_bytes(b"\0" * 16)
    assert check_upload(str(clip), "video", 1000) == clip


def test_body_frame_puts_the_persons_right_on_the_viewers_left(demo):
    """A front view whatever way the source's x axis points: mirroring the data turns it back."""
    from query import CANONICAL_JOINTS
    from ui.grid import body_frame

    joints = demo.pose.canonical()
    right, left = CANONICAL_JOINTS.index("right_wrist"), CANONICAL_JOINTS.index("left_wrist")
    for flip in (1.0, -1.0):
        turned = body_frame(joints * np.array([flip, 1.0, 1.0]))
        assert (turned[:, right, 0] < turned[:, left, 0]).mean() > 0.9


def test_score_cue_words_the_match_probability():
    from ui.views import score_cue

    assert score_cue(1.0) == ("strong match", "100% likely relevant")
    assert score_cue(0.93)[0] == "strong match"
    assert score_cue(0.89) == ("fair match", "89% likely relevant")
    assert score_cue(0.2) == ("weak match", "20% likely relevant")
    assert score_cue(None) == ("", "") and score_cue(float("nan")) == ("", "")


def test_card_html_marks_the_window_on_the_recording_timeline():
    from ui.grid import card_html

    hit = {"rank": 3, "score": 0.41, "recording_id": "demo/a<b", "label": "waving", "t_start": 2.0, "t_end": 6.0,
           "modality": "imu", "body_part": "right_wrist", "subject": "2", "dataset": "demo"}
    html = card_html(hit, "<svg></svg>", 8.0, ("weak match", "20% likely relevant"), 2)
    assert "demo/a&lt;b" in html and "demo/a<b" not in html  # ids are escaped
    assert 'x="60.0" y="0" width="120.0"' in html  # 2-6 s of 8 s on a 240-wide bar
    assert "weak match" in html and "+2 more windows" in html and 'data-action="similar" data-rank="3"' in html


def test_natural_order():
    from ui.views import natural_key

    ids = ["a10_s1_t1", "a1_s2_t1", "a2_s1_t1", "a1_s10_t1", "a1_s1_t1"]
    assert sorted(ids, key=natural_key) == ["a1_s1_t1", "a1_s2_t1", "a1_s10_t1", "a2_s1_t1", "a10_s1_t1"]
