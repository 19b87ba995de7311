"""The compare page, run headless: two models on the same point, or why there is none."""
import pytest

from headless import app_test as page
from headless import ROOT, a_drawing, browser_pictures, linked_page, served_latents
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
    assert len(at.get("plotly_chart")) == 2  # a rate-distortion plane each: nats of digits are not nats of MNIST


def test_two_models_with_unequal_latent_sizes_say_why_there_is_no_same_point():
    at = page("app_pages/compare.py").run()
    at.selectbox(key="compare_other").set_value(str(ROOT / "models" / "digits-8d-mean-recon")).run()
    assert not at.exception
    assert at.radio(key="compare_input").value == "a test image"
    assert "2 dimensions and B's 8" in at.info[0].value
    # each column headed by the model's name, its details below (the whole label filled eight heading lines at 800 px)
    assert [h.value for h in at.subheader] == ["A: digits-2d", "B: digits-8d-mean-recon"]
    assert any(c.value.startswith("digits · 8-D · β=1 (reconstruction averaged over 64 pixels)") for c in at.caption)
    assert {"compare_recon_A", "compare_recon_B"} <= set(browser_pictures(at))
    assert "compare_point_A" not in browser_pictures(at)


def test_b_is_by_default_a_model_of_a_s_data_and_latent_size():
    """B was the first other model, digits-2d: beside any MNIST model the page opened on "no test image fits both"
    and "no same point". It is now one of A's dataset, of A's latent size where there is one, and of those a
    plain one (summed, β = 1) where there is one: digits-2d's B was the averaged-reconstruction model."""
    models = ROOT / "models"
    for a, b in (("digits-8d-mean-recon", "sweeps/digits/beta-1"), ("mnist-16d", "sweeps/mnist/beta-1"),
                 ("mnist-2d", "mnist-16d"), ("digits-2d", "sweeps/digits/beta-1"),
                 ("sweeps/digits/beta-1", "sweeps/digits/beta-0.1")):
        at = page("app_pages/compare.py", **{state.MODEL: str(models / a)}).run()
        assert not at.exception and at.selectbox(key="compare_other").value == str(models / b), a


