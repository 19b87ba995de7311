"""Runs started in the app in a real browser (Debian's chromium through Playwright), on the session's Ray
(conftest's ray_node): a training run started and stopped, and a worker killed mid-run.

Screenshots land in test-artifacts/screenshots/.
"""
import os
import re
import signal

import pytest
from playwright.sync_api import expect

import browser
from browser import SCREENSHOTS, running_app, wait_idle
from ray_cluster import node_workers

pytestmark = browser.MARKS


@pytest.fixture(scope="module")
def app(tmp_path_factory, ray_node):
    with running_app(tmp_path_factory.mktemp("runs"), ray=ray_node) as (url, page):
        yield url, page


def open_page(app, path):
    url, page = app
    return browser.open_page(page, url, path)


def test_start_and_stop_a_training_run_on_digits(app):
    page = open_page(app, "Train")
    epochs = page.get_by_label("Epochs", exact=True)
    # a number out of range is refused with the field named (the browser's range turned the field red, and Start
    # then did nothing and said nothing)
    epochs.fill("0")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Epochs takes 1 to 500, not 0.")).to_be_visible(timeout=15_000)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    epochs.fill("400")
    epochs.press("Enter")  # Enter in a field started a run at once (a lecturer editing a number started MNIST's)
    page.wait_for_timeout(2000)
    wait_idle(page)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    expect(page.get_by_role("button", name="Start training")).to_be_enabled()
    page.get_by_role("button", name="Start training").click()
    page.get_by_role("button", name="Stop").wait_for(timeout=30_000)
    page.wait_for_selector("text=/epoch [2-9]\\d* of 400/", timeout=60_000)  # at least one epoch finished
    # A reload (a new session) and a page switch find the run: its Stop, its settings in the form, no second start
    # (both lost it: the run trained on unseen and unstoppable, and the form offered a second one with 10 epochs).
    page.reload()
    page.get_by_role("button", name="Stop").wait_for(timeout=30_000)
    page.get_by_role("link", name="Latent sliders").click()
    page.wait_for_selector(".latent-sliders", timeout=30_000)
    page.get_by_role("link", name="Train").click()
    page.get_by_role("button", name="Stop").wait_for(timeout=30_000)
    expect(page.get_by_label("Epochs", exact=True)).to_have_value("400")
    expect(page.get_by_label("KL warm-up epochs", exact=True)).to_have_value("0")  # (it read "0.00")
    expect(page.get_by_role("button", name="Start training")).to_be_disabled()
    # at 800 px the controls wrap onto more rows, every label whole (in five columns: "F" for Pause, "Rest o…")
    page.set_viewport_size({"width": 800, "height": 1000})
    try:
        page.wait_for_timeout(500)
        for name in ("Pause", "One step", "Rest of the epoch", "Stop"):
            whole = page.get_by_role("button", name=name).evaluate(
                "b => [b, ...b.querySelectorAll('*')].every(e => e.scrollWidth <= e.clientWidth + 1)")
            assert whole, name
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})
    page.get_by_role("button", name="Stop").click()
    message = page.locator("text=/stopped after \\d+ epochs?; saved/")
    message.wait_for(timeout=30_000)
    epochs_done = re.search(r"stopped after (\d+) epoch", message.inner_text()).group(1)
    # drawn with it, the sidebar's caption already describes the new run (it showed the old model's for 2 s under
    # "saved as"; the picker's value is not in the page's text)
    assert f"{epochs_done} epochs on" in page.locator("[data-testid='stSidebar']").inner_text()
    # The message, the progress line and the saved checkpoint (the sidebar's caption, now that it is the chosen
    # model) all count the same finished epochs.
    expect(page.locator("[data-testid='stMain']")).to_contain_text(f"stopped: {epochs_done} of 400 epochs",
                                                                   timeout=20_000)  # (a loaded machine's rerun)
    expect(page.locator("[data-testid='stSidebar']")).to_contain_text(f"{epochs_done} epochs on", timeout=20_000)
    wait_idle(page)
    page.wait_for_selector(".js-plotly-plot .scatterlayer", timeout=30_000)  # its curves, drawn
    page.screenshot(path=str(SCREENSHOTS / "train-stopped.png"), full_page=True)


