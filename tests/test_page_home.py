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
