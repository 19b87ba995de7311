"""The interpolation page, run headless: its three strips between two test images."""
import numpy as np
import pytest

from headless import app_test as page
from headless import ROOT, browser_pictures, images, linked_page, resources_encodings, served_latents

pytestmark = pytest.mark.usefixtures("private_runs")


def test_interpolation_draws_three_strips_that_follow_the_images():
    at = page("app_pages/interpolation.py").run()
    blend, paths = images(at), browser_pictures(at)
    linear, spherical = served_latents(paths["interp_linear"]), served_latents(paths["interp_spherical"])
    mu = resources_encodings(ROOT / "models" / "digits-2d")
    np.testing.assert_allclose(linear[[0, -1]], mu[[0, 1]], atol=1e-6)  # from test image 0 to test image 1
    np.testing.assert_allclose(spherical[[0, -1]], mu[[0, 1]], atol=1e-5)
    assert len(blend) == 1 and len(linear) == 11  # the pixel blend is drawn by the server: it has no latents
    at.number_input(key="interp_to_image").set_value(42).run()
    assert images(at) != blend
    np.testing.assert_allclose(served_latents(browser_pictures(at)["interp_linear"])[-1], mu[42], atol=1e-6)


def test_in_two_dimensions_the_caption_says_what_the_paths_do():
    """A walk-through found the 2-D caption saying the two paths "differ little" over strips that went 7,7,7,9,9,9,
    4,6,2,2 and 7,7,9,4,6,6,0,2,2,2: in 2-D the straight path's middle is near the origin, where N(0, I) is densest
    (not untypical, as the caption says), and the round path goes around it through other digits."""
    from ui import state

    at = page("app_pages/interpolation.py").run()
    caption = at.caption[0].value
    assert "This model has 2 latent dimensions" in caption and "differ little" not in caption
    # one account of the paths: not the shell's first, taken back in a parenthesis (above a plot without a dip)
    assert "mass lies near the sphere" not in caption
    wide = page("app_pages/interpolation.py", **{state.MODEL: str(ROOT / "models" / "mnist-16d")}).run()
    wide = wide.caption[0].value
    assert "in 16 dimensions almost all of N(0, I)'s mass lies near the sphere of radius √16" in wide
    assert "too few for a shell" not in wide
    said = next(c.value for c in at.caption if c.value.startswith("Seen from the origin"))
    assert "the straight one nearer the origin and the round one around it, so they decode differently" in said
    paths = browser_pictures(at)
    linear, spherical = served_latents(paths["interp_linear"]), served_latents(paths["interp_spherical"])
    norms = np.linalg.norm(linear, axis=1)
    assert norms.min() < 0.5 * min(norms[0], norms[-1])  # near the origin: denser under N(0, I) than either end
    assert np.linalg.norm(spherical, axis=1).min() > 2 * norms.min()  # the round path keeps away from it
    gap = np.linalg.norm(linear - spherical, axis=1).max()
    assert gap > 0.5 and f"at most {gap:.2f} apart" in said  # two different routes, as said


def test_ends_that_point_the_same_way_are_said_to_give_paths_that_coincide():
    """Between a drawn 4 and 9 on mnist-2d (codes of norm 0.4 and 1.08, pointing the same way) the two strips were
    the same, under a caption that said "the two paths still decode differently"."""
    from ui import state

    at = page("app_pages/interpolation.py").run()

    at.session_state[state.LATENT] = [0.3, 0.2]
    at.radio(key=state.INTERP_FROM).set_value("the current point").run()
    mu = resources_encodings(ROOT / "models" / "digits-2d")
    same_way = next(i for i, m in enumerate(mu) if np.linalg.norm(m) > 1.5 and
                    np.dot(m, [0.3, 0.2]) / np.linalg.norm(m) / np.linalg.norm([0.3, 0.2]) > 0.999)
    at.number_input(key="interp_to_image").set_value(same_way).run()
    said = next(c.value for c in at.caption if c.value.startswith("Seen from the origin"))
    assert "nearly coincide and decode alike" in said, said
    paths = browser_pictures(at)
    linear, spherical = served_latents(paths["interp_linear"]), served_latents(paths["interp_spherical"])
    assert np.abs(linear - spherical).max() < 0.25
    assert "the sliders' and the pad's point: z0 = 0.30, z1 = 0.20" in [c.value for c in at.caption]