def test_a_worker_that_dies_fails_its_run_and_the_app_serves_everyone_else(app, ray_node):
    url, page = app
    page = open_page(app, "Train")
    page.get_by_role("textbox", name="Hidden layer sizes").fill("1024,1024")  # a run long enough to be killed mid-way
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("500")
    epochs.press("Tab")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text(re.compile(r"on a Ray worker with \d+ thread")).wait_for(timeout=60_000)
    pids = node_workers(ray_node, "train_task")  # (Ray names a worker by its task)
    assert len(pids) == 1, pids
    os.kill(pids[0], signal.SIGKILL)  # as an out-of-memory kill would
    expect(page.locator("[data-testid='stMain']")).to_contain_text("the worker training this run died",
                                                                   timeout=30_000)
    page.screenshot(path=str(SCREENSHOTS / "train-worker-died.png"), full_page=True)
    other = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        other.goto(f"{url}/Latent_map")
        other.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
        wait_idle(other)
        other.wait_for_selector(".js-plotly-plot", timeout=30_000)  # the server still serves everyone
        assert other.locator("[data-testid='stException']").count() == 0
    finally:
        other.context.close()


LIVE = "window.vaeLab?.components?.live_view"


def live(page, expression):
    return page.evaluate(f"() => {{ const v = {LIVE}; return v ? ({expression}) : null; }}")


def test_the_live_view_draws_the_map_forming_and_obeys_pause_one_step_and_a_beta_change(app):
    """A digits run at 30 steps a second: the map's canvas changes between snapshots and the pictures are decoded
    from streamed weights; paused, the step stands still; one step is one batch; β changed while paused lands at
    the next step and is marked on the curves, whose step axis names the step the red line is at."""
    app[1].add_init_script(browser.CANVAS_TEXTS_RECORDED)
    page = open_page(app, "Train")
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("300")
    epochs.press("Tab")
    browser.choose(page, "Speed to begin with", "30 steps/s")  # (watchable would run 300 epochs at 100 a second)
    expect(page.get_by_role("combobox", name="Speed to begin with")).to_have_value("30 steps/s")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function(f"() => {LIVE} && {LIVE}.snapshots >= 2 && {LIVE}.pictures >= 1", timeout=60_000)
    before = live(page, "v.mapCanvas.toDataURL()")
    page.wait_for_function(f"() => {LIVE}.snapshots >= 5", timeout=30_000)
    assert live(page, "v.mapCanvas.toDataURL()") != before  # the map moved between snapshots
    page.get_by_role("button", name="Pause").click()
    # "paused" once the worker waits, with the step it waits at (it said so at the click, and 20 steps followed)
    paused = page.locator(".live-progress-text").filter(has_text=re.compile("^paused · "))
    expect(paused).to_be_visible(timeout=10_000)
    held = live(page, "v.feed.current")
    assert f"step {held:,} of" in paused.inner_text()
    page.wait_for_timeout(2000)
    assert live(page, "v.feed.current") == held  # paused: no step taken
    page.get_by_label("β from the next step", exact=True).fill("400")  # out of range: refused, and nothing changed
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("β from the next step takes 0 to 100, not 400.")).to_be_visible(timeout=10_000)
    page.get_by_label("β from the next step", exact=True).fill("4")
    page.get_by_role("button", name="Apply").click()
    # said under the form, where nothing of the view is (a toast covered the end of the progress line)
    said = page.get_by_text(re.compile(r"From the run's next step .*: β = 4$"))
    expect(said).to_be_visible()
    assert page.locator("[data-testid=stToast]").count() == 0
    form = page.locator("[data-testid=stForm]").filter(has=said).bounding_box()
    box = said.bounding_box()
    assert form["y"] <= box["y"] and box["y"] + box["height"] <= form["y"] + form["height"], (form, box)
    page.screenshot(path=str(SCREENSHOTS / "train-live-changed.png"))
    page.get_by_role("button", name="One step").click()
    page.wait_for_function(f"() => {LIVE}.feed.current === {held + 1} && {LIVE}.step === {held + 1}", timeout=15_000)
    page.wait_for_function(f"() => {LIVE}.feed.curves.changes.length === 1", timeout=10_000)
    assert live(page, "v.feed.curves.changes[0]") == [held + 1, "β = 4"]
    # the line under the form stays, saying where it landed (said once at the Apply, the next click took it away)
    expect(page.get_by_text(f"Changed at step {held + 1:,} (the dashed line on the curves): β = 4")).to_be_visible(
        timeout=10_000)
    page.wait_for_timeout(1500)
    assert live(page, "v.feed.current") == held + 1  # one step, then waiting again
    wait_idle(page)
    page.locator(".live-view").first.screenshot(path=str(SCREENSHOTS / "train-live-paused.png"))
    # the curves' step axis: its ends alone (0 and 101) left the paused step to be guessed from the red line
    texts = page.evaluate("() => [...window.vaeLabCanvasTexts.values()].flat().map(t => t.text)")
    assert f"step {held + 1:,}" in texts, texts
    assert page.evaluate(browser.CANVAS_TEXTS_OVERLAPPING) == []
    # At 1400 px the map, the pictures and the KL bars with the aggregate posterior share one row, from the Pause
    # row to the curves' top within a 1000 px screen (the bars and the curves were below the fold, a walk-through
    # found: a lecturer scrolled between Pause and the learning)
    assert page.viewport_size["width"] == 1400
    tops = [page.locator(f".live-view > {part}").first.bounding_box()["y"]  # (in the component's shadow root)
            for part in (".map", ".pictures", ".panel-stack", ".curves")]
    assert max(tops[:3]) - min(tops[:3]) < 5, tops
    controls = page.get_by_role("button", name="Resume").bounding_box()["y"]
    assert tops[3] + 60 - controls < page.viewport_size["height"], (controls, tops)
    page.get_by_role("button", name="Resume").click()
    page.wait_for_function(f"() => {LIVE}.feed.current > {held + 3}", timeout=15_000)
    feed, view = live(page, "v.data.feed"), page.evaluate_handle(LIVE)
    expect(page.locator(".live-progress-text")).to_contain_text(re.compile(r"^epoch \d+ of 300 · step [\d,]+ of"))
    page.get_by_role("button", name="Stop").click()
    page.locator("text=/stopped after \\d+ epochs; saved/").wait_for(timeout=30_000)
    fetched = "url => fetch(url, {cache: 'no-store'}).then(r => r.ok ? r.json() : r.status)"
    # the feed says the run ended (and goes ENDED_KEPT_S later: tests/test_live_feed.py), and the view saw it and
    # reran the page, unless the rerun that follows the click on Stop already found the run stopped (a step at 30
    # steps/s and its save can end before that rerun does) and took the view away
    assert page.evaluate(fetched, feed) in ({"ended": True}, 404)
    assert view.evaluate("v => v.ended") == feed or view.evaluate("v => v.destroyed")


