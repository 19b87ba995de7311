"""The latent map page, run headless: the chosen image's posterior, the manifold beside the map, and
opening a chosen point in the sliders."""
import pytest

from headless import app_test as page
from headless import ROOT, browser_pictures, click_point, served_latents, sliders
from ui import state
from vae_core import load_checkpoint
from vae_core.checkpoint import write_checkpoint

pytestmark = pytest.mark.usefixtures("private_runs")


def test_map_shows_the_chosen_point_with_its_posterior():
    at = page("app_pages/latent_map.py").run()
    assert len(at.get("plotly_chart")) == 1
    at.session_state["map_chosen"] = (str(ROOT / "models" / "digits-2d"), 5)
    at.run()
    assert not at.exception
    assert "Test image 5" in at.subheader[-1].value
    table = at.dataframe[0].value
    assert list(table.columns) == ["dimension", "mean μ", "std σ"] and len(table) == 2
    assert (table["std σ"] > 0).all()


@pytest.mark.parametrize("customdata", [99999, -1, "abc", [], {"a": 1}, 2.5, True])
def test_a_click_on_no_point_of_the_map_is_refused_with_a_notice(customdata):
    """A selection event comes from the browser: a test index the map never plotted (99999 gave an IndexError, and
    stayed chosen for every rerun) or not a number at all (a ValueError or TypeError) chooses nothing."""
    at = click_point(page("app_pages/latent_map.py").run(), "map_chart", customdata)
    assert not at.exception, at.exception
    assert state.MAP_CHOSEN not in at.session_state and any("not a point of this chart" in t.value for t in at.toast)
    assert click_point(at, "map_chart", 5).session_state[state.MAP_CHOSEN][1] == 5  # a real click still chooses


def test_a_map_choice_does_not_outlive_its_model():
    mnist = str(ROOT / "models" / "mnist-2d")
    at = page("app_pages/latent_map.py", map_chosen=(mnist, 7211)).run()  # chosen on MNIST, now on digits
    assert not at.exception
    assert not any("Test image" in s.value for s in at.subheader)


@pytest.mark.slow
def test_a_wide_model_s_manifold_is_drawn_over_the_map_s_pca_plane(mnist_dir, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(mnist_dir))
    at = page("app_pages/latent_map.py", **{state.MODEL: str(ROOT / "models" / "mnist-16d")}).run()
    assert not at.exception
    assert at.radio(key="map_projection").value == "pca"
    assert any("PCA plane" in c.value for c in at.caption)
    assert not at.toggle and any("ellipses are drawn for 2-D models" in c.value for c in at.caption)  # (the toggle
    assert served_latents(browser_pictures(at)["map_manifold"]).shape == (15 * 15, 16)  # vanished without a word)
    assert len(at.get("plotly_chart")) == 1


def test_the_manifold_beside_a_2d_map_has_the_map_s_axes(tmp_path):
    """The grid must run z0 across and z1 up, as the scatter does, even where z1 carries more KL than z0:
    the top-left tile decodes the point at the top-left of the scatter's plane (low z0, high z1). The model is
    mnist-2d with its two latent dimensions swapped (weights and their per-dimension metrics), so that z1 is
    the stronger whatever the shipped model's balance."""
    shipped = load_checkpoint(ROOT / "models" / "mnist-2d")
    swap = {"mu_head.weight": 0, "mu_head.bias": 0, "logvar_head.weight": 0, "logvar_head.bias": 0,
            "decoder.0.weight": 1}
    tensors = {name: t.flip(swap[name]) if name in swap else t for name, t in shipped.model.state_dict().items()}
    metrics = {**shipped.metrics, **{key: shipped.metrics[key][::-1] for key in ("kl_per_dim", "activity")}}
    write_checkpoint(tmp_path / "swapped", shipped.config, tensors, metrics=metrics)
    assert metrics["kl_per_dim"][1] > metrics["kl_per_dim"][0]
    at = page("app_pages/latent_map.py", **{state.MODEL: str(tmp_path / "swapped")}).run()
    n = at.slider(key="map_grid_size").value
    grid = served_latents(browser_pictures(at)["map_manifold"]).reshape(n, n, 2)
    top_left, top_right, bottom_left = grid[0, 0], grid[0, -1], grid[-1, 0]
    assert top_left[0] < 0 < top_right[0] and top_left[1] == top_right[1]  # z0 grows to the right
    assert top_left[1] > 0 > bottom_left[1] and top_left[0] == bottom_left[0]  # z1 grows upward


def test_a_point_from_the_map_beyond_the_sliders_range_lands_on_their_edge(tmp_path):
    """A posterior mean far out (mu = 9, -7) opened in the sliders is clamped to [-4, 4], not refused."""
    import torch

    from vae_core import VAE, Config, save_checkpoint
    model = VAE(Config(dataset="digits", hidden=(16,), latent_dim=2))
    with torch.no_grad():
        model.mu_head.weight.zero_()
        model.mu_head.bias.copy_(torch.tensor([9.0, -7.0]))
    far = str(save_checkpoint(model, tmp_path / "far"))
    at = page("app_pages/latent_map.py", **{state.MODEL: far, state.MAP_CHOSEN: (far, 3)}).run()
    assert not at.exception
    at.button(key="map_to_sliders").click().run()
    assert not at.exception, at.exception
    assert sliders(at)["z"] == [4.0, -4.0] and at.session_state[state.LATENT] == [4.0, -4.0]
    assert at.number_input(key=state.SLIDERS_IMAGE).value == 3  # the sliders' test image is the one chosen


@pytest.mark.parametrize("model, warned", [("digits-8d-mean-recon", True), ("sweeps/digits/beta-10", True),
                                           ("sweeps/digits/beta-3", False), ("digits-2d", False)])
def test_a_map_of_collapsed_codes_says_its_cloud_is_far_smaller_than_one_sigma(model, warned):
    """digits-8d-mean-recon's map (0 of 8 units active) drew its means, ±0.01 about the origin, to fill the plot:
    a cloud with the 2s on the left and the 4s on the right, read as a latent space that sorts the digits, where
    every posterior is N(0, 1) to within a hundredth."""
    at = page("app_pages/latent_map.py", **{state.MODEL: str(ROOT / "models" / model)}).run()
    assert not at.exception
    said = [w.value for w in at.warning if w.value.startswith("Mind the axes")]
    assert len(said) == warned, said
    if warned:
        assert "0 of 8 units active" in said[0] and "this cloud would be a dot" in said[0]
