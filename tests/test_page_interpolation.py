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


def test_in_two_dimensions_the_caption_says_what_the_paths_do():
    """A walk-through found the 2-D caption saying the two paths "differ little" over strips that went 7,7,7,9,9,9,
    4,6,2,2 and 7,7,9,4,6,6,0,2,2,2: in 2-D the straight path's middle is near the origin, where N(0, I) is densest
    (not untypical, as the caption says), and the round path goes around it through other digits."""
    at = page("app_pages/interpolation.py").run()
    caption = at.caption[0].value
    assert "This model has 2 latent dimensions" in caption and "differ little" not in caption
    assert "straight one near the origin and the round one around it" in caption
    paths = browser_pictures(at)
    linear, spherical = served_latents(paths["interp_linear"]), served_latents(paths["interp_spherical"])
    norms = np.linalg.norm(linear, axis=1)
    assert norms.min() < 0.5 * min(norms[0], norms[-1])  # near the origin: denser under N(0, I) than either end
    assert np.linalg.norm(spherical, axis=1).min() > 2 * norms.min()  # the round path keeps away from it
    assert np.abs(linear - spherical).max() > 0.5  # two different routes