REPLAY = "window.vaeLab?.components?.replay"


def test_on_a_projector_s_1280_by_720_the_replay_s_panels_share_a_row_under_the_legend_of_their_colours(app):
    """Lesson step 3 on a projector (1280 x 720, the sidebar open): the KL bars and the aggregate posterior went below
    the map and the pictures, off the screen while the replay played, and the digits' colours were named under the
    curves, 600 px from the map. The panels now shrink to share one row, and the legend is under the map."""
    page = app[1]
    size = page.viewport_size
    try:
        page.set_viewport_size({"width": 1280, "height": 720})
        open_page(app, "Train")
        page.wait_for_function(f"() => {REPLAY} && {REPLAY}.index !== null", timeout=30_000)
        boxes = [page.locator(f".replay > {part}").first.bounding_box()
                 for part in (".map", ".pictures", ".panel-stack")]
        assert max(b["y"] for b in boxes) - min(b["y"] for b in boxes) < 5, boxes
        view = page.locator(".replay").first.bounding_box()
        assert max(b["x"] + b["width"] for b in boxes) <= view["x"] + view["width"] + 1
        legend = page.locator(".replay > .map .legend .item")
        assert legend.all_inner_texts() == [str(d) for d in range(10)]
        page.locator(".replay").first.screenshot(path=str(SCREENSHOTS / "train-replay-1280.png"))
    finally:
        page.set_viewport_size(size)


