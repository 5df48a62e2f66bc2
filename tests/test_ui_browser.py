"""The search page in a real browser: Debian's headless Chromium driven by Playwright.

Types a prompt when the index offers text search, else uploads an IMU clip; runs the search;
waits for the result cards with their plots; saves a screenshot (into pytest's temporary
folder, or into $MOTIONSEARCH_SCREENSHOT when set: that is how docs/screenshot-search.png was made).
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

pytest_plugins = ["ui_harness"]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def page(ui_server):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium chromium-driver)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        # Never let Playwright fetch a browser of its own: use the system's.
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(90_000)
        yield page
        browser.close()


def _save_small_png(png: bytes, path: Path) -> None:
    """A palette PNG: the screenshot goes into the repository, so keep it small."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=True)


def test_search_shows_result_cards_with_plots(page, ui_server, query_files, tmp_path):
    app, url = ui_server
    # Running the tests must not rewrite files of the repository unless asked to.
    screenshot = Path(os.environ.get("MOTIONSEARCH_SCREENSHOT", tmp_path / "screenshot-search.png"))
    features = app.motionsearch_context.features
    page.goto(url)
    page.wait_for_selector("#search-button")
    if "text" in features.query_kinds:
        page.get_by_label("Text prompt").check()
        page.fill("#prompt textarea", "a person waves the right hand above the head")
    else:
        page.get_by_label("IMU file").check()
        page.set_input_files("#query-file input[type=file]", str(query_files["imu_npy"]))
        page.wait_for_selector("#query-file :text('waving_imu.npy')")
        page.fill("#rate input", "50")
    page.click("#search-button")

    page.wait_for_selector("#search-status :text('found')")
    cards = page.locator(".result-card")
    page.wait_for_selector("#card-4 .card-skeleton img")  # the last of the 5 cards is drawn
    visible = [i for i in range(cards.count()) if cards.nth(i).is_visible()]
    assert visible == [0, 1, 2, 3, 4]
    first = cards.nth(0)
    assert first.locator(".card-imu img").is_visible() or first.locator(".card-skeleton img").is_visible()
    assert "score" in first.inner_text() and first.get_by_role("button", name="Open whole recording").is_visible()
    src = first.locator(".card-skeleton img").get_attribute("src")
    assert "/gradio_api/file=" in src  # served from the app's own folder

    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(500)  # let the GIFs and plots paint before the picture is taken
    _save_small_png(page.screenshot(full_page=False), screenshot)
    assert screenshot.stat().st_size < 400_000

    # A click on a card opens the whole recording.
    title = first.locator("code").first.inner_text()
    first.get_by_role("button", name="Open whole recording").click()
    page.wait_for_selector(f"#recording-header :text('{title}')")
