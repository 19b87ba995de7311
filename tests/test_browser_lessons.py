"""What a lecturer shares and a learner draws, in Debian's chromium: a digit drawn with the mouse gets its
posterior, decoded pictures download as GIF with a label on each frame, a chart's own PNG is the chart on the page,
a model downloads as a zip the uploader takes back, and the address bar reopens the same view after a reload and in
another browser. Screenshots in test-artifacts."""
import base64
import io
import re

import numpy as np
import pytest
from PIL import Image, ImageSequence
from playwright.sync_api import expect

import browser
from browser import SCREENSHOTS, wait_idle
from ui.drawing import PREFIX
from vae_core.export import gif_bytes

pytestmark = browser.MARKS


@pytest.fixture(scope="module")
def app(shared_app):
    with browser.page_on(shared_app) as (url, page):
        yield url, page


def open_page(app, path):
    url, page = app
    return browser.open_page(page, url, path)


def test_a_digit_drawn_with_the_mouse_gets_its_posterior(app):
    page = open_page(app, "Your_digit")
    box = page.locator(".drawing-pad canvas").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.15)  # a tap leaves a dot
    assert page.locator(".drawing-pad canvas").evaluate(
        "c => c.getContext('2d').getImageData(c.width / 2, c.height * 0.15, 1, 1).data[0]") == 255
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.15)
    page.mouse.down()
    for i in range(1, 21):  # a vertical stroke: a 1
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * (0.15 + 0.035 * i))
    page.mouse.up()
    expect(page.locator("[data-testid='stMain']")).to_contain_text("Where the encoder puts it", timeout=30_000)
    expect(page.locator("[data-testid='stMain']")).to_contain_text("what the model sees")
    wait_idle(page)
    page.wait_for_selector(".js-plotly-plot", timeout=30_000)
    names = page.evaluate("() => document.querySelector('.js-plotly-plot')._fullData.map(t => t.name)")
    assert "your digit" in names and "1 σ" in names
    assert page.locator("[data-testid='stException']").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "your-digit.png"), full_page=True)


def test_forged_drawings_are_refused_with_a_short_notice_and_a_huge_one_before_it_is_decoded(app):
    page = open_page(app, "Your_digit")
    page.wait_for_function("() => window.vaeLab && window.vaeLab.components.digit_pad", timeout=30_000)
    browser.forge_values(page, "digit_pad", "png", "drawing pad")
    buffer = io.BytesIO()
    Image.new("L", (8000, 8000)).save(buffer, format="PNG")  # a valid PNG, 64 M pixels
    page.evaluate("url => window.vaeLab.components.digit_pad.component.setStateValue('png', url)",
                  PREFIX + base64.b64encode(buffer.getvalue()).decode())
    expect(page.locator("[data-testid='stAlert']")).to_contain_text("8000x8000 pixels", timeout=15_000)
    assert page.locator("[data-testid='stException']").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "your-digit-forged.png"), full_page=True)


def downloaded_gif(page, button, tmp_path) -> Image.Image:
    with page.expect_download(timeout=30_000) as download:
        button.click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    return Image.open(path)


def assert_labelled(gif: Image.Image, labels: list[str]) -> None:
    """Each frame of gif (a square digit, forward then back) carries its label in the row above it, written as
    gif_bytes writes those labels (onto blank digits here), letter for letter."""
    row = gif.height - gif.width
    written = Image.open(io.BytesIO(gif_bytes(np.zeros((len(labels), 8, 8)), labels=labels)))
    assert row == written.height - written.width > 0 and gif.n_frames == written.n_frames == 2 * len(labels) - 2
    for frame, wanted in zip(ImageSequence.Iterator(gif), ImageSequence.Iterator(written), strict=True):
        assert np.array_equal(np.asarray(frame.convert("L"))[:row], np.asarray(wanted.convert("L"))[:row])


def test_an_interpolation_downloads_as_a_looping_gif_each_frame_named_by_its_path_and_step(app, tmp_path):
    page = open_page(app, "Interpolation")
    gif = downloaded_gif(page, page.get_by_role("button", name="Animated GIF").first, tmp_path)
    steps = 11  # the page's default
    name = re.fullmatch(r".*/interpolation-(linear|spherical)\.gif", gif.filename).group(1)
    assert gif.format == "GIF" and gif.info["loop"] == 0
    assert gif.n_frames == 2 * steps - 2  # forward, then back without repeating the ends
    assert gif.size[0] == 8 * 64  # an 8x8 digit, each pixel a 64 px block: 512 px, big enough for a slide
    assert_labelled(gif, [f"{name}: step {i} of {steps}" for i in range(1, steps + 1)])
    gif.seek(4)
    gif.convert("RGB").save(SCREENSHOTS / "interpolation-gif-frame.png")