def test_the_replay_of_digits_2d_scrubs_plays_and_exports_a_gif_of_every_snapshot(app):
    """The shipped digits-2d's recording on the Train page: it opens at the last snapshot; the scrubber's start
    shows another map (the initial weights' codes, bunched at the origin); play runs to the end; the GIF button
    gives a GIF with a frame per snapshot."""
    import io

    from PIL import Image

    from vae_core.recording import load_recording

    snapshots = len(load_recording(browser.ROOT / "models" / "digits-2d", 2, (1, 8, 8)).snapshots)
    page = open_page(app, "Train")
    page.wait_for_function(f"() => {REPLAY} && {REPLAY}.index === {snapshots - 1}", timeout=30_000)
    # its epochs as a slide shows them: "150 epochs done" at the end (it said "150.00")
    expect(page.locator(".replay")).to_contain_text(f"snapshot {snapshots} of {snapshots} · step 3,600 · 150 epochs "
                                                    "done")
    last = page.evaluate(f"() => {REPLAY}.mapCanvas.toDataURL()")
    curves = page.evaluate(f"() => {REPLAY}.curves.canvas.toDataURL()")  # the history's curves, the step marked
    scrubber = page.get_by_role("slider", name="snapshot")
    # most of the view's width, for 37 snapshots on a projector (beside the step's line it had 210 px)
    assert scrubber.bounding_box()["width"] > 0.7 * page.locator(".replay").first.bounding_box()["width"]
    scrubber.focus()
    scrubber.press("Home")
    page.wait_for_function(f"() => {REPLAY}.index === 0", timeout=10_000)
    assert page.evaluate(f"() => {REPLAY}.mapCanvas.toDataURL()") != last
    assert page.evaluate(f"() => {REPLAY}.curves.canvas.toDataURL()") != curves  # the mark moved to step 0
    expect(page.locator(".replay")).to_contain_text(f"snapshot 1 of {snapshots} · step 0")
    page.locator(".replay").first.screenshot(path=str(SCREENSHOTS / "train-replay-start.png"))
    # Where a snapshot's KL is near 0 in all, the bars' caption says what that means (a class watched a blob
    # and a grey manifold, with no word of why); elsewhere it does not
    told = page.evaluate(f"""() => {{ const v = {REPLAY}, at = v.index; const told = v.data.kl.map((kl, i) => {{
        v.show(i); return [kl.reduce((a, b) => a + b, 0), v.panels.bars.caption.textContent]; }});
        v.show(at); return told; }}""")
    collapsed = [total < 0.15 for total, _ in told]
    assert any(collapsed) and not all(collapsed), [round(total, 2) for total, _ in told]
    assert [("All near 0 now" in caption) for _, caption in told] == collapsed
    # The bars grey a unit by its activity, as every page counts units (they had greyed one under 0.01 nats, and a
    # page's "6 active" was 5 blue bars here): of units with the same KL, an active one blue, a collapsed one grey,
    # and of the map's two (red), a collapsed one pale
    bars = page.evaluate(f"""() => {{ const v = {REPLAY}, at = v.index, d = v.data, kept = [d.kl[at], d.active[at]];
        const canvas = v.panels.bars.canvas, colour = unit => {{ const ratio = canvas.width / canvas.clientWidth,
            step = (canvas.clientWidth - 34) / 4; return Array.from(canvas.getContext("2d").getImageData(
            Math.round((34 + (unit + 0.5) * step) * ratio), Math.round((canvas.clientHeight - 20) * ratio), 1, 1).data
            ).slice(0, 3); }};
        d.kl[at] = Array(4).fill(d.klTop / 2); d.active[at] = [false, true, true, false];
        v.show(at, 0, true);
        const shown = [[0, 1, 2, 3].map(colour), v.panels.bars.caption.textContent];
        d.kl[at] = Array(4).fill(0.01); v.show(at, 0, true);  // near 0 in all, units still counted active
        shown.push(v.panels.bars.caption.textContent);
        d.kl[at] = [d.klTop / 10, d.klTop, d.klTop, 0]; v.show(at, 0, true);  // a collapsed unit's short bar
        shown.push(v.panels.bars.caption.textContent);
        [d.kl[at], d.active[at]] = kept; v.show(at, 0, true); return shown; }}""")
    assert bars[0] == [[0xf7, 0xb5, 0xb5], [0xff, 0x4b, 0x4b], [0x4c, 0x78, 0xa8], [0xbb, 0xbb, 0xbb]], bars
    assert "grey (pale red): collapsed, its posterior means barely vary across images (variance ≤ 0.01)" in bars[1]
    assert "still counts as active" not in bars[1] and "All near 0 now" in bars[2]
    # a collapsed unit with KL of its own: every code moved together (the first steps of the digits default)
    assert "A grey or pale bar that stands tall" in bars[1] and "stands tall" not in bars[2]
    assert "stands tall" not in bars[3], bars[3]  # a pale bar a tenth of the scale is not tall
    assert "A unit still counts as active where its means vary across images at all" in bars[2]
    page.get_by_role("button", name="▶ Play").click()
    page.wait_for_function(f"() => {REPLAY}.index === {snapshots - 1} && !{REPLAY}.timer", timeout=60_000)
    page.locator(".replay").first.screenshot(path=str(SCREENSHOTS / "train-replay-end.png"))
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Animated GIF for a slide").click()
    gif = Image.open(io.BytesIO(open(download.value.path(), "rb").read()))
    assert gif.format == "GIF" and gif.n_frames == snapshots and gif.width >= 512
