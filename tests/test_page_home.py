"""The home page, run headless: reconstructions and samples from the prior."""
import numpy as np
import pytest

from headless import app_test as page
from headless import browser_pictures, images, served_latents

pytestmark = pytest.mark.usefixtures("private_runs")


def test_home_shows_reconstructions_and_prior_samples_that_follow_the_seed():
    at = page("app_pages/home.py").run()
    assert any("KL" in latex.value for latex in at.latex)
    reconstructions, prior = images(at), served_latents(browser_pictures(at)["home_prior"])
    assert len(reconstructions) == 1 and prior.shape == (32, 2)
    at.number_input(key="home_seed").set_value(7).run()
    assert images(at) == reconstructions
    assert not np.array_equal(served_latents(browser_pictures(at)["home_prior"]), prior)  # new draws to decode


def test_home_shows_the_running_code_beside_the_formulas_with_a_link_per_term():
    import inspect

    from headless import code_shown
    from vae_core import model, objective

    at = page("app_pages/home.py").run()
    assert not at.exception
    expander = next(e for e in at.expander if e.label == "The code beside the formulas")
    bodies = [element.value for element in expander.get("html")]
    assert len(bodies) == 1
    lines, links = code_shown(bodies[0])
    assert set(links) == {f"#vae-src-{key}" for key in ("mu", "logvar", "z", "decoder", "recon", "kl", "beta")}
    shown = "\n".join(line["text"] for line in lines)
    for function in (model.VAE.encode, model.VAE.reparameterize, model.VAE.decode, objective.kl_per_dim,
                     objective.combine):
        assert inspect.getsource(function).rstrip("\n") in shown
    kl = [line["text"] for line in lines if "kl" in line["terms"]]
    assert any("logvar.exp()" in text for text in kl)


def test_a_binarised_model_s_reconstructions_say_what_it_was_trained_on(mnist_dir, monkeypatch):
    """mnist-2d was trained and scored on binarised pixels, and Home showed grey test images with no word of it."""
    from headless import ROOT
    from ui import state

    monkeypatch.setenv("VAE_DATA_DIR", str(mnist_dir))
    for model, binarised in (("mnist-2d", True), ("mnist-16d", False)):
        at = page("app_pages/home.py", **{state.MODEL: str(ROOT / "models" / model)}).run()
        caption = next(c.value for c in at.caption if c.value.startswith("the first 16 of the 10,000 mnist"))
        assert ("trained and scored on binarised pixels" in caption) == binarised, (model, caption)