def test_a_traversal_gif_names_the_value_of_z_on_each_frame(app, tmp_path):
    """On a slide nobody could tell which value of z a traversal's frame showed: each frame says it above the
    digit, as the strip's column labels do."""
    page = open_page(app, "Latent_sliders")
    button = page.get_by_role("button", name=re.compile(r"^Animated GIF of z\d+ from -3 to 3$"))
    dim = re.search(r"z(\d+)", button.inner_text()).group(1)
    gif = downloaded_gif(page, button, tmp_path)
    assert gif.size[0] == 512
    assert_labelled(gif, [f"z{dim} = {v}" for v in ("-3", "-2.25", "-1.5", "-0.75", "0", "0.75", "1.5", "2.25", "3")])
    gif.seek(2)
    gif.convert("RGB").save(SCREENSHOTS / "traversal-gif-frame.png")


def test_the_norm_chart_s_own_png_is_the_chart_on_the_page_its_legend_whole(app, tmp_path):
    """The path norms' "Download plot as a PNG" cut the legend's "spherical" to "spherica": Plotly draws the export as
    an SVG image, which has no web fonts, so its text came out wider than Plotly had measured it on the page. The
    chart's font is a system one now, and the saved PNG equals the chart on the screen."""
    page = open_page(app, "Interpolation")
    chart = page.locator("[data-testid='stPlotlyChart']").first
    chart.scroll_into_view_if_needed()
    wait_idle(page)
    assert page.evaluate("() => [...document.querySelectorAll('[data-testid=stPlotlyChart] .legendtext')]"
                         ".map(t => t.textContent)") == ["linear", "spherical"]
    page.mouse.move(0, 0)  # no modebar or hover label over the chart
    box = chart.locator(".main-svg").first.bounding_box()
    shown = np.asarray(Image.open(io.BytesIO(page.screenshot(clip={
        "x": round(box["x"]), "y": round(box["y"]), "width": round(box["width"]), "height": round(box["height"])}))
                                  ).convert("L"), dtype=int)
    chart.hover()
    with page.expect_download(timeout=30_000) as download:
        chart.locator("[data-title='Download plot as a PNG']").click()
    path = SCREENSHOTS / "interpolation-norms-export.png"
    download.value.save_as(path)
    saved = np.asarray(Image.open(path).convert("L"), dtype=int)
    assert saved.shape == shown.shape
    # (aligned within a pixel either way: the chart may sit at a fraction of a pixel on the page)
    differing = min(np.count_nonzero(np.abs(np.roll(saved, (dy, dx), (0, 1)) - shown) > 64)
                    for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    assert differing < 0.001 * saved.size, differing  # in the fallback font its text differed in 1,392 of 252,000


def test_a_model_downloads_as_a_zip_that_uploads_back(app, tmp_path):
    page = open_page(app, "")
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Download this model (.zip)").click()
    path = tmp_path / "exported-digits.zip"
    download.value.save_as(path)
    assert download.value.suggested_filename == "digits-2d.zip"
    page.locator("[data-testid='stSidebar'] input[type='file']").set_input_files(str(path))
    expect(page.get_by_role("combobox", name="Model")).to_have_value(
        re.compile(r"^exported-digits \(upload [0-9a-f]{6}\)$"), timeout=30_000)
    # its history came too, and its recording: the Train page replays how it learned
    expect(page.locator("[data-testid='stSidebar']")).to_contain_text("latent 2, β=1, 150 epochs on digits")
    page.get_by_role("link", name="Train").click()
    expect(page.get_by_text("How exported-digits")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Animated GIF for a slide")).to_be_visible(timeout=30_000)


def test_the_address_bar_reopens_the_same_view(app):
    url, first = app
    page = open_page(app, "KL_trade-off")
    page.get_by_role("spinbutton", name=re.compile("Test image")).fill("5")
    page.keyboard.press("Enter")
    wait_idle(page)
    beta = page.locator("[data-testid='stSlider'] input[type='range']").first
    beta.focus()
    page.keyboard.press("End")  # beta = 10
    page.wait_for_function("() => location.search.includes('beta=10')", timeout=15_000)
    page.wait_for_function("() => location.search.includes('image=5')", timeout=15_000)
    link = page.url
    page.reload()
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
    wait_idle(page)
    expect(page.locator("[data-testid='stMain'] .katex-display").first).to_contain_text("10×", timeout=15_000)
    other = first.context.browser.new_page()  # someone else, with the copied link
    try:
        other.goto(link)
        other.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
        wait_idle(other)
        expect(other.locator("[data-testid='stMain'] .katex-display").first).to_contain_text("10×", timeout=15_000)
        expect(other.get_by_role("spinbutton", name=re.compile("Test image"))).to_have_value("5")
        other.screenshot(path=str(SCREENSHOTS / "opened-from-a-link.png"), full_page=True)
    finally:
        other.context.close()


LESSON_LINKS = ("() => [...document.querySelectorAll('*')].filter(e => e.shadowRoot)"
                ".flatMap(e => [...e.shadowRoot.querySelectorAll('a')]).map(a => a.href)")


def click_step(page, index: int) -> None:
    """Click the link of step index itself, not the point of the screen where Playwright found it: a click meant
    for the pad opened Your digit, the last step, once with the machine's load at 5 (the long page still moving as
    the click came, we think; it passed on 3 reruns)."""
    link = page.get_by_text("Open this step").nth(index)
    link.scroll_into_view_if_needed()
    link.evaluate("a => a.click()")


def test_a_lesson_link_opens_its_step_in_this_tab_and_in_a_new_one(app):
    """Step 1 opens the home page with its model, clicked (within the session) and in a new tab: st.page_link's
    href for the home page was a bare query string, so a new tab opened the Lesson page again."""
    from ui.lesson import STEPS

    url, _ = app
    home, pad = STEPS[0], next(s for s in STEPS if s.page.url == "Latent_pad")
    model = re.compile(f"^{re.escape(home.link['model'])}$")  # the picker shows the model's name
    page = open_page(app, "Lesson")
    page.screenshot(path=str(SCREENSHOTS / "lesson.png"), full_page=True)
    hrefs = page.evaluate(LESSON_LINKS)
    assert len(hrefs) == len(STEPS) and hrefs[0] == f"{url}/?model={home.link['model']}"
    other = page.context.browser.new_page()  # a new tab, its own session
    try:
        other.goto(hrefs[0])
        other.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
        wait_idle(other)
        expect(other.locator("[data-testid='stMain'] h1").first).to_have_text("VAE lab")
        expect(other.get_by_role("combobox", name="Model")).to_have_value(model)
    finally:
        other.context.close()
    page.get_by_text("Open this step").first.click()  # this tab: the home page, within the session
    page.wait_for_function("() => location.pathname === '/'", timeout=30_000)
    wait_idle(page)
    expect(page.locator("[data-testid='stMain'] h1").first).to_have_text("VAE lab")
    expect(page.get_by_role("combobox", name="Model")).to_have_value(model)
    page.wait_for_function(f"() => new URLSearchParams(location.search).get('model') === '{home.link['model']}'",
                           timeout=15_000)
    page = open_page(app, "Lesson")
    click_step(page, STEPS.index(pad))  # the pad, at the step's point
    page.wait_for_function("() => location.pathname === '/Latent_pad'", timeout=30_000)
    page.wait_for_function(f"() => new URLSearchParams(location.search).get('z') === '{pad.link['z']}'",
                           timeout=30_000)
    expect(page.get_by_role("combobox", name="Model")).to_have_value(re.compile(f"^{re.escape(pad.link['model'])}$"))


def test_a_lesson_step_about_one_section_scrolls_to_it_in_this_tab_and_in_a_new_one(app):
    """Step 9 is about the KL page's last section, "Summed or averaged": its link opened the top of the page, seven
    charts above it. (A fragment would not do: Streamlit drops it as it writes the query string.)"""
    from ui.lesson import REDUCTION_SECTION, STEPS

    step = next(s for s in STEPS if "section" in s.link)
    page = open_page(app, "Lesson")
    page.wait_for_function(f"() => ({LESSON_LINKS})().length === {len(STEPS)}", timeout=30_000)
    href = page.evaluate(LESSON_LINKS)[STEPS.index(step)]
    assert f"section={REDUCTION_SECTION}" in href
    click_step(page, STEPS.index(step))
    page.wait_for_function("() => location.pathname === '/KL_trade-off'", timeout=30_000)
    header = page.locator(f"[id='{REDUCTION_SECTION}']")
    expect(header).to_have_text(re.compile("^Summed or averaged"), timeout=60_000)
    expect(header).to_be_in_viewport(timeout=15_000)
    page.screenshot(path=str(SCREENSHOTS / "lesson-step-section.png"))
    page.wait_for_function("() => !new URLSearchParams(location.search).has('section')", timeout=15_000)  # once
    other = page.context.browser.new_page()  # a new tab, its own session
    try:
        other.goto(href)
        header = other.locator(f"[id='{REDUCTION_SECTION}']")
        expect(header).to_have_text(re.compile("^Summed or averaged"), timeout=60_000)
        expect(header).to_be_in_viewport(timeout=15_000)
        other.goto(href.replace(REDUCTION_SECTION, "nowhere"))  # a section the page has not: told, at the top
        expect(other.get_by_text("this link's section='nowhere' is not a section of this page", exact=False)
               ).to_be_visible(timeout=60_000)
        expect(other.locator("[data-testid='stMain'] h1")).to_be_in_viewport()
    finally:
        other.context.close()
