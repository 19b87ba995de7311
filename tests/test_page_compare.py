"""The compare page, run headless: two models on the same point, or why there is none."""
import pytest

from headless import app_test as page
from headless import ROOT, a_drawing, browser_pictures, served_latents
from ui import state

pytestmark = pytest.mark.usefixtures("private_runs")


def test_two_models_with_equal_latent_sizes_decode_the_same_point():
    at = page("app_pages/compare.py", **{state.DRAWING: a_drawing()}).run()
    at.selectbox(key="compare_other").set_value(str(ROOT / "models" / "mnist-2d")).run()
    assert not at.exception
    assert at.radio(key="compare_input").options == ["your drawing"]  # digits and MNIST share no test image
    pictures = browser_pictures(at)
    assert {"compare_recon_A", "compare_recon_B", "compare_point_A", "compare_point_B"} <= set(pictures)
    assert served_latents(pictures["compare_point_A"]).tolist() == served_latents(pictures["compare_point_B"]).tolist()
    assert len([latex for latex in at.latex if "nats" in latex.value]) == 2  # both objective breakdowns
    assert len(at.get("plotly_chart")) == 1  # both on the rate-distortion plane


def test_two_models_with_unequal_latent_sizes_say_why_there_is_no_same_point():
    at = page("app_pages/compare.py").run()
    at.selectbox(key="compare_other").set_value(str(ROOT / "models" / "digits-8d-mean-recon")).run()
    assert not at.exception
    assert at.radio(key="compare_input").value == "a test image"
    assert "2 dimensions and B's 8" in at.info[0].value
    assert {"compare_recon_A", "compare_recon_B"} <= set(browser_pictures(at))
    assert "compare_point_A" not in browser_pictures(at)
