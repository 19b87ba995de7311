"""The your-digit page, run headless: a drawing placed, scored and sent to the other pages."""
import json

import pytest

from headless import app_test as page
from headless import a_drawing, browser_pictures, images, plotly_array
from ui import state

pytestmark = pytest.mark.usefixtures("private_runs")


def test_your_digit_is_placed_scored_and_starts_the_other_pages():
    import base64

    assert "Draw a digit" in page("app_pages/your_digit.py").run().info[0].value  # nothing drawn yet
    drawn = "data:image/png;base64," + base64.b64encode(a_drawing()).decode()
    at = page("app_pages/your_digit.py", digit_pad={"png": drawn}).run()  # the pad's state: a stroke was drawn
    assert not at.exception, at.exception
    assert len(images(at)) == 2  # what the model sees, and its nearest test images
    assert any("nats" in latex.value for latex in at.latex) and "digit_recon" in browser_pictures(at)
    traces = [t.get("name") for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert "your digit" in traces and "1 σ" in traces and "2 σ" in traces
    at.button(key="digit_to_sliders").click().run()
    assert not at.exception and at.session_state[state.LATENT] != [0.0, 0.0]


def test_a_kept_drawing_is_shown_and_marked_on_the_map_until_it_is_forgotten():
    """"Keep it, draw a second one" left no sign of the kept drawing: a blank pad and the first visit's prompt."""
    import base64

    drawn = "data:image/png;base64," + base64.b64encode(a_drawing()).decode()
    at = page("app_pages/your_digit.py", digit_pad={"png": drawn}).run()
    at.button(key="digit_keep").click().run()
    assert not at.exception and at.session_state[state.KEPT_DRAWING] == a_drawing()
    assert len(images(at)) == 3  # the kept one too, beside the pad
    assert any("your kept drawing" in c.value for c in at.caption)
    traces = [t.get("name") for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert "your kept drawing" in traces and "your digit" in traces
    assert [b.label for b in at.button if b.key == "digit_between"] == ["Between your two drawings"]
    at.button(key="digit_forget").click().run()
    assert state.KEPT_DRAWING not in at.session_state and len(images(at)) == 2


def test_where_a_drawing_s_ellipses_would_hide_under_its_star_the_caption_says_so(mnist_dir, monkeypatch):
    """On mnist-2d a drawing's posterior has σ of 0.02 to 0.04: its ellipses, 6 px across, lay under the 18 px star
    while the caption promised them. The caption now gives σ and says where they are; on digits-2d, whose
    posteriors are wide, it promises them as before."""
    import base64

    import numpy as np

    from headless import ROOT
    from ui import charts

    monkeypatch.setenv("VAE_DATA_DIR", str(mnist_dir))
    drawn = "data:image/png;base64," + base64.b64encode(a_drawing()).decode()
    for model, hidden in (("mnist-2d", True), ("digits-2d", False)):
        at = page("app_pages/your_digit.py", digit_pad={"png": drawn}, **{state.MODEL: str(ROOT / "models" / model)})
        at.run()
        spec = json.loads(at.get("plotly_chart")[0].proto.spec)
        xy = {t.get("name"): np.stack([plotly_array(t["x"]), plotly_array(t["y"])], axis=1) for t in spec["data"]}
        two_sigma = np.linalg.norm(xy["2 σ"] - xy["your digit"][0], axis=1).max()  # the 2 σ ellipse's half-length
        points = np.concatenate([xy[str(k)] for k in range(10)])  # the test images' posterior means
        pixels = two_sigma * charts.MAP_PX / np.ptp(points, axis=0).max()
        caption = next(c.value for c in at.caption if c.value.startswith("The star is its posterior mean"))
        assert ("both lie under the star" in caption) == hidden == (pixels < charts.STAR_PX / 2), (model, pixels)
        if hidden:
            assert f"σ = {two_sigma / 2:.2g}" in caption, caption



def test_a_drawing_on_a_model_averaging_its_reconstruction_is_scored_at_the_beta_it_trains_as():
    """On digits-8d-mean-recon the drawing's cost read "+ 1 × KL": averaged over 64 pixels, the model pays 64 nats
    per nat of KL on the summed objective written there (Compare's plane says "β=64 in effect")."""
    import base64

    from headless import ROOT

    drawn = "data:image/png;base64," + base64.b64encode(a_drawing()).decode()
    at = page("app_pages/your_digit.py", digit_pad={"png": drawn},
              **{state.MODEL: str(ROOT / "models" / "digits-8d-mean-recon")}).run()
    assert not at.exception, at.exception
    [formula] = [latex.value for latex in at.latex if "nats" in latex.value]
    assert "64 \\times" in formula, formula
    assert any(c.value.startswith("β = 64: trained with β = 1") for c in at.caption)
