"""The README's pictures of the web page, taken from a running page with headless Chromium.

    python bench/screenshots.py --index ./demo-index --out docs

Serves the index (ui.app.serve, on a free local port), searches it as a user would, and saves:
the result grid twice, 0.6 s apart, so the cards' skeletons are caught in two different poses
(screenshot-grid-a.png, screenshot-grid-b.png), the first card's recording playing
(screenshot-recording-playing.png), and teaching by example (screenshot-teach.png: three cards
of one action selected and taught as a concept, then searched with it; on a copy of the index,
so the index given is left as it was), and the Label tab labelling every recording among that
concept and the other demo actions' sentences, spread over the nearest windows and balanced (the
demo holds its actions equally often; screenshot-label.png). Prints a JSON line: each file, the pose each of the first cards showed
in the two grid pictures, the concept's taught and top hits, and the Label tab's summary. Uses Debian's /usr/bin/chromium through
Playwright (never a downloaded browser).
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote_plus

from indexer.importers.demo import ACTIONS
from ui.app import serve

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PROMPT = "a person waves the right hand above the head"
TEACH_PROMPT = "a person boxes"
CARDS = """els => els.map(e => ({window: e.dataset.window,
    label: e.querySelector('.ms-title').innerText.replace(/^\\d+\\.\\s*/, '').replace(/(strong|fair|weak) match$/, '').trim()}))"""
FRAMES = "els => els.slice(0, 8).map(e => e.querySelector('svg[data-poses]')?.dataset.frame)"


def save_png(png: bytes, path: Path) -> None:
    """A palette PNG: the picture goes into the repository, so keep it small."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128).save(path, optimize=True)


def take(url: str, out: Path, prompt: str, target: str) -> dict:
    from playwright.sync_api import sync_playwright

    query = f"?query={quote_plus(prompt)}&target={quote_plus(target)}&k=40&all_windows=1"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(url + query)
        page.wait_for_selector(".ms-card[data-playing='1']")
        page.wait_for_timeout(300)
        frames_a = page.eval_on_selector_all(".ms-card", FRAMES)
        save_png(page.screenshot(), out / "screenshot-grid-a.png")
        page.wait_for_timeout(600)
        frames_b = page.eval_on_selector_all(".ms-card", FRAMES)
        save_png(page.screenshot(), out / "screenshot-grid-b.png")

        page.locator(".ms-card").first.get_by_role("button", name="Open recording").click()
        page.wait_for_function("document.querySelector('#rec-plot .js-plotly-plot')?.layout?.meta?.player")
        page.click("#rec-player [data-do=play]")
        page.wait_for_timeout(1800)
        playhead = page.evaluate("document.querySelector('#rec-plot .js-plotly-plot').dataset.playhead")
        save_png(page.screenshot(full_page=True), out / "screenshot-recording-playing.png")
        browser.close()
    return {"files": [str(out / n) for n in ("screenshot-grid-a.png", "screenshot-grid-b.png",
                                              "screenshot-recording-playing.png")],
            "card_frames_a": frames_a, "card_frames_b": frames_b, "playhead_s": float(playhead)}


def teach(url: str, out: Path, prompt: str = TEACH_PROMPT, name: str = "my punch") -> dict:
    """Search `prompt`, select the first three cards of the top hit's action, teach them as
    `name`, then search with the concept: the picture shows the concept listed, the status line
    naming it and its hits."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(url + f"?query={prompt.replace(' ', '+')}&target=imu&k=40&all_windows=1")
        page.wait_for_selector(".ms-card")
        cards = page.eval_on_selector_all(".ms-card", CARDS)
        chosen = [c for c in cards if c["label"] == cards[0]["label"]][:3]
        for card in chosen:
            page.locator(f".ms-card[data-window='{card['window']}'] [data-action=pick]").click()
        page.wait_for_function(f"document.querySelector('#teach-count').innerText.includes('{len(chosen)} windows selected')")
        page.fill("#concept-name textarea", name)
        page.locator("#concept-name textarea").press("Tab")
        page.click("#teach-button")
        page.wait_for_selector("#teach-status :text('Taught')")
        page.locator("#concepts button", has_text=name).click()
        page.click("#search-button")
        page.wait_for_selector("#search-status :text('Searched with the concept')")
        page.wait_for_timeout(300)
        top = page.eval_on_selector_all(".ms-card", CARDS)[:5]
        page.evaluate("document.querySelector('#search-status').scrollIntoView()")  # the line naming the concept
        page.wait_for_timeout(200)
        save_png(page.screenshot(), out / "screenshot-teach.png")
        browser.close()
    return {"file": str(out / "screenshot-teach.png"), "taught": chosen, "concept_top_hits": top}


def label(url: str, out: Path, names: list[str]) -> dict:
    """The Label tab: every recording labelled among `names` (a taught concept among them), spread
    over the nearest windows and balanced; the picture shows the summary and the first rows."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(url)
        page.get_by_role("tab", name="Label").click()
        page.fill("#label-names textarea", ", ".join(names))
        page.get_by_label("Spread over the nearest windows").check()
        page.get_by_label("Activities about equally common: balance").check()
        page.click("#label-button")
        page.wait_for_selector("#label-status :text('recordings labelled')")
        page.wait_for_timeout(500)
        summary = page.inner_text("#label-status")
        save_png(page.screenshot(), out / "screenshot-label.png")
        browser.close()
    return {"file": str(out / "screenshot-label.png"), "summary": summary}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="./demo-index", help="index to serve (default ./demo-index)")
    parser.add_argument("--out", default="docs", help="folder for the PNGs (default docs)")
    parser.add_argument("--prompt", default=PROMPT, help="the text search shown in the grid")
    parser.add_argument("--target", default="imu+pose",
                        help="the modality searched for (default imu+pose, what the page searches words in on the demo)")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} not found: apt-get install chromium", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    app, url = serve(args.index, block=False, workdir=tempfile.mkdtemp(prefix="motionsearch-shots-"))
    try:
        result = take(url.rstrip("/") + "/", Path(args.out), args.prompt, args.target)
    finally:
        app.close()
    # Teaching writes the concept into the index: do it on a copy.
    copy = Path(tempfile.mkdtemp(prefix="motionsearch-shots-index-")) / "index"
    shutil.copytree(args.index, copy)
    app, url = serve(copy, block=False, workdir=tempfile.mkdtemp(prefix="motionsearch-shots-"))
    try:
        result["teach"] = teach(url.rstrip("/") + "/", Path(args.out))
        others = [s for a, s in ACTIONS.items() if a != result["teach"]["taught"][0]["label"]]
        result["label"] = label(url.rstrip("/") + "/", Path(args.out), ["my punch", *others])
    finally:
        app.close()
        shutil.rmtree(copy.parent, ignore_errors=True)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
