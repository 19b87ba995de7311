"""The app in a real browser (Debian's chromium through Playwright): pages, a slider, a map click, uploads,
separate sessions. Runs started in the browser are in test_browser_training.py (they need Ray).

Screenshots of every page land in test-artifacts/screenshots/.
"""
import contextlib
import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

import browser
from browser import ROOT, SCREENSHOTS, choose, running_app, wait_idle
from conftest import mnist_present
from vae_core import load_checkpoint

pytestmark = browser.MARKS
PAGES = {"": "home", "Lesson": "lesson", "Latent_sliders": "sliders", "Latent_map": "map",
         "Interpolation": "interpolation", "Your_digit": "your-digit", "Compare": "compare-page", "Train": "train",
         "Latent_pad": "pad", "KL_trade-off": "trade-off", "Beta_sweep": "beta-sweep",
         "Warm-up_and_free_bits": "warm-up"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def app(runs):
    with running_app(runs) as (url, page):
        yield url, page


def open_page(app, path):
    url, page = app
    return browser.open_page(page, url, path)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_opens_without_errors_and_its_link_names_the_model(app, path):
    """(Your digit, which stops before a drawing, left the model out of its link: a reload lost the model.)"""
    page = open_page(app, path)
    assert page.locator("[data-testid='stException']").count() == 0
    page.wait_for_url(re.compile(r"[?&]model=digits-2d(&|$)"), timeout=10_000)
    page.wait_for_timeout(500)  # let images and charts paint before the picture is taken
    page.screenshot(path=str(SCREENSHOTS / f"{PAGES[path]}.png"), full_page=True)


def test_a_page_s_address_in_lower_case_opens_the_page_with_the_link_s_parameters(app):
    """/latent_map typed by hand (Streamlit matches addresses exactly: it opened Home under "Page not found")."""
    url, page = app
    page.goto(f"{url}/latent_map?model=mnist-16d")
    # the link as the page writes it: the model taken from it (its point, the origin, left out)
    page.wait_for_url(re.compile(r"/Latent_map\?model=mnist-16d$"), timeout=30_000)
    expect(page.locator("[data-testid='stMain'] h1").first).to_have_text("Latent map")
    wait_idle(page)
    assert page.get_by_text("Page not found").count() == 0
    links = page.locator("[data-testid='stSidebarNav'] a")
    assert links.count() == len(PAGES)  # the lower-case addresses are not listed
    # the sidebar's title as an address (/Compare_two_models, /home opened Home under "Page not found" too)
    page.goto(f"{url}/Compare_two_models?model=digits-8d-mean-recon&b=sweeps/digits/beta-10")
    page.wait_for_url(re.compile(r"/Compare\?model=digits-8d-mean-recon.*b=sweeps%2Fdigits%2Fbeta-10"), timeout=30_000)
    expect(page.locator("[data-testid='stMain'] h1").first).to_have_text("Compare two models")
    wait_idle(page)
    assert page.get_by_text("Page not found").count() == 0
    page.goto(f"{url}/Home?model=mnist-2d")  # the home page's title too (it opened under "Page not found")
    page.wait_for_url(re.compile(r"/\?model=mnist-2d"), timeout=30_000)
    wait_idle(page)
    assert page.get_by_text("Page not found").count() == 0


def test_clicking_a_point_on_the_map_shows_its_image(app):
    page = open_page(app, "Latent_map")
    page.wait_for_selector(".js-plotly-plot .scatterlayer, .js-plotly-plot canvas", timeout=30_000)
    # Pixel position of one data point, from Plotly's own axis transforms.
    x, y = page.evaluate("""() => {
        const plot = document.querySelector('.js-plotly-plot');
        const trace = plot._fullData[0], layout = plot._fullLayout;
        const box = plot.getBoundingClientRect();
        return [box.left + layout.xaxis._offset + layout.xaxis.l2p(trace.x[0]),
                box.top + layout.yaxis._offset + layout.yaxis.l2p(trace.y[0])];
    }""")
    page.mouse.click(x, y)
    page.wait_for_selector("text=/Test image \\d+ · label/", timeout=20_000)
    wait_idle(page)
    heading = page.locator("h3", has_text=re.compile(r"Test image \d+")).first.inner_text()
    assert "label" in heading
    assert page.locator("[data-testid='stMain'] [data-testid='stImage']").count() == 2  # original, recon
    # each in a grey frame: the 8x8 digits fill their box, and white ink on the edge ran into the white page
    corners = page.evaluate("""() => Array.from(document.querySelectorAll("[data-testid='stMain'] [data-testid='stImage'] img"))
        .map(img => { const c = document.createElement("canvas"); c.width = img.naturalWidth; c.height = img.naturalHeight;
                      const ctx = c.getContext("2d"); ctx.drawImage(img, 0, 0);
                      return [0, c.width - 1].map(x => Array.from(ctx.getImageData(x, c.height - 1, 1, 1).data)); })""")
    assert corners == [[[128, 128, 128, 255]] * 2] * 2, corners
    widths = page.evaluate("""() => Array.from(document.querySelectorAll(
        "[data-testid='stMain'] [data-testid='stImage'] img")).map(img => img.getBoundingClientRect().width)""")
    assert widths[0] == pytest.approx(widths[1], abs=1), widths  # (the reconstruction's long caption stretched it)
    page.screenshot(path=str(SCREENSHOTS / "map-clicked.png"), full_page=True)


def test_uploading_a_checkpoint_validates_it(app, runs, tmp_path):
    page = open_page(app, "")
    dropzone = page.locator("[data-testid='stSidebar'] input[type='file']")
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"this is not a checkpoint")
    dropzone.set_input_files(str(bad))
    expect(page.locator("[data-testid='stSidebar']")).to_contain_text("broken.safetensors refused", timeout=20_000)
    assert not [p for p in (runs / "uploads").rglob("*") if p.is_file()]  # a refused upload leaves nothing
    long_name = "a-very-long-name-" * 18 + ".safetensors"  # 318 characters: more than a file name may have
    weights = (ROOT / "models" / "digits-2d" / "model.safetensors").read_bytes()
    dropzone.set_input_files({"name": long_name, "mimeType": "application/octet-stream", "buffer": weights})
    expect(page.get_by_role("combobox", name="Model")).to_have_value(re.compile("^a-very-long-name-"), timeout=20_000)
    assert page.locator("[data-testid='stException']").count() == 0
    shipped = load_checkpoint(ROOT / "models" / "mnist-2d")
    dropzone.set_input_files(str(shipped.path / "model.safetensors"))
    expect(page.locator("[data-testid='stSidebar']")).to_contain_text("MLP 512-512, latent 2", timeout=20_000)
    if mnist_present():  # scored on the MNIST test set on arrival, as the shipped model was (else unscored)
        expect(page.locator("[data-testid='stSidebar']")).to_contain_text(
            f"Test −ELBO {int(shipped.metrics['nelbo'])}.", timeout=20_000)
    wait_idle(page)
    page.screenshot(path=str(SCREENSHOTS / "upload.png"), full_page=True)