def test_the_current_point_is_shown_by_the_coordinates_it_sets():
    """On mnist-16d the caption showed the first 6 of 16 coordinates, all 0, where the pad had set z7 and z8 (here an
    8-D digits model, whose test images are always here)."""
    from ui import state

    point = [0.0] * 8
    point[6], point[7] = 2.01, -1.51
    at = page("app_pages/interpolation.py", **{state.MODEL: str(ROOT / "models" / "digits-8d-mean-recon")})
    at.session_state[state.LATENT] = point
    at.run()
    at.radio(key=state.INTERP_FROM).set_value("the current point").run()
    assert not at.exception, at.exception
    assert ("the sliders' and the pad's point: z6 = 2.01, z7 = -1.51, the other 6 at 0"
            in [c.value for c in at.caption]), [c.value for c in at.caption]


def test_both_ends_test_images_are_in_the_link():
    """The link held the From image only: a reload, or a link handed to a class, went to test image 1."""
    from ui import state

    at, notices = linked_page("app_pages/interpolation.py", {"model": "digits-2d", "image": "7", "to": "42"})
    assert not at.exception and not notices
    assert (at.number_input(key=f"{state.INTERP_FROM}_image").value,
            at.number_input(key=f"{state.INTERP_TO}_image").value) == (7, 42)
    at.number_input(key=f"{state.INTERP_TO}_image").set_value(43).run()
    assert at.query_params["to"] in ("43", ["43"]) and at.query_params["image"] in ("7", ["7"])
    at.radio(key=state.INTERP_TO).set_value("the current point").run()
    assert not at.exception and "to" not in at.query_params  # (no test image at that end)
    refused, notices = linked_page("app_pages/interpolation.py", {"model": "digits-2d", "to": "99999"})
    assert not refused.exception and any("to='99999' is not a whole number from 0 to" in n for n in notices), notices
    assert refused.number_input(key=f"{state.INTERP_TO}_image").value == 1


def test_ends_inside_the_prior_s_shell_are_said_to_be_posterior_means():
    """On a 50-D model both ends lay at |z| of 3 to 4, far inside the shell at √50 that the page's text speaks of,
    and nothing said why: each end is a posterior mean, without its spread, and collapsed units add nothing."""
    import re

    from ui import state

    model = ROOT / "models" / "digits-8d-mean-recon"  # (all 8 units collapsed)
    at = page("app_pages/interpolation.py", **{state.MODEL: str(model)}).run()
    told = [c.value for c in at.caption if c.value.startswith("These ends lie at")]
    assert not at.exception and len(told) == 1, told
    mu = resources_encodings(model)
    ends = re.search(r"\|z\| = ([\d.]+) and ([\d.]+), inside the prior's shell at √8 = 2.83", told[0])
    assert ends and [float(v) for v in ends.groups()] == [round(float(np.linalg.norm(mu[i])), 2) for i in (0, 1)]
    assert "8 of this model's 8 units are collapsed" in told[0]
    at.radio(key=state.INTERP_TO).set_value("the current point").run()  # (not a posterior mean)
    assert not [c for c in at.caption if c.value.startswith("These ends lie at")]


def test_ends_encoded_almost_at_one_point_are_said_to_decode_alike():
    """A drawn 4 and 9 on mnist-2d, both encoded among the 9s, gave two strips of nines under a caption that said
    only that the paths were "at most 0.00 apart"."""
    mu = resources_encodings(ROOT / "models" / "digits-2d")
    near = next(j for j in range(1, len(mu)) if 0.01 < np.linalg.norm(mu[j] - mu[0]) < 0.1)
    at = page("app_pages/interpolation.py").run()
    at.number_input(key="interp_to_image").set_value(near).run()
    apart = np.linalg.norm(mu[near] - mu[0])
    assert f"The two ends are only {apart:.2g} apart in the latent space" in " ".join(c.value for c in at.caption)
    said = next(c.value for c in at.caption if c.value.startswith("Seen from the origin"))
    assert "at most 0.00 apart" not in said, said
    at.number_input(key="interp_to_image").set_value(0).run()
    assert "Both ends are one point: every step decodes the same image." in [c.value for c in at.caption]
    at.number_input(key="interp_to_image").set_value(1).run()  # far apart: nothing said
    assert not any("apart in the latent space" in c.value or "one point" in c.value for c in at.caption)
