"""The latent pad page: headless with AppTest (it renders), and in Debian's chromium (the component runs).

In the browser: the JavaScript decoder's float output equals torch's decodes, a drag redraws the image
on animation frames before the mouse is released, the released point reaches the session (and the
sliders page), and the weights are fetched once, never sent in the component's arguments.
A screenshot lands in test-artifacts/screenshots/latent_pad.png.
"""
import os
import re

import numpy as np
import pytest
import torch

import browser
from browser import CHROMIUM, ROOT, SCREENSHOTS, wait_idle
from conftest import mnist_present
from headless import app_test
from ui import state
from vae_core import VAE, Config, load_checkpoint, save_checkpoint
from vae_core.evaluation import decode_images, dimensions_by_kl
from waiting import wait_until

PAGE = "app_pages/latent_pad.py"
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                    reason=f"{CHROMIUM} missing: apt-get install -y chromium")
SAVED = re.compile(r"Saved for the other pages: z = \((.*)\)")
pytestmark = pytest.mark.usefixtures("private_runs")


# ---- headless: AppTest cannot run the component, so only the page around it ----

@pytest.mark.parametrize("model", ["digits-2d", "mnist-16d"])
def test_the_page_renders_without_exceptions(model):
    at = app_test(PAGE, **{state.MODEL: str(ROOT / "models" / model)}).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Latent pad"
    assert len(at.session_state[state.LATENT]) == load_checkpoint(ROOT / "models" / model).config.latent_dim
    assert len(at.selectbox) == (3 if model == "mnist-16d" else 1)  # the picker, and two axes for wide models
    dots = [c.value for c in at.caption if "need not be that dot's label" in c.value]  # (the other 14 are not
    assert len(dots) == (model == "mnist-16d" and mnist_present()), dots                 # the pad's: a dot can mislead)


def test_means_all_under_the_handle_are_said_to_be_there():
    """digits-8d-mean-recon's test means all lie within 0.01 of the origin: its dots hid under the handle, and the
    pad said nothing (the map warns of the same cloud)."""
    for model, told in (("digits-8d-mean-recon", True), ("digits-2d", False)):
        at = app_test(PAGE, **{state.MODEL: str(ROOT / "models" / model)}).run()
        warned = [w.value for w in at.warning if w.value.startswith("All the test images' means lie within")]
        assert not at.exception and len(warned) == told, warned
        if told:
            assert "their dots sit under the handle" in warned[0] and "(0 of 8 units active)" in warned[0]


def test_the_same_dimension_twice_is_refused():
    at = app_test(PAGE, **{state.MODEL: str(ROOT / "models" / "mnist-16d")}).run()
    at.selectbox(key="pad_dim_y").set_value(at.selectbox(key="pad_dim_x").value).run()
    assert not at.exception and "two different dimensions" in at.info[0].value


# ---- in chromium ----

@pytest.fixture(scope="module")
def app(shared_app):
    with browser.page_on(shared_app) as (url, page):
        traffic = {"requests": [], "frames": []}
        page.on("request", lambda r: traffic["requests"].append(r.url))
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: traffic["frames"].append(len(f))))
        yield url, page, traffic


def open_pad(app, model=None, upload=None):
    """The pad page in a fresh session, with a shipped model chosen or a checkpoint uploaded."""
    url, page, _ = app
    browser.open_page(page, url, "Latent_pad", model)
    if upload:
        page.locator("[data-testid='stSidebar'] input[type='file']").set_input_files(str(upload))
    return page


def browser_decodes(page, checkpoint, z) -> np.ndarray:
    _, h, w = checkpoint.config.image_shape
    page.wait_for_function("([d, h]) => { const p = window.vaeLab && window.vaeLab.components.pad;"
                           " return p && p.decoder && p.decoder.header.latent_dim === d"
                           " && p.decoder.header.image_shape[1] === h; }",
                           arg=[checkpoint.config.latent_dim, h], timeout=30_000)
    return np.array(page.evaluate("zs => window.vaeLab.components.pad.decode(zs)", z.tolist())).reshape(len(z), h, w)


