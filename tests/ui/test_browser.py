"""The search page in a real browser: Debian's headless Chromium driven by Playwright.

Runs text searches (the test index has a tiny text tower): the grid pages past 10 results; a
second search replaces the first at once; the query round-trips through the address bar; a
card opens its recording (3-D skeleton, IMU panels, one playhead) and the page comes back.
The playhead moves the video. Page-load and first-card times are printed (and written to $MOTIONSEARCH_UI_TIMINGS when set).
Screenshots go to pytest's temporary folder, or into $MOTIONSEARCH_SCREENSHOTS (a folder) when
set: that is how docs/screenshot-grid.png and docs/screenshot-recording.png were made.
"""
from __future__ import annotations

import io
import json
import os
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

pytest_plugins = ["ui_harness"]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser(ui_server):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium chromium-driver)")
    if "text" not in ui_server[0].motionsearch_context.features.query_kinds:
        pytest.skip("the test index offers no text search")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        # Never let Playwright fetch a browser of its own: use the system's.
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    page.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    # Running the tests must not rewrite files of the repository unless asked to.
    return Path(os.environ.get("MOTIONSEARCH_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))


def _save_small_png(png: bytes, path: Path) -> None:
    """A palette PNG: the screenshot goes into the repository, so keep it small."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=True)


def _choose(page, selector: str, value: str) -> None:
    """Pick `value` in a Gradio dropdown as a user does (type, Enter), and make sure it took:
    under load the option list can lag the typing, and Enter then picks nothing (the dropdown
    goes back to its old value when it loses focus), so the pick is tried again."""
    box = page.locator(f"{selector} input")
    for attempt in range(8):
        box.fill(value)
        page.wait_for_timeout(100 * attempt)  # later tries give the option list longer to catch up
        option = page.locator(f"{selector} [role=option][aria-label={json.dumps(value)}]")
        if option.count() == 1:  # the exact option, as a user clicks it ("imu" also begins "imu+pose")
            option.click()
        else:
            box.press("Enter")
        box.blur()
        if box.input_value() == value:
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"{selector} did not take {value!r} (shows {box.input_value()!r})")


def _search(page, prompt: str, target: str, k: int) -> None:
    page.fill("#prompt textarea", prompt)
    _choose(page, "#target", target)
    page.locator("#top-k input[type=number]").fill(str(k))
    page.locator("#top-k input[type=number]").press("Tab")
    page.click("#search-button")


def _card_modalities(page) -> list[str]:
    return page.eval_on_selector_all(".ms-card", "els => els.map(e => e.dataset.modality)")


def test_grid_pages_through_many_results_and_times_the_page(page, ui_server, shots):
    url = ui_server[1]
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("#search-button")
    loaded = time.perf_counter() - t0
    page.get_by_label("One hit per recording").uncheck()  # the small index has few recordings
    t1 = time.perf_counter()
    _search(page, "a person waves the right hand above the head", "imu", 60)
    page.wait_for_selector(".ms-card")
    first_cards = time.perf_counter() - t1
    timings = {"page_ready_s": round(loaded, 2), "first_cards_s": round(first_cards, 2)}
    print(f"\nUI timings on {Path(ui_server[0].motionsearch_context.index.store.uri).name}: {timings}")
    if os.environ.get("MOTIONSEARCH_UI_TIMINGS"):
        Path(os.environ["MOTIONSEARCH_UI_TIMINGS"]).write_text(json.dumps(timings, indent=1) + "\n")

    status = page.inner_text("#search-status")
    found = int(re.search(r"(\d+) imu windows", status).group(1))
    assert found > 40, status  # more than a page of cards
    assert page.locator(".ms-card").count() == 40 and set(_card_modalities(page)) == {"imu"}
    assert "Query:" in page.inner_text("#query-view") and "waves the right hand" in page.inner_text("#query-view")
    first = page.locator(".ms-card").first
    assert "score" in first.inner_text() and first.locator(".ms-timeline svg rect").count() == 2
    assert first.locator(".ms-cue").inner_text() in ("strong match", "fair match", "weak match")
    page.evaluate("window.scrollTo(0, 0)")
    _save_small_png(page.screenshot(full_page=False), shots / "screenshot-grid.png")
    page.click("#more-button")
    page.wait_for_function(f"document.querySelectorAll('.ms-card').length === {found}")
    assert not page.locator("#more-button").is_visible()


@pytest.mark.slow
def test_a_new_search_replaces_the_old_results_at_once(page, ui_server):
    page.goto(ui_server[1])
    page.wait_for_selector("#search-button")
    _search(page, "a person squats", "pose", 200)  # the bigger, slower search first
    _search(page, "a person waves", "imu", 5)
    page.wait_for_selector("#search-status :text('best imu window')")
    # From the newer query's status on, only its cards are on the page, and no late answer
    # of the first search brings the old ones back.
    for _ in range(10):
        assert "best imu window" in page.inner_text("#search-status")
        mods = _card_modalities(page)
        assert mods and set(mods) == {"imu"} and len(mods) <= 5, mods
        page.wait_for_timeout(300)


def test_query_state_round_trips_through_the_url(page, ui_server):
    url = ui_server[1]
    page.goto(f"{url}?kind=text&query=a+person+jumps&target=pose&k=12&subject=1")
    page.wait_for_selector("#search-status :text('best pose window')")  # a shared link runs its search
    assert page.input_value("#prompt textarea") == "a person jumps"
    assert page.input_value("#target input") == "pose"
    assert page.input_value("#top-k input[type=number]") == "12"
    assert all("subject 1 " in m for m in page.eval_on_selector_all(".ms-card .ms-meta", "e => e.map(x => x.innerText)"))
    _search(page, "a person boxes", "imu", 7)
    page.wait_for_function("location.search.includes('boxes')")
    params = parse_qs(urlparse(page.url).query)
    assert params["query"] == ["a person boxes"] and params["target"] == ["imu"] and params["k"] == ["7"]
    assert params["subject"] == ["1"]
    page.reload()
    page.wait_for_selector("#search-status :text('best imu window')")
    assert page.input_value("#prompt textarea") == "a person boxes"
    # Clear empties the page and the address bar.
    page.click("#clear-button")
    page.wait_for_function("document.querySelectorAll('.ms-card').length === 0")
    page.wait_for_function("!location.search.includes('query=')")
    assert page.input_value("#prompt textarea") == ""


def test_example_prompts_come_from_the_index_labels(page, ui_server):
    """The examples are the index's labels, each in its archive's own words where a recording of it
    has a description of its whole (the demo's sentences), else the label said as a prompt
    ("a person walking", "a person doing squat")."""
    ctx = ui_server[0].motionsearch_context
    rows = ctx.index.recordings(columns=["id", "text"])
    labels = set(rows["text"].to_list())
    described = {" ".join(span.text.split()) for rid in rows["id"] for span in ctx.recording(rid).text
                 if ctx.recording(rid).covers_whole(span)}
    page.goto(ui_server[1])
    page.wait_for_selector("#search-button")
    shown = [b.strip() for b in page.locator("#examples button").all_inner_texts()]
    assert shown and all(t in described or any(label and label in t for label in labels) for t in shown), shown
    if "demo" in set(ctx.index.recordings(columns=["dataset"])["dataset"]):
        from indexer.importers.demo import ACTIONS

        assert set(shown) & set(ACTIONS.values()), shown  # the demo's labels, said in its sentences
    example = page.locator("#examples button").first
    text = example.inner_text().strip()
    example.click()
    page.wait_for_function(f"document.querySelector('#prompt textarea').value === {json.dumps(text)}")


@pytest.mark.slow
def test_a_card_opens_its_recording_and_searches_with_its_window(page, ui_server, shots):
    page.goto(f"{ui_server[1]}?query=a+person+waves&target=pose&k=8&dataset=demo")  # no video to cut: fast
    page.wait_for_selector(".ms-card")
    first = page.locator(".ms-card").first
    rec_id = first.get_attribute("data-recording")
    first.get_by_role("button", name="Open recording").click()
    page.wait_for_selector(f"#recording-header :text('{rec_id}')")
    page.wait_for_function("document.querySelector('#rec-plot .js-plotly-plot')?.data?.length > 0")
    plot = "document.querySelector('#rec-plot .js-plotly-plot')"
    # The rotatable 3-D skeleton (a gl3d scene) and the playhead (the figure's slider).
    assert page.evaluate(f"{plot}.data.some(t => t.type === 'scatter3d') && !!{plot}._fullLayout.scene")
    assert page.evaluate(f"{plot}.layout.sliders.length") == 1
    page.wait_for_timeout(500)
    _save_small_png(page.screenshot(full_page=True), shots / "screenshot-recording.png")
    # the matched window is offered for teaching as a span, in numbers a person reads (no float noise)
    t0, t1 = (page.input_value(f"#span-{end} input") for end in ("from", "to"))
    assert all(len(t.partition(".")[2]) <= 3 for t in (t0, t1)), (t0, t1)
    assert 0 < float(t1) - float(t0) <= 5.0 + 1e-6
    page.fill("#span-name textarea", "my opened span")
    page.click("#span-teach")
    page.wait_for_selector("#span-status :text('Taught')")
    assert "my opened span" in page.inner_text("#span-status")
    ui_server[0].motionsearch_context.index.forget("my opened span")
    page.click("#back-button")
    page.wait_for_selector(".ms-card")
    assert page.locator(".ms-card").first.get_attribute("data-recording") == rec_id  # the results are still there

    page.locator(".ms-card").first.get_by_role("button", name="Search with this window").click()
    page.wait_for_selector("#search-status :text('a window of the index')")
    assert rec_id in page.inner_text("#query-view")
    # The window itself is (one of) the best matches of its own vector.
    assert rec_id in page.eval_on_selector_all(".ms-card", "els => els.slice(0, 3).map(e => e.dataset.recording)")


@pytest.mark.slow
def test_the_playhead_moves_the_video(page, ui_server):
    from conftest import UTD

    if not (UTD / "depth-video").is_dir():
        pytest.skip(f"UTD-MHAD data not found at {UTD}")
    if ui_server[0].motionsearch_context.index.recordings("id = 'utd-mhad/a1_s2_t1'").height == 0:
        pytest.skip("the served index (MOTIONSEARCH_UI_INDEX) holds no utd-mhad/a1_s2_t1 video")
    page.goto(ui_server[1])
    page.get_by_role("tab", name="Recording").click()
    page.locator("#recording-id input").fill("utd-mhad/a1_s2_t1")
    page.locator("#recording-id input").press("Enter")
    page.click("#recording-open")
    page.wait_for_selector("#rec-video video")
    page.wait_for_function("document.querySelector('#rec-plot .js-plotly-plot')?.dataset.videoLinked === '1'")
    # What the figure's slider emits when the playhead is dragged to 1.5 s:
    page.evaluate("document.querySelector('#rec-plot .js-plotly-plot').emit('plotly_sliderchange', {step: {value: '1.50'}})")
    page.wait_for_function("Math.abs(document.querySelector('#rec-video video').currentTime - 1.5) < 0.1")


def _cards(page) -> list[dict]:
    return page.eval_on_selector_all(".ms-card", """els => els.map(e => ({
        window: e.dataset.window, label: e.querySelector('.ms-title').innerText.replace(/^\\d+\\.\\s*/, '')
                                          .replace(/(strong|fair|weak) match$/, '').trim()}))""")


def _search_every_window(page, url: str, prompt: str, k: int) -> list[dict]:
    """Open the page, search IMU windows for `prompt` with every window shown (not one hit per
    recording), and return the cards."""
    page.goto(url)
    page.wait_for_selector("#search-button")
    page.get_by_label("One hit per recording").uncheck()
    _search(page, prompt, "imu", k)
    page.wait_for_selector(".ms-card")
    return _cards(page)


@pytest.mark.slow
def test_select_cards_teach_a_concept_and_search_it(page, ui_server, monkeypatch):
    """Select three cards of one action, teach them as a concept, click the concept and search:
    the concept's hits come first and the page says the concept was used; a read-only index
    refuses to teach in one line."""
    index = ui_server[0].motionsearch_context.index
    cards = _search_every_window(page, ui_server[1], "a person boxes", 80)
    demo = set(index.recordings("dataset = 'demo'")["text"].to_list())
    counts = {lab: sum(c["label"] == lab for c in cards) for lab in demo}
    action = max(sorted(counts), key=counts.get)
    assert counts[action] >= 3, counts
    chosen = [c["window"] for c in cards if c["label"] == action][:3]
    for w in chosen:
        page.locator(f".ms-card[data-window='{w}'] [data-action=pick]").click()
    page.wait_for_function("document.querySelector('#teach-count').innerText.includes('3 windows selected')")
    assert page.locator(".ms-card.ms-picked").count() == 3
    page.fill("#concept-name textarea", "my move")
    page.locator("#concept-name textarea").press("Tab")
    page.wait_for_selector("#teach-button:text('Teach as “my move”')")
    try:
        page.click("#teach-button")
        page.wait_for_selector("#teach-status :text('Taught')")
        assert "3 windows" in page.inner_text("#teach-status") and action in page.inner_text("#teach-status")
        assert sorted(index.concept("my move")["windows"]) == sorted(int(w) for w in chosen)
        # the selection is cleared once taught
        page.wait_for_function("document.querySelectorAll('.ms-card.ms-picked').length === 0")
        # the concept is listed beside the example prompts and clicks into the prompt like them
        page.locator("#concepts button", has_text="my move").click()
        page.wait_for_function("document.querySelector('#prompt textarea').value === 'my move'")
        page.click("#search-button")
        page.wait_for_selector("#search-status :text('Searched with the concept')")
        assert "taught from 3 examples" in page.inner_text("#search-status")
        top = _cards(page)[:3]
        assert top[0]["label"] == action, top
        assert {c["window"] for c in top} & set(chosen), (top, chosen)  # an example itself is among the nearest

        # a read-only index refuses in one plain line, and keeps the selection
        import errno

        from indexer import sidefiles

        def refuse(fs, path, content):
            raise OSError(errno.EROFS, "Read-only file system", path)

        monkeypatch.setattr(sidefiles, "write_atomic", refuse)
        page.locator(".ms-card [data-action=pick]").first.click()
        page.fill("#concept-name textarea", "another move")
        page.click("#teach-button")
        page.wait_for_selector("#teach-status :text('Could not do that')")
        status = page.inner_text("#teach-status")
        assert "cannot write concepts.json" in status and "Read-only file system" in status
        assert "\n" not in status.strip() and "Traceback" not in status
        assert page.locator(".ms-card.ms-picked").count() == 1
        assert index.concept("another move") is None
    finally:
        monkeypatch.undo()
        if index.concept("my move") is not None:
            index.forget("my move")


# A card's state: playing or not, the pose shown, the loop's phase, the timeline cursor's x.
CARD_FRAME = """e => [e.dataset.playing, e.querySelector('svg[data-poses]').dataset.frame, e.dataset.phase,
                    e.querySelector('.ms-timeline .ms-cursor').getAttribute('x1')]"""


@pytest.mark.slow
def test_cards_play_their_window_and_stop_off_screen(browser, ui_server):
    """Each card loops its window (the skeleton's pose changes over time); a card scrolled off
    screen stops, and starts again when it comes back."""
    page = browser.new_page(viewport={"width": 1280, "height": 700})
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(f"{ui_server[1]}?query=a+person+squats&target=pose&k=40&all_windows=1")
        page.wait_for_selector(".ms-card svg[data-poses]")
        first = page.locator(".ms-card").first
        assert int(first.locator("svg[data-poses]").get_attribute("data-n")) > 2
        page.wait_for_function("document.querySelector('.ms-card').dataset.playing === '1'")
        states = [first.evaluate(CARD_FRAME)]
        for _ in range(8):
            page.wait_for_timeout(150)
            states.append(first.evaluate(CARD_FRAME))
        assert len({s[1] for s in states}) >= 3, states  # the pose moves through the window
        assert len({s[3] for s in states}) >= 3, states  # and the timeline's cursor with it

        page.locator(".ms-card").last.scroll_into_view_if_needed()
        page.wait_for_function("document.querySelector('.ms-card').dataset.playing === '0'")
        assert page.locator(".ms-card").first.bounding_box()["y"] + 300 < 0  # really off screen
        stopped = first.evaluate(CARD_FRAME)
        page.wait_for_timeout(700)
        assert first.evaluate(CARD_FRAME) == stopped  # neither its pose nor its clock moved
        assert page.locator(".ms-card").last.evaluate("e => e.dataset.playing") == "1"
        # a page of cards animates only those on screen
        playing = page.eval_on_selector_all(".ms-card", "els => els.filter(e => e.dataset.playing === '1').length")
        assert 0 < playing < page.locator(".ms-card").count()

        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_function("document.querySelector('.ms-card').dataset.playing === '1'")
        page.wait_for_function(f"document.querySelector('.ms-card').dataset.phase !== {json.dumps(stopped[2])}")
    finally:
        page.close()


def _playhead(page) -> float:
    return float(page.evaluate("document.querySelector('#rec-plot .js-plotly-plot').dataset.playhead || '0'"))


@pytest.mark.slow
def test_play_and_pause_move_and_stop_the_playhead(page, ui_server, shots):
    """Play runs the playhead at real speed (skeleton, IMU line and slider on one clock), Pause
    stops it, and Loop plays the matched window again from its start."""
    page.goto(f"{ui_server[1]}?query=a+person+waves&target=pose&k=8&dataset=demo")
    page.wait_for_selector(".ms-card")
    first = page.locator(".ms-card").first
    first.get_by_role("button", name="Open recording").click()
    page.wait_for_function("document.querySelector('#rec-plot .js-plotly-plot')?.layout?.meta?.player")
    plot = "document.querySelector('#rec-plot .js-plotly-plot')"
    player = page.evaluate(f"{plot}.layout.meta.player")
    w0, w1 = player["window"]
    skeleton = player["pose"]["trace"]
    before = page.evaluate(f"{plot}.data[{skeleton}].x.slice(0, 6)")
    assert page.input_value("#rec-player [data-do=range]") == "window"  # opened from a hit: its window

    page.click("#rec-player [data-do=play]")
    page.wait_for_selector("#rec-player .ms-player[data-state=playing]")
    page.wait_for_function(f"{plot}.dataset.playhead !== undefined && Number({plot}.dataset.playhead) >= {w0}")
    page.evaluate(f"window.msPlayer.seek({w0})")  # from the window's start, so a slow page cannot reach its loop
    start, t_start = _playhead(page), time.perf_counter()
    page.wait_for_timeout(1500)
    now, elapsed = _playhead(page), time.perf_counter() - t_start
    assert w0 <= start < now <= w1, (start, now, w0, w1)
    assert 0.5 * elapsed < now - start < 1.5 * elapsed + 0.2, (now - start, elapsed)  # real speed
    assert page.evaluate(f"{plot}.data[{skeleton}].x.slice(0, 6)") != before  # the skeleton moved
    cursor = player["cursors"][0]["trace"]
    line, head = page.evaluate(f"[{plot}.data[{cursor}].x[0], Number({plot}.dataset.playhead)]")
    assert abs(line - head) < 0.01  # the IMU line is drawn at the clock
    assert page.evaluate(f"{plot}.layout.sliders[0].active") > 0  # and the slider
    _save_small_png(page.screenshot(full_page=True), shots / "screenshot-recording-playing.png")

    page.click("#rec-player [data-do=play]")  # now reads Pause
    page.wait_for_selector("#rec-player .ms-player[data-state=paused]")
    paused = _playhead(page)
    page.wait_for_timeout(800)
    assert _playhead(page) == paused

    # Loop: from just before the window's end, playing comes round to its start.
    page.evaluate(f"window.msPlayer.seek({w1 - 0.3})")
    page.click("#rec-player [data-do=play]")
    page.wait_for_function(f"Number({plot}.dataset.playhead) < {w1 - 0.5}", timeout=10_000)
    assert w0 <= _playhead(page) <= w1
    page.click("#rec-player [data-do=play]")


def test_at_phone_width_the_results_come_first(browser, ui_server):
    """At 390 px wide the query box and Search come first, then the results (the first card on
    the first screen), then the options and teaching."""
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(f"{ui_server[1]}?query=a+person+waves&target=pose&k=10")
        page.wait_for_selector(".ms-card")
        card = page.locator(".ms-card").first.bounding_box()
        assert card["y"] + 120 < 844, card  # at least its picture's top on the first screen
        assert card["x"] >= 0 and card["x"] + card["width"] <= 390  # no sideways scrolling
        y = {sel: page.locator(sel).bounding_box()["y"] for sel in ("#prompt", "#search-button", "#target", "#teach-box")}
        assert y["#prompt"] < y["#search-button"] < card["y"] < y["#target"] < y["#teach-box"], y
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        page.close()


def test_the_label_tab_labels_every_recording_among_names_and_concepts(page, ui_server):
    """Type names on the Label tab (one a concept taught by example), press the button: a row per
    recording and body part, as Index.label_recordings gives them, and a summary that counts the
    labels and marks the concept; ticked *balance*, the balanced labels. An index of sensors and
    skeletons names each recording by both unless one modality is chosen; fewer than two names are
    refused in one line."""
    index = ui_server[0].motionsearch_context.index
    target = ui_server[0].motionsearch_context.features.targets[0]
    windows = index.windows("dataset = 'demo'", ["id"], modality=target)["id"].to_list()[:2]
    index.teach("my label move", window_ids=windows)
    try:
        page.goto(ui_server[1])
        page.get_by_role("tab", name="Label").click()
        page.fill("#label-names textarea", "a person walks")
        page.click("#label-button")
        page.wait_for_selector("#label-status :text('at least two names')")
        assert "\n" not in page.inner_text("#label-status").strip()
        names = ["my label move", "a person walks", "a person waves"]
        page.fill("#label-names textarea", ", ".join(names))
        page.click("#label-button")
        page.wait_for_selector("#label-status :text('recordings labelled')")
        want = index.label_recordings(names)  # as the page labels by default: all the index holds
        both = {"imu", "pose"} <= set(ui_server[0].motionsearch_context.features.targets)
        status = page.inner_text("#label-status")
        assert ("sensor and skeleton together" in status) == both, status
        assert f"{want.height} recordings labelled" in status
        if "my label move" in want["label"].to_list():
            assert "my label move" in status and "(concept)" in status
        # Gradio's table is a virtual grid: its row count is an attribute, its first rows are drawn
        page.wait_for_selector(f"#label-table [role=grid][aria-rowcount='{want.height + 1}']")
        table = page.inner_text("#label-table")
        assert want["recording_id"][0] in table and want["label"][0] in table
        # names the recordings carry as their own labels: the summary says how often the words agree
        from indexer.importers.demo import ACTIONS
        from query.text_aligned import agreement

        page.fill("#label-names textarea", ", ".join(ACTIONS))
        page.click("#label-button")
        page.wait_for_selector("#label-status :text('their own labels say')")
        agree = agreement(index.label_recordings(list(ACTIONS)), list(ACTIONS))
        assert f"{agree['right']} of {agree['recordings']}" in page.inner_text("#label-status")
        page.fill("#label-names textarea", ", ".join(names))
        # activities about equally common: the balanced labels, and the summary says so
        page.check("#label-balance input")
        page.click("#label-button")
        page.wait_for_selector("#label-status :text('balanced')")
        even = index.label_recordings(names, balance=True)
        status = page.inner_text("#label-status")
        for name, n in even["label"].value_counts().iter_rows():
            assert f"{name} {n}" in status, status
        # an index of sensors and skeletons names each recording by both unless told one: one row per recording
        if both:
            assert want["recording_id"].n_unique() == want.height
            assert want["label"].to_list() == index.label_recordings(names, ("imu", "pose"))["label"].to_list()
            page.uncheck("#label-balance input")
            _choose(page, "#label-modality", target)
            page.click("#label-button")
            one = index.label_recordings(names, target)
            page.wait_for_function("() => !document.querySelector('#label-status').innerText.includes('together')")
            page.wait_for_selector(f"#label-table [role=grid][aria-rowcount='{one.height + 1}']")
            status = page.inner_text("#label-status")
            assert f"{one.height} recordings labelled" in status and "together" not in status
    finally:
        index.forget("my label move")


@pytest.mark.slow
def test_not_this_marks_selected_cards_as_counter_examples(page, ui_server):
    """A concept is taught from two cards; a card of its search is selected and marked *Not this*:
    the concept keeps it as a counter-example and its next search leaves it out; with nothing
    selected the button is refused in one line."""
    index = ui_server[0].motionsearch_context.index
    examples = [c["window"] for c in _search_every_window(page, ui_server[1], "a person waves", 20)[:2]]
    index.teach("my wave", window_ids=[int(w) for w in examples])
    try:
        _search(page, "my wave", "imu", 20)
        page.wait_for_selector("#search-status :text('Searched with the concept')")
        other = next(c["window"] for c in _cards(page) if c["window"] not in examples)
        page.fill("#concept-name textarea", "my wave")
        page.click("#not-button")
        page.wait_for_selector("#teach-status :text('select the windows that do not show it')")
        page.locator(f".ms-card[data-window='{other}'] [data-action=pick]").click()
        page.wait_for_function("document.querySelector('#teach-count').innerText.includes('1 window')")
        page.click("#not-button")
        page.wait_for_selector("#teach-status :text('Marked 1 window as not')")
        assert index.concept("my wave")["not_windows"] == [int(other)]
        page.wait_for_function("document.querySelectorAll('.ms-card.ms-picked').length === 0")
        page.click("#search-button")  # the old grid holds `other`: the new one, drawn, does not
        page.wait_for_function("(w) => { const c = [...document.querySelectorAll('.ms-card')]; "
                               "return c.length > 0 && !c.some(e => e.dataset.window === w); }", arg=other)
        assert other not in [c["window"] for c in _cards(page)]
        assert int(other) not in index.search_text("my wave", "imu", 20)["window_id"].to_list()
    finally:
        index.forget("my wave")
