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
    assert 'class="ms-window" x="60.0" y="1.5" width="120.0"' in html  # 2-6 s of 8 s on a 240-wide bar
    assert 'data-dur="4.00"' in html and "2.0–6.0 s of 8.0 s" in html  # the card loops its 4 s window
    assert "weak match" in html and "+2 more windows" in html and 'data-action="similar" data-rank="3"' in html


def _svg_numbers(svg: str, attr: str) -> np.ndarray:
    import re

    return np.array([float(v) for v in re.search(rf'{attr}="([^"]*)"', svg).group(1).split(",")])


def test_a_card_skeleton_carries_the_poses_through_its_window(demo):
    """The card plays the window at real speed: CARD_FPS poses a second, all on one scale, the
    first pose drawn; a jump rises in the picture, walking forward stays in place."""
    import re

    from query import CANONICAL_JOINTS
    from ui.grid import CARD_FPS, animated_skeleton_svg, window_picture

    svg = window_picture(demo.pose, demo.imu, 1.0, 4.0, demo.duration)
    n, joints = int(re.search(r'data-n="(\d+)"', svg).group(1)), len(CANONICAL_JOINTS)
    assert n == 3 * CARD_FPS + 1
    poses = _svg_numbers(svg, "data-poses").reshape(n, joints, 2)
    assert np.ptp(poses[:, :, 1], axis=0).max() > 5  # a squat: the joints move between poses
    first = re.search(r'<line data-a="(\d+)" data-b="(\d+)" x1="([\d.-]+)" y1="([\d.-]+)"', svg)
    a = int(first.group(1))
    assert (float(first.group(3)), float(first.group(4))) == tuple(poses[0, a])
    assert svg.count("<line ") == 15 and svg.count("data-b=") == 15  # one skeleton, not one per pose

    still = demo.pose.canonical()[:10].copy()
    up = still.copy()
    up[5:, :, 1] += 0.4  # the whole body 40 cm higher in the second half: a jump
    jump = _svg_numbers(animated_skeleton_svg(up), "data-poses").reshape(10, joints, 2)
    head = CANONICAL_JOINTS.index("head")
    assert jump[9, head, 1] < jump[0, head, 1] - 20  # higher in the picture (SVG y grows down)
    walk = still.copy()
    walk[:, :, 0] += np.linspace(0, 3.0, 10)[:, None]  # 3 m across the view
    walk[:, :, 2] += np.linspace(0, 3.0, 10)[:, None]
    walked = _svg_numbers(animated_skeleton_svg(walk), "data-poses").reshape(10, joints, 2)
    pelvis = CANONICAL_JOINTS.index("pelvis")
    assert np.ptp(walked[:, pelvis, 0]) <= 1  # stepping in place, not sliding out of the box


def test_an_imu_card_sweeps_a_cursor_across_the_window(demo):
    import re

    from ui.grid import window_picture

    svg = window_picture(None, demo.imu, 2.0, 4.0, demo.duration)
    shade = re.search(r'<rect x="([\d.]+)" y="0" width="([\d.]+)"', svg)
    a, b = float(shade.group(1)), float(shade.group(1)) + float(shade.group(2))
    cursor = re.search(r'class="ms-cursor" data-a="([\d.]+)" data-b="([\d.]+)"', svg)
    assert (float(cursor.group(1)), float(cursor.group(2))) == pytest.approx((a, b), abs=0.11)
    assert 0 < a < b < 240  # the window sits inside the trace, with context on both sides


def test_a_clip_shorter_than_a_window_is_not_a_full_bar():
    import re

    from ui.grid import card_html, timeline_svg

    svg = timeline_svg(2.6, 0.0, 2.6, window=5.0)
    window = re.search(r'class="ms-window" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    assert float(window.group(1)) == 0 and float(window.group(2)) == pytest.approx(2.6 / 5 * 240, abs=0.1)
    assert 'class="ms-padding"' in svg and "shorter than a 5 s window" in svg
    assert svg.count('stroke="#90a4ae"') == 2  # a tick at 1 s and 2 s
    long = timeline_svg(8.0, 3.0, 8.0, window=5.0)
    assert 'class="ms-padding"' not in long and "3.0-8.0 s of 8.0 s" in long
    assert 'class="ms-cursor" data-a="90.0" data-b="240.0"' in long  # the cursor runs through the window
    hit = {"rank": 1, "score": 0.3, "recording_id": "utd-mhad/a1_s2_t1", "label": "swipe left", "t_start": 0.0,
           "t_end": 2.6, "modality": "imu", "body_part": "right_wrist", "subject": "2", "dataset": "utd-mhad"}
    html = card_html(hit, "", 2.6, ("", ""), window=5.0)
    assert "the whole 2.6 s clip" in html and "0.0–2.6 s of 2.6 s" not in html and 'data-dur="2.60"' in html


def test_natural_order():
    from ui.views import natural_key

    ids = ["a10_s1_t1", "a1_s2_t1", "a2_s1_t1", "a1_s10_t1", "a1_s1_t1"]
    assert sorted(ids, key=natural_key) == ["a1_s1_t1", "a1_s2_t1", "a1_s10_t1", "a2_s1_t1", "a10_s1_t1"]


def test_the_search_page_notes_only_what_applies():
    """No word about video on an index without video; a missing text search keeps its reason;
    a missing file search for data the index holds is said in plain words."""
    from ui.features import Features, page_notes

    jargon = "Video queries are not available: no encoder with a video tower built the 'pose' windows of this index"
    no_video = Features(targets=["imu", "pose"], query_kinds=["text", "imu", "pose"], unavailable={"video": jargon})
    assert page_notes(no_video) == []
    with_video = Features(targets=["imu", "video"], query_kinds=["imu"],
                          unavailable={"video": jargon, "text": "Text search is not available: no text tower.",
                                       "sync": "Temporal sync is not available: ..."})
    notes = page_notes(with_video)
    assert notes[0] == "Text search is not available: no text tower."
    assert len(notes) == 2 and "video file" in notes[1] and "tower" not in notes[1] and "sync" not in " ".join(notes)


def test_example_prompts_say_a_short_label_as_a_person_would():
    """Where an archive has no sentence for a label, its example prompt is the label said as a
    person types it: verbs after "a person", nouns after "a person doing" (not "a person squat"),
    long labels as the archive says them."""
    from ui.views import as_prompt

    assert as_prompt("walking") == "a person walking" and as_prompt("walking fast") == "a person walking fast"
    assert as_prompt("squat") == "a person doing squat" and as_prompt("badminton") == "a person doing badminton"
    assert as_prompt("jumping jacks") == "a person doing jumping jacks"
    # UCI HAPT's stairs: the "s" of an adverb does not make a noun
    assert as_prompt("walking downstairs") == "a person walking downstairs"
    assert as_prompt("running backwards") == "a person running backwards"
    assert as_prompt("right arm swipe to the left") == "right arm swipe to the left"


def test_the_span_offered_for_teaching_reads_to_the_millisecond():
    from ui.views import offered_span

    assert offered_span((0.94, 0.94 + 5.0)) == (0.94, 5.94)  # 0.94 + 5.0 is 5.9399999999999995
    assert offered_span(None) == (None, None)
