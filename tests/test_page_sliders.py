"""The latent sliders page, run headless: the session's point, its buttons, a wide model's order."""
import pytest

from headless import app_test as page
from headless import ROOT, sliders
from ui import state
from vae_core import load_checkpoint

pytestmark = pytest.mark.usefixtures("private_runs")


def test_the_sliders_get_the_session_s_point_and_its_buttons_move_it():
    at = page("app_pages/latent_sliders.py").run()
    assert sliders(at)["z"] == [0.0, 0.0] and sliders(at)["traversal"]["dims"] == sliders(at)["order"]
    at.number_input(key=state.SLIDERS_IMAGE).set_value(3).run()
    at.button(key="sliders_from_image").click().run()
    from_image = sliders(at)["z"]
    assert from_image != [0.0, 0.0] and at.session_state[state.LATENT] == from_image
    at.button(key="sliders_prior").click().run()
    assert sliders(at)["z"] != from_image
    at.button(key="sliders_reset").click().run()
    assert sliders(at)["z"] == [0.0, 0.0]


def test_wide_model_lists_its_sliders_most_informative_first():
    at = page("app_pages/latent_sliders.py", **{state.MODEL: str(ROOT / "models" / "mnist-16d")})
    at.run()
    if at.warning:  # the sliders page still works from the decoder alone when MNIST is absent
        assert "mnist" in at.warning[0].value
    kl = load_checkpoint(ROOT / "models" / "mnist-16d").metrics["kl_per_dim"]
    order = sliders(at)["order"]
    assert sorted(order) == list(range(16)) and [kl[i] for i in order] == sorted(kl, reverse=True)
    assert sliders(at)["shown"] == 8 and sliders(at)["folded"] == 0


def test_a_model_wider_than_the_traversal_rows_says_how_many_are_left_out():
    """mnist-50d-binarized showed 16 traversal rows, and nothing said its other 34 dimensions had none."""
    wide = ROOT / "models" / "mnist-50d-binarized"
    at = page("app_pages/latent_sliders.py", **{state.MODEL: str(wide)}).run()
    kl = load_checkpoint(wide).metrics["kl_per_dim"]
    rest = sum(sorted(kl, reverse=True)[16:])
    told = [c.value for c in at.caption if c.value.startswith("Traversals")]
    assert not at.exception and told == [f"Traversals (and the animation below) are drawn for the 16 dimensions of "
                                          f"most test KL; the other 34 carry less, with {rest:.2g} nats of test KL in "
                                          "all."], told
    assert len(at.selectbox(key=state.SLIDERS_GIF_DIM).options) == 16
    narrow = page("app_pages/latent_sliders.py", **{state.MODEL: str(ROOT / "models" / "mnist-16d")}).run()
    assert not [c for c in narrow.caption if c.value.startswith("Traversals")]


def test_after_a_model_switch_the_gif_picker_moves_to_the_new_model_s_most_informative_dimension():
    """z1 chosen under digits-2d is also a dimension of digits-8d-mean-recon, but not its most informative: the
    picker must not keep it (it did, and the GIF animated a lesser dimension)."""
    other = ROOT / "models" / "digits-8d-mean-recon"
    kl = load_checkpoint(other).metrics["kl_per_dim"]
    best = max(range(len(kl)), key=kl.__getitem__)
    at = page("app_pages/latent_sliders.py").run()
    assert at.selectbox(key=state.SLIDERS_GIF_DIM).value == sliders(at)["order"][0]
    at.selectbox(key=state.SLIDERS_GIF_DIM).set_value(1).run()
    assert at.selectbox(key=state.SLIDERS_GIF_DIM).value == 1 != best
    at.sidebar.selectbox(key=state.MODEL_PICKER).set_value(str(other)).run()
    assert at.session_state[state.MODEL] == str(other)
    assert at.selectbox(key=state.SLIDERS_GIF_DIM).value == best == sliders(at)["order"][0]
    at.selectbox(key=state.SLIDERS_GIF_DIM).set_value(1).run()  # a choice made for this model stays
    assert at.selectbox(key=state.SLIDERS_GIF_DIM).value == 1