def latents(n, dim):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(0)) * 2


@needs_chromium
@pytest.mark.browser
@pytest.mark.parametrize("name", ["digits-2d", "mnist-16d"])
def test_browser_decodes_equal_torch_decodes(app, name):
    page = open_pad(app, model=None if name == "digits-2d" else name)
    checkpoint = load_checkpoint(ROOT / "models" / name)
    z = latents(64, checkpoint.config.latent_dim)
    difference = np.abs(browser_decodes(page, checkpoint, z) - decode_images(checkpoint.model, z).numpy()).max()
    assert difference < 1e-3, difference
    assert page.locator("[data-testid='stException']").count() == 0
    names = [text.split()[0] for text in page.locator("label.slider .name").all_inner_texts()]
    assert names == [f"z{i}" for i in dimensions_by_kl(checkpoint.metrics, checkpoint.config.latent_dim)]


@needs_chromium
@pytest.mark.browser
def test_a_conv_decoder_runs_in_the_browser_too(app, tmp_path):
    model = VAE(Config(dataset="digits", arch="conv", hidden=(32,), latent_dim=3, seed=2))  # untrained is enough
    path = save_checkpoint(model, tmp_path / "conv-3d") / "model.safetensors"
    page = open_pad(app, upload=path)
    checkpoint = load_checkpoint(path)
    z = latents(32, 3)
    difference = np.abs(browser_decodes(page, checkpoint, z) - decode_images(checkpoint.model, z).numpy()).max()
    assert difference < 1e-3, difference


def saved_point(page) -> list[float]:
    text = page.locator("[data-testid='stMain']").get_by_text(SAVED).inner_text()
    return [float(v) for v in SAVED.search(text).group(1).split(",")]


def wait_saved(page, expected, timeout=15.0):
    """Wait until the page's saved point (Python's st.session_state) is expected, to the caption's 2 decimals."""
    wait_until(lambda: saved_point(page) == pytest.approx(expected, abs=0.03), timeout,
               lambda: f"saved point {saved_point(page)}, expected {expected}", interval=0.2)
    wait_idle(page)


@needs_chromium
@pytest.mark.browser
def test_dragging_redraws_every_frame_and_the_release_reaches_the_session(app):
    traffic = app[2]
    traffic["requests"].clear()
    page = open_pad(app)
    browser_decodes(page, load_checkpoint(ROOT / "models" / "digits-2d"), latents(1, 2))
    assert saved_point(page) == [0.0, 0.0]
    box = page.locator("canvas.pad").bounding_box()
    at = lambda x, y: (box["x"] + box["width"] * (x + 4) / 8, box["y"] + box["height"] * (4 - y) / 8)  # noqa: E731
    image = "() => window.vaeLab.components.pad.image.canvas.toDataURL()"
    page.evaluate("() => window.vaeLab.components.pad.resetStats()")
    page.mouse.move(*at(0, 0))
    page.mouse.down()
    seen = set()
    for i in range(1, 31):  # towards the top right, to (2.4, 2.4)
        page.mouse.move(*at(0.08 * i, 0.08 * i))
        page.wait_for_timeout(20)
        seen.add(page.evaluate(image))
    frames = page.evaluate("() => window.vaeLab.components.pad.stats.frames")
    assert frames >= 10 and len(seen) >= 10, (frames, len(seen))  # redrawn while the button is still down
    assert saved_point(page) == [0.0, 0.0]  # nothing reached Python yet
    page.mouse.up()
    wait_saved(page, [2.4, 2.4])
    page.screenshot(path=str(SCREENSHOTS / "latent_pad.png"), full_page=True)

    # One fetch of the weights for the page and all its reruns; the reset's new point reaches the pad without one.
    decoder = page.evaluate("() => window.vaeLab.components.pad.decoderUrl")
    page.get_by_role("button", name="Reset to zero").click()
    wait_saved(page, [0.0, 0.0])
    page.wait_for_function("() => window.vaeLab.components.pad.z.every(v => v === 0)", timeout=10_000)
    assert sum(request.endswith(decoder) for request in traffic["requests"]) == 1

    # The sliders page starts from a released point (client-side navigation keeps the session).
    page.mouse.click(*at(-2, -2))
    wait_saved(page, [-2.0, -2.0])
    page.locator("[data-testid='stSidebar'] a", has_text="Latent sliders").click()
    sliders = page.locator(".latent-sliders input[type='range']")
    sliders.first.wait_for(timeout=30_000)
    wait_idle(page)
    values = [float(v) for v in sliders.evaluate_all("inputs => inputs.map(input => input.value)")]
    assert values == pytest.approx([-2.0, -2.0], abs=0.03)
    assert page.locator("[data-testid='stException']").count() == 0