def test_b_is_in_the_link_and_a_link_sets_it():
    """A reload lost B, and a lecturer could not hand out "β = 0.1 against β = 10" as a link."""
    models = ROOT / "models"
    at = page("app_pages/compare.py", **{state.MODEL: str(models / "sweeps" / "digits" / "beta-0.1")}).run()
    at.selectbox(key="compare_other").set_value(str(models / "sweeps" / "digits" / "beta-10")).run()
    link = {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert link["b"] == "sweeps/digits/beta-10"
    other, notices = linked_page("app_pages/compare.py", link)
    assert not other.exception and not notices
    assert other.selectbox(key="compare_other").value == str(models / "sweeps" / "digits" / "beta-10")
    assert [h.value for h in other.subheader] == ["A: digits sweep, β=0.1", "B: digits sweep, β=10"]
    other.run()  # (kept on the next rerun)
    assert other.selectbox(key="compare_other").value == str(models / "sweeps" / "digits" / "beta-10")
    for b, told in (("../../etc", "This link's B: model '../../etc' is not a model of this server; B is another."),
                    ("sweeps/digits/beta-0.1", "This link's B, 'sweeps/digits/beta-0.1', is A itself; B is another.")):
        refused, notices = linked_page("app_pages/compare.py", {**link, "b": b})
        assert not refused.exception and notices == [told], notices
        assert refused.selectbox(key="compare_other").value == str(models / "sweeps" / "digits" / "beta-1")


def test_a_model_trained_at_another_beta_shows_its_elbo_beside_its_objective():
    """β = 10's panel read "L(x) = 118.85 + 10 × 3.356 = 152.41" beside β = 1's "82.52": students compared the two
    sums. A model whose β is not 1 now also gives its negative ELBO for the input, which compares."""
    import re

    models = ROOT / "models" / "sweeps" / "digits"
    at = page("app_pages/compare.py", **{state.MODEL: str(models / "beta-1")}).run()
    at.selectbox(key="compare_other").set_value(str(models / "beta-10")).run()
    elbo = [c.value for c in at.caption if c.value.startswith("Its negative ELBO for this input")]
    assert not at.exception and len(elbo) == 1 and "what β = 10 trained it to lower" in elbo[0], elbo
    recon, kl, total = (float(v) for v in re.search(r": ([\d.]+) \+ ([\d.]+) = ([\d.]+) nats", elbo[0]).groups())
    assert abs(recon + kl - total) < 0.011
    objective = next(x.value for x in at.latex if "10 \\times" in x.value)  # B's: the same reconstruction
    assert f"{recon:.2f} + 10 \\times" in objective, objective


def _planes(at) -> dict:
    import json
    return {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart") if "compare_plane" in c.proto.id}


def _models_on(plane) -> list[str]:
    return [t["name"] for t in plane["data"] if t.get("showlegend") is not False]


@pytest.mark.parametrize("other, apart", [
    ("digits-8d-mean-recon", False),   # the same 64 grey pixels: one plane
    ("mnist-2d", True),                # 784 binarised MNIST pixels against 64 grey digits pixels
])
def test_models_whose_nats_measure_different_data_get_a_plane_each(other, apart):
    at = page("app_pages/compare.py", **{state.DRAWING: a_drawing()}).run()
    at.selectbox(key="compare_other").set_value(str(ROOT / "models" / other)).run()
    assert not at.exception
    planes = list(_planes(at).values())
    if apart:
        assert [_models_on(p) for p in planes] == [["A"], ["B"]]
        assert any("a nat of digits, 64 grey pixels" in c.value and "is not a nat of mnist, 784 binarised pixels"
                   in c.value for c in at.caption)
    else:
        assert [_models_on(p) for p in planes] == [["A", "B"]]


def test_binarised_and_grey_mnist_models_are_not_on_one_plane():
    at = page("app_pages/compare.py", **{state.MODEL: str(ROOT / "models" / "mnist-2d")}).run()
    at.selectbox(key="compare_other").set_value(str(ROOT / "models" / "mnist-16d")).run()
    assert not at.exception
    assert [_models_on(p) for p in _planes(at).values()] == [["A"], ["B"]]


def test_the_input_is_shown_as_large_as_the_reconstructions():
    """The input was a 56 px preview beside reconstructions 160 px wide: now each model's input is drawn at its
    reconstruction's size. The browser draws that one 200 px wide at a whole scale, with no border around a picture
    alone (a 1-pixel border, 20 px at that scale, put the reconstruction 20 px below the input): 8 digits pixels in
    200 px make 25 px a pixel, 200 px an image."""
    import re
    at = page("app_pages/compare.py").run()
    at.selectbox(key="compare_other").set_value(str(ROOT / "models" / "digits-8d-mean-recon")).run()
    grids = [browser_pictures(at)[f"compare_recon_{name}"] for name in "AB"]
    inputs = [int(re.search(r'width="(\d+)"', h.proto.body).group(1)) for h in at.get("html")
              if 'alt="the input' in h.proto.body]
    assert [g["padding"] for g in grids] == [0, 0]
    assert [g["width"] // (g["nrow"] * (8 + g["padding"]) + g["padding"]) * 8 for g in grids] == inputs == [200, 200]


def test_the_shipped_sweeps_members_can_be_b_without_being_opened_first():
    """β = 0.1 against β = 10, the trade-off side by side: they were offered only once opened on the Beta sweep page."""
    at = page("app_pages/compare.py", **{state.MODEL: str(ROOT / "models" / "sweeps" / "digits" / "beta-0.1")}).run()
    box = at.selectbox(key="compare_other")
    high = str(ROOT / "models" / "sweeps" / "digits" / "beta-10")
    labels = [option.split(" · ")[0] for option in box.options]
    assert "digits sweep, β=10" in labels and "mnist sweep, β=1" in labels
    assert "digits sweep, β=0.1" not in labels and len(labels) == len(set(labels))  # not A itself; each once
    box.set_value(high).run()
    assert not at.exception, at.exception
    assert [h.value for h in at.subheader] == ["A: digits sweep, β=0.1", "B: digits sweep, β=10"]


def test_a_plane_each_keeps_a_blue_and_b_orange_as_on_one_plane():
    """Apart on two planes (digits against MNIST) A and B were both drawn blue, each its plane's first series, where
    on one plane B is orange."""
    at = page("app_pages/compare.py", **{state.DRAWING: a_drawing()}).run()
    at.selectbox(key="compare_other").set_value(str(ROOT / "models" / "mnist-2d")).run()
    colours = {t["name"]: t["marker"]["color"] for plane in _planes(at).values() for t in plane["data"]
               if t.get("showlegend") is not False}
    assert colours == {"A": "#1f77b4", "B": "#ff7f0e"}


def test_a_model_averaging_its_reconstruction_is_scored_at_the_beta_it_trains_as():
    """digits-8d-mean-recon's breakdown wrote "27.80 + 1 × 0.00" beside a plane that labels it "β=64 in effect": on
    the summed objective written there it pays 64 nats per nat of KL. It writes 64 now, and says why."""
    at = page("app_pages/compare.py").run()
    at.selectbox(key="compare_other").set_value(str(ROOT / "models" / "digits-8d-mean-recon")).run()
    assert not at.exception
    formulas = [latex.value for latex in at.latex if "nats" in latex.value]
    assert len(formulas) == 2 and "+ 1 \\times" in formulas[0] and "+ 64 \\times" in formulas[1], formulas
    assert sum("β = 64: trained with β = 1 on the reconstruction averaged over its 64 pixels" in c.value
               for c in at.caption) == 1
