"""The interpolation page, run headless: its three strips between two test images."""
import numpy as np
import pytest

from headless import app_test as page
from headless import ROOT, browser_pictures, images, resources_encodings, served_latents

pytestmark = pytest.mark.usefixtures("private_runs")


def test_interpolation_draws_three_strips_that_follow_the_images():
    at = page("app_pages/interpolation.py").run()
    blend, paths = images(at), browser_pictures(at)
    linear, spherical = served_latents(paths["interp_linear"]), served_latents(paths["interp_spherical"])
    mu = resources_encodings(ROOT / "models" / "digits-2d")
    np.testing.assert_allclose(linear[[0, -1]], mu[[0, 1]], atol=1e-6)  # from test image 0 to test image 1
    np.testing.assert_allclose(spherical[[0, -1]], mu[[0, 1]], atol=1e-5)
    assert len(blend) == 1 and len(linear) == 10  # the pixel blend is drawn by the server: it has no latents
    at.number_input(key="interp_to_image").set_value(42).run()
    assert images(at) != blend
    np.testing.assert_allclose(served_latents(browser_pictures(at)["interp_linear"])[-1], mu[42], atol=1e-6)