def test_sessions_do_not_see_each_other(app):
    url, first = app
    other = first.context.browser.new_page(viewport={"width": 1400, "height": 1000})  # a separate context
    try:
        first.goto(f"{url}/Latent_sliders")
        first.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
        wait_idle(first)
        slider = first.locator(".latent-sliders input[type='range']").first
        slider.focus()
        first.keyboard.press("Home")  # the browser decodes it, and its change reaches this session's point
        first.wait_for_function("() => String(window.vaeLab.components.sliders.dataZ[0]) === '-4'", timeout=15_000)
        other.goto(f"{url}/Latent_sliders")
        other.wait_for_selector(".latent-sliders input[type='range']", timeout=60_000)
        wait_idle(other)
        expect(other.locator(".latent-sliders input[type='range']").first).to_have_value("0")
        other.goto(f"{url}/Train")
        other.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
        wait_idle(other)
        expect(other.locator("[data-testid='stMain']")).to_contain_text("one run per session")  # no job of ours
    finally:
        other.context.close()


def test_beta_changes_the_displayed_total(app):
    page = open_page(app, "KL_trade-off")
    total = page.locator("[data-testid='stMain'] .katex-display").first
    before = total.inner_text()
    beta = page.locator("[data-testid='stSlider'] input[type='range']").first
    beta.focus()
    page.keyboard.press("End")  # beta = 10
    expect(total).to_contain_text("10×", timeout=15_000)  # the total now reads recon + 10 × KL
    assert total.inner_text() != before