@needs_chromium
@pytest.mark.browser
def test_the_weights_never_travel_in_the_component_arguments(app):
    traffic = app[2]
    traffic["frames"].clear()
    page = open_pad(app, model="mnist-16d")
    checkpoint = load_checkpoint(ROOT / "models" / "mnist-16d")
    browser_decodes(page, checkpoint, latents(1, 16))
    weights = 4 * sum(p.numel() for p in checkpoint.model.decoder.parameters())
    assert max(traffic["frames"]) < weights / 4, (max(traffic["frames"]), weights)  # about 18 kB against 1.3 MB


@needs_chromium
@pytest.mark.browser
def test_forged_releases_are_refused_with_a_short_notice(app):
    page = open_pad(app)
    browser_decodes(page, load_checkpoint(ROOT / "models" / "digits-2d"), latents(1, 2))
    wait_idle(page)
    before = saved_point(page)
    browser.forge_values(page, "pad", "release", "latent pad")
    assert saved_point(page) == before


@needs_chromium
@pytest.mark.browser
def test_the_pad_has_ticks_with_their_values_and_names_its_axes(app):
    page = open_pad(app, model="mnist-16d")
    checkpoint = load_checkpoint(ROOT / "models" / "mnist-16d")
    browser_decodes(page, checkpoint, latents(1, 16))
    wait_idle(page)
    order = dimensions_by_kl(checkpoint.metrics, 16)
    pad = page.locator("canvas.pad").bounding_box()
    inner = pad["width"] - 2  # inside its 1-pixel border
    values = [str(v) for v in range(-4, 5)]
    x_ticks, y_ticks = page.locator(".pad-frame .x-ticks .axis-label"), page.locator(".pad-frame .y-ticks .axis-label")
    assert x_ticks.all_inner_texts() == values and y_ticks.all_inner_texts() == values
    for v, label in zip(range(-4, 5), x_ticks.all()):  # under the pad, where its value lies on the horizontal axis
        box = label.bounding_box()
        assert abs(box["x"] + box["width"] / 2 - (pad["x"] + 1 + (v + 4) / 8 * inner)) < 1.5
        assert box["y"] >= pad["y"] + pad["height"] - 1
    for v, label in zip(range(-4, 5), y_ticks.all()):  # left of it, upwards
        box = label.bounding_box()
        assert abs(box["y"] + box["height"] / 2 - (pad["y"] + 1 + (4 - v) / 8 * inner)) < 1.5
        assert box["x"] + box["width"] <= pad["x"]
    names = page.locator(".pad-frame .x-name"), page.locator(".pad-frame .y-name")
    assert [n.inner_text() for n in names] == [f"z{order[0]} →", f"z{order[1]} →"]
    page.screenshot(path=str(SCREENSHOTS / "latent_pad-ticks.png"), full_page=True)
