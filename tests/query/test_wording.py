"""Whether a prompt's words tell a direction apart (query.wording): the opposites it tries, the
check agreeing with the searches it stands for, and the note on every surface (Python, CLI,
HTTP, the page)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from query import open_index
from query.cli import main as query_main
from query.cli import print_frame
from query.wording import MAX_COVER, SHARED, direction_check, note, opposites

# On the demo index the built-in model's words hardly tell these two apart (measured: 9 of 10
# IMU windows shared, text cosine 0.989); the check must fire for it there.
FIRES = "sit to stand"


@pytest.mark.parametrize("prompt, want", [
    ("right arm swipe to the left", ["left arm swipe to the left", "right arm swipe to the right"]),
    ("Left hook", ["Right hook"]),
    ("LEFT kick", ["RIGHT kick"]),
    ("sit to stand", ["stand to sit"]),
    ("Stand to sit", ["Sit to stand"]),
    ("draw circle (clockwise)", ["draw circle (counterclockwise)"]),
    ("draw circle (counter clockwise)", ["draw circle (clockwise)"]),
    ("counter-clockwise turn", ["clockwise turn"]),
    ("Anticlockwise turn", ["Clockwise turn"]),
    ("walk forwards then backwards", ["walk backwards then backwards", "walk forwards then forwards"]),
    ("forward lunge", ["backward lunge"]),
    ("a person stands up", []),  # up/down is never swapped
    ("sit down", []),
    ("waving", []),
    ("leftover rightful forwarding", []),  # whole words only
    ("walk to the door to knock", []),  # "to" twice: not of the form "<A> to <B>"
    ("", []),
])
def test_opposites_swap_one_direction_word_at_a_time(prompt, want):
    got = opposites(prompt)
    assert got == want
    assert prompt not in got and len(set(got)) == len(got)


@pytest.fixture(scope="module")
def ix(builtin_demo_dir):
    return open_index(builtin_demo_dir)


def _ids(ix, prompt, target, k, where=None):
    """The prompt's own search, not joined by its first hits: what the check compares."""
    return ix.search_text(prompt, target, k, where, expand=False)["window_id"].to_list()


def _shown(ix, prompt, target, k):
    """The search a user is shown (joined by its first hits)."""
    return ix.search_text(prompt, target, k)["window_id"].to_list()


@pytest.mark.parametrize("target", ["imu", "pose"])
def test_the_check_agrees_with_the_two_searches(ix, target):
    prompts = [FIRES, "stand to sit", "right arm swipe to the left", "waving with the left hand", "walking forward",
               "arm circles clockwise", "boxing with the right hand"]
    fired = []
    for prompt in prompts:
        check = ix.check_wording(prompt, target)
        mine = set(_ids(ix, prompt, target, 10))
        shares = {o: len(mine.intersection(ids)) / len(ids)
                  for o in opposites(prompt) if (ids := _ids(ix, o, target, 10))}
        if check is None:
            assert all(s < SHARED for s in shares.values()), (prompt, shares)
            continue
        fired.append(prompt)
        theirs = _ids(ix, check["opposite"], target, 10)
        assert check["prompt"] == prompt and check["opposite"] in opposites(prompt)
        assert check["shared"] == len(mine.intersection(theirs)) and check["of"] == len(theirs)
        assert check["shared"] / check["of"] >= SHARED and check["shared"] / check["of"] == max(shares.values())
        enc = ix.pick_encoder_id("text", target)
        a, b = ix.encode_text([prompt, check["opposite"]], enc)
        assert check["cosine"] == pytest.approx(float(np.dot(a, b)), abs=1e-4)
    if target == "imu":
        assert FIRES in fired


def test_the_check_follows_the_filter_and_k(ix):
    where = "subject = '2'"
    check = ix.check_wording(FIRES, "imu", 5, where)
    assert check is not None and check["of"] == 5
    mine, theirs = _ids(ix, FIRES, "imu", 5, where), _ids(ix, check["opposite"], "imu", 5, where)
    assert check["shared"] == len(set(mine) & set(theirs))
    # k hits covering more than MAX_COVER of the windows searched would share many by chance
    searched = ix.windows(where, ["id"], modality="imu").height
    assert ix.check_wording(FIRES, "imu", int(searched * MAX_COVER) + 1, where) is None