def test_rate_distortion_chart_has_one_point_per_shipped_beta(app):
    page = open_page(app, "Beta_sweep")
    page.wait_for_selector(".js-plotly-plot .scatterlayer", timeout=30_000)
    betas = page.evaluate("""() => document.querySelector('.js-plotly-plot')._fullData
        .filter(t => t.name === 'digits (shipped)')[0].text""")
    assert betas == ["β=0.1", "β=0.3", "β=1", "β=3", "β=10"]
    drawn = page.locator(".js-plotly-plot .scatterlayer .trace").last.locator("path.point")
    assert drawn.count() == 5


def test_each_member_of_the_sweep_opens_when_its_point_is_clicked(app):
    """A click at each point's own pixel position (Plotly's axis transforms) opens that member, with its KL bars on
    the axis every member shares (clicking β = 3 used to open β = 10, 3-4 px away under 13 px markers)."""
    page = open_page(app, "Beta_sweep")
    page.wait_for_selector(".js-plotly-plot .scatterlayer", timeout=30_000)
    heading = page.locator("[data-testid='stMain'] h3").first
    ranges, shown = [], None
    for i, beta in enumerate(["0.1", "0.3", "1", "3", "10"]):
        for _ in range(3):  # a click while the chart redraws (the page grew below it) may land on nothing
            page.wait_for_timeout(500)
            x, y = page.evaluate("""(i) => {
                const plot = document.querySelector('.js-plotly-plot');
                const trace = plot._fullData.filter(t => t.name === 'digits (shipped)')[0], layout = plot._fullLayout;
                const box = plot.getBoundingClientRect();
                return [box.left + layout.xaxis._offset + layout.xaxis.c2p(trace.x[i]),
                        box.top + layout.yaxis._offset + layout.yaxis.c2p(trace.y[i])];
            }""", i)
            page.mouse.click(x, y)
            try:
                expect(heading).not_to_have_text(shown or "", timeout=10_000)
                break
            except AssertionError:
                continue
        expect(heading).to_contain_text(f"β = {beta}:", timeout=20_000)  # that one: never a neighbour
        shown = heading.inner_text()
        wait_idle(page)
        ranges.append(page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
            .map(p => p._fullLayout).filter(l => l.yaxis.title.text === 'KL, nats per image')[0].yaxis.range"""))
        if beta in ("3", "10"):
            page.screenshot(path=str(SCREENSHOTS / f"beta-sweep-clicked-{beta}.png"), full_page=True)
    assert all(r == ranges[0] for r in ranges), ranges


def test_the_sidebar_shows_a_model_s_name_whole(app, runs):
    """The picker's text fits its box for the shipped models, a sweep's member and a run (its name without the
    random part: the label with dataset, latent size, β and score was cut off; those are in the caption below)."""
    import shutil

    run = "20261204-173000-digits-z2-beta1-0123456789ab"
    shutil.copytree(ROOT / "models" / "digits-2d", runs / run)
    url, page = app
    shown = [("mnist-50d-binarized", "mnist-50d-binarized"), ("digits-8d-mean-recon", "digits-8d-mean-recon"),
             ("sweeps/digits/beta-0.3", "digits sweep, β=0.3"), (f"runs/{run}", run[:-13])]
    for model, name in shown:
        page.goto(f"{url}/?model={model}")
        page.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
        wait_idle(page)
        picker = page.get_by_role("combobox", name="Model")
        assert picker.input_value() == name
        assert picker.evaluate("e => e.scrollWidth <= e.clientWidth"), model
    page.screenshot(path=str(SCREENSHOTS / "sidebar-run-name.png"))


def test_compare_draws_each_input_as_large_as_its_reconstruction_and_level_with_it(app):
    """Measured in the page: each model's input picture is as wide as its reconstruction's canvas, which holds the
    picture alone, and starts at the same height (the input was a 56 px preview; then a border of one image pixel
    around the reconstruction put it 20 px below its input)."""
    page = open_page(app, "Compare")
    choose(page, "Model B", re.compile("^digits-8d-mean-recon "))
    page.wait_for_function("() => ['A', 'B'].every(k => window.vaeLab?.components[`compare_recon_${k}`]?.loaded)",
                           timeout=30_000)
    wait_idle(page)
    # both measured at once, once the page has settled (measured one after the other, under a loaded machine's late
    # layout, B's input stood 11 px below its reconstruction for a moment)
    measure = """() => [[...document.querySelectorAll('img[alt="the input"]')].map(i => {
            const r = i.getBoundingClientRect(); return [r.width, r.top]; }),
        ['A', 'B'].map(k => { const r = window.vaeLab.components[`compare_recon_${k}`].tiles.canvas
            .getBoundingClientRect(); return [r.width, r.top]; })]"""
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(f"() => {{ const [a, b] = ({measure})(); return JSON.stringify(a) === "
                               "JSON.stringify(b); }", timeout=10_000)
    inputs, reconstructions = page.evaluate(measure)
    assert len(inputs) == 2 and inputs == reconstructions and min(w for w, _ in inputs) >= 150, (inputs,
                                                                                               reconstructions)
    page.screenshot(path=str(SCREENSHOTS / "compare.png"), full_page=True)


def test_in_class_mode_a_reload_brings_back_this_browser_s_uploads_and_nobody_else_s(app, tmp_path):
    """A reload is a new session: the cookie the browser keeps names its runs and uploads, so they are listed again;
    another browser (a context of its own: its own cookies) sees none of them."""
    def picker_options(page) -> list[str]:
        page.get_by_role("combobox", name="Model").click()
        options = [o.inner_text() for o in page.get_by_role("option").all()]
        page.keyboard.press("Escape")
        return options

    env = {"VAE_RUNS_DIR": str(tmp_path / "runs"), "VAE_CLASS_MODE": "1"}
    chromium = app[1].context.browser  # the module's chromium; a server of its own, in class mode
    with browser.streamlit_server(ROOT / "app.py", env=env) as url:
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        browser.open_page(page, url, "")
        weights = (ROOT / "models" / "digits-2d" / "model.safetensors").read_bytes()
        page.locator("[data-testid='stSidebar'] input[type='file']").set_input_files(
            {"name": "mine.safetensors", "mimeType": "application/octet-stream", "buffer": weights})
        expect(page.get_by_role("combobox", name="Model")).to_have_value(re.compile(r"^mine \(upload "),
                                                                         timeout=20_000)
        page.reload()
        page.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
        wait_idle(page)
        assert any(o.startswith("mine (upload ") for o in picker_options(page))
        other = chromium.new_page(viewport={"width": 1400, "height": 1000})
        try:
            browser.open_page(other, url, "")
            assert not any(o.startswith("mine") for o in picker_options(other))
        finally:
            other.context.close()
            page.context.close()


NOTHING_PAST_THE_EDGE = """() => {
    const main = document.querySelector("[data-testid='stMain']");
    const right = main.getBoundingClientRect().right, out = [];
    for (const b of document.querySelectorAll("[data-testid='stMain'] button"))
        if (b.scrollWidth > b.clientWidth + 1) out.push(`button cut: ${b.innerText}`);
    for (const t of document.querySelectorAll(".js-plotly-plot .g-xtitle, .js-plotly-plot .legend"))
        if (t.getBoundingClientRect().right > right + 1) out.push(`chart: ${t.textContent}`);
    const walk = root => { for (const el of root.querySelectorAll("canvas, figure")) {
        if (el.getBoundingClientRect().right > right + 1) out.push(`${el.tagName}.${el.className}`); }
        for (const el of root.querySelectorAll("*")) if (el.shadowRoot) walk(el.shadowRoot); };
    walk(document);
    if (main.scrollWidth > main.clientWidth + 1) out.push(`scrolls sideways: ${main.scrollWidth} > ${main.clientWidth}`);
    return out;
}"""


@pytest.mark.parametrize("path, model", [("Latent_sliders", "mnist-16d"), ("Compare", "mnist-16d"),
                                         ("Train", "digits-2d")])
def test_at_800_px_nothing_is_cut_or_past_the_column_s_edge(app, path, model):
    """A lecturer at 800 px, the sidebar open (a 460 px column), on mnist-16d: the sliders' traversals ran 26 px past
    the edge (the page scrolled sideways, its last column and caption cut), their buttons read "Samp…" and "Reset …",
    and Compare's plane lost the end of its axis title ("nats (log"). A student at 800 px read "stercon scale
    (Kthe run has 3,600)" over the Train page's replayed curves: no text drawn on a canvas overlaps another."""
    url, page = app
    size = page.viewport_size
    try:
        page.set_viewport_size({"width": 800, "height": size["height"]})
        page.add_init_script(browser.CANVAS_TEXTS_RECORDED)
        browser.open_page(page, url, path, model)
        page.wait_for_timeout(2000)  # the components laid out in their column
        assert page.evaluate(NOTHING_PAST_THE_EDGE) == []
        drawn = page.evaluate("() => [...window.vaeLabCanvasTexts.values()].flat().length")
        assert drawn > 20 or path != "Train", drawn  # (the replay's curves alone write thirty)
        assert page.evaluate(browser.CANVAS_TEXTS_OVERLAPPING) == []
    finally:
        page.set_viewport_size(size)


def test_in_a_narrow_window_a_formula_shrinks_to_fit_its_column_and_not_in_a_wide_one(app):
    """At 800 px, with the sidebar open, the KL page hid the image's total and Home the KL term past the column's
    edge (lesson steps 1 and 7 ask about them): a formula now shrinks until it fits, and one that fits keeps its
    size (the KL page's objective is on three lines, where it fits at 800 px unshrunk). Compare's two columns write theirs on four lines, which fit half of an 800 px page (at 0.55 of its
    size the one-line form could not be read; a β in effect of 64 takes 0.88), and their tables' KL column too (it was cut off there); Home
    writes its two on two lines each, which fit there unshrunk (on one they shrank to 0.55)."""
    _, page = app
    size = page.viewport_size
    measure = """() => Array.from(document.querySelectorAll('.katex-display > .katex')).map(
        k => [k.scrollWidth, k.clientWidth, k.style.fontSize])"""
    tables = """() => Array.from(document.querySelectorAll('[data-testid=stDataFrame] .dvn-scroller')).map(
        s => [s.scrollWidth, s.clientWidth])"""
    try:
        for width in (800, 1400):
            page.set_viewport_size({"width": width, "height": size["height"]})
            for path in ("", "KL_trade-off", "Compare"):  # (B: the widest formula of a shipped model)
                open_page(app, path + ("?b=digits-8d-mean-recon" if path == "Compare" else ""))
                page.wait_for_function("() => window.vaeLabFormulas", timeout=15_000)  # the component is here,
                page.wait_for_timeout(1200)  # and has checked the formulas twice a second since
                formulas = page.evaluate(measure)
                assert len(formulas) >= 2, (path, formulas)
                for wide, room, font in formulas:  # (KaTeX's underbraces run 2 px past any formula)
                    assert wide <= room + 4, (width, path, formulas)
                    if font:  # shrunk only where needed, and never past reading: the KL page's reduction lesson,
                        # and Compare's B at 800 px where it writes digits-8d-mean-recon's β in effect (64 ×, 0.88)
                        assert width == 800 and path in ("KL_trade-off", "Compare") and float(font[:-2]) > 0.85, \
                            formulas
                if path == "KL_trade-off":  # its objective, on three lines, fits unshrunk (on two it was shrunk
                    assert formulas[0][2] == "", formulas  # until the numbers under its braces were 7 px high)
                    assert any(font for _, _, font in formulas) == (width == 800), formulas
                if path == "Compare":
                    columns = page.evaluate(tables)
                    assert len(columns) == 2 and all(wide <= room + 4 for wide, room in columns), (width, columns)
    finally:
        page.set_viewport_size(size)


def test_a_16_d_model_s_posterior_table_shows_every_row_unscrolled(app, mnist_dir):
    """A class adds the KL column up to the total above it: mnist-16d's table showed 10 of its 16 rows and scrolled
    the rest inside itself (a lecturer's review)."""
    url, page = app
    try:
        open_page(app, "KL_trade-off?model=mnist-16d")
        page.locator("[data-testid=stDataFrame]").first.wait_for(timeout=30_000)
        rows, (whole, shown) = page.evaluate("""() => { const s = document.querySelector(
            '[data-testid=stDataFrame] .dvn-scroller'); return [s.closest('[data-testid=stDataFrame]')
            .getBoundingClientRect().height, [s.scrollHeight, s.clientHeight]]; }""")
        assert whole <= shown + 1 and rows >= 17 * 34, (rows, whole, shown)  # the header and 16 rows
    finally:
        open_page(app, "?model=digits-2d")  # the module's other tests read digits-2d