def test_no_direction_word_no_check(ix):
    for prompt in ("waving", "a person stands up", "squat"):
        assert ix.check_wording(prompt, "imu") is None and direction_check(ix, prompt, "pose") is None


def test_a_taught_concept_is_not_checked(builtin_demo_dir, tmp_path):
    """A concept is taught by example, so its direction lies in its examples, not its words."""
    shutil.copytree(builtin_demo_dir, tmp_path / "index")
    mine = open_index(tmp_path / "index")
    assert mine.check_wording(FIRES, "imu") is not None
    mine.teach(FIRES, window_ids=_ids(mine, FIRES, "imu", 3))
    assert mine.check_wording(FIRES, "imu") is None and mine.check_wording(FIRES.upper(), "imu") is None


def test_the_text_command_notes_it_on_stderr_only(ix, builtin_demo_dir, capsys):
    for prompt in (FIRES, "waving"):
        assert query_main(["text", prompt, "--target", "imu", "--index", str(builtin_demo_dir)]) == 0
        out, err = capsys.readouterr()
        print_frame(ix.search_text(prompt, "imu", 10), False)
        assert out == capsys.readouterr().out  # the results table as it was
        check = ix.check_wording(prompt, "imu")
        assert err.strip() == note(check)
        if check:
            assert err.startswith(f'note: the words barely tell "{FIRES}" from "stand to sit" here: that prompt '
                                  f'finds {check["shared"]} of the same 10 windows') and err.count("\n") == 1
            assert "query teach" in err
    assert query_main(["text", FIRES, "--target", "imu", "--json", "--index", str(builtin_demo_dir)]) == 0
    out, err = capsys.readouterr()
    assert [r["window_id"] for r in json.loads(out)] == _shown(ix, FIRES, "imu", 10) and err.startswith("note:")


def test_http_answers_carry_the_check(ix):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from query.serve import WORDING_HEADER, create_app

    client = TestClient(create_app(ix))
    r = client.post("/search/text", json={"prompt": FIRES, "target": "imu", "k": 10})
    assert r.status_code == 200 and [h["window_id"] for h in r.json()] == _shown(ix, FIRES, "imu", 10)
    assert json.loads(r.headers[WORDING_HEADER]) == ix.check_wording(FIRES, "imu")
    plain = client.post("/search/text", json={"prompt": "waving", "target": "imu"})
    assert plain.status_code == 200 and WORDING_HEADER not in plain.headers
    body = client.post("/search", json={"query": FIRES, "target": "imu", "k": 10}).json()
    assert body["wording"] == ix.check_wording(FIRES, "imu") and len(body["hits"]) == 10
    assert client.post("/search", json={"query": "waving", "target": "imu"}).json()["wording"] is None


def test_the_page_says_it_for_text_queries_only(ix, tmp_path):
    from ui.features import detect
    from ui.media import MediaDir
    from ui.views import Context, Found, Query, search, summary

    ctx = Context(index=ix, media=MediaDir(tmp_path), features=detect(ix), max_upload_bytes=10 ** 6)
    found = search(ctx, Query(kind="text", target="imu", k=10, prompt=FIRES))
    assert found.wording == ix.check_wording(FIRES, "imu")
    text = summary(found)
    assert (f'\n\n**The words barely tell "{FIRES}" from "stand to sit" here**: "stand to sit" finds '
            f'{found.wording["shared"]} of the same 10 windows. To find one of them, select the hits that show it '
            "and press Teach as.") in text
    assert "barely tell" not in summary(search(ctx, Query(kind="text", target="imu", k=10, prompt="waving")))
    wid = found.hits["window_id"][0]
    by_window = search(ctx, Query(kind="window", target="imu", k=10, window_id=wid))
    assert by_window.wording is None
    assert "barely tell" not in summary(Found(by_window.query, by_window.hits, by_window.others, found.wording))
