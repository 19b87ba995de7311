"""Links, run headless: a page's view goes into the address and a link opens it in another session;
a garbage link gives notices and the defaults."""
import pytest

from headless import app_test as page
from headless import ROOT, linked_page, resources_encodings
from ui import links, state

pytestmark = pytest.mark.usefixtures("private_runs")


def test_the_map_s_chosen_image_is_in_the_link_and_a_link_chooses_it():
    at = page("app_pages/latent_map.py", **{state.MAP_CHOSEN: (str(ROOT / "models" / "digits-2d"), 17)}).run()
    shown = lambda at: [s.value for s in at.subheader if s.value.startswith("Test image ")]  # noqa: E731
    assert at.query_params["image"] in ("17", ["17"]) and shown(at)[0].startswith("Test image 17 ")
    linked, notices = linked_page("app_pages/latent_map.py", {"image": "42"})
    assert not linked.exception and not notices and shown(linked)[0].startswith("Test image 42 ")
    for bad in ("-1", "2.5", "99999999999999999999"):  # refused, and gone from the address (it stayed: a reload
        refused, notices = linked_page("app_pages/latent_map.py", {"image": bad})  # told it again)
        assert notices and not shown(refused) and "image" not in refused.query_params, (bad, notices)
    linked.toggle(key="map_ellipse").set_value(True).run()  # the ellipses, with their scale said in words
    sigma = resources_encodings(ROOT / "models" / "digits-2d", std=True)[42]
    assert any(f"σ = ({sigma[0]:.3f}, {sigma[1]:.3f})" in c.value for c in linked.caption)
    linked.session_state[state.MAP_CHOSEN] = (None, None)
    assert not linked.run().exception  # the toggle left on with no image chosen


def test_the_map_s_projection_grid_and_ellipses_are_in_the_link_and_a_link_sets_them():
    """A lecturer's link to the t-SNE map of a wider model, or to one image's posterior ellipses on a 7 x 7
    manifold, opened the page's defaults: only the model and the image travelled."""
    wider = {"model": "digits-8d-mean-recon"}
    at, notices = linked_page("app_pages/latent_map.py", {**wider, "projection": "tsne", "grid": "7"})
    assert not at.exception and not notices
    assert at.radio(key="map_projection").value == "tsne" and at.slider(key="map_grid_size").value == 7
    at.slider(key="map_grid_size").set_value(21).run()
    assert at.query_params["grid"] in ("21", ["21"]) and at.query_params["projection"] in ("tsne", ["tsne"])
    at, notices = linked_page("app_pages/latent_map.py", {"model": "digits-2d", "image": "3", "ellipses": "1"})
    assert not notices and at.toggle(key="map_ellipse").value and "ellipses" in at.query_params
    assert any(c.value.startswith("Drawn to scale: this image's posterior") for c in at.caption)
    at.toggle(key="map_ellipse").set_value(False).run()
    assert "ellipses" not in at.query_params
    # a 2-D map has no projection to choose: the parameter leaves without a word; garbage is refused with a notice
    at, notices = linked_page("app_pages/latent_map.py", {"model": "digits-2d", "projection": "tsne"})
    assert not notices and "projection" not in at.query_params
    at, notices = linked_page("app_pages/latent_map.py", {**wider, "projection": "umap", "grid": "500"})
    assert not at.exception and len(notices) == 2 and at.radio(key="map_projection").value == "pca"
    assert "projection='umap' is not one of pca, tsne" in notices[0] + notices[1]
    assert at.slider(key="map_grid_size").value == 15 and at.query_params["grid"] in ("15", ["15"])


def test_the_map_s_image_leaves_the_link_when_another_model_is_chosen():
    """No image was chosen on the new model, but image=5 stayed in the address bar: a reload chose test image 5 on
    it. Likewise the pad's axes, once both name one dimension."""
    at, _ = linked_page("app_pages/latent_map.py", {"model": "digits-2d", "image": "5"})
    assert at.query_params["image"] in ("5", ["5"])
    at.session_state[state.MODEL] = str(ROOT / "models" / "digits-8d-mean-recon")
    at.run()
    assert not at.exception and "image" not in at.query_params
    pad = page("app_pages/latent_pad.py", **{state.MODEL: str(ROOT / "models" / "digits-8d-mean-recon")}).run()
    assert "axes" in pad.query_params
    pad.selectbox(key=state.PAD_AXES[1]).set_value(pad.selectbox(key=state.PAD_AXES[0]).value).run()
    assert not pad.exception and "axes" not in pad.query_params


def test_a_link_carries_the_view_to_another_session():
    model = ROOT / "models" / "sweeps" / "digits" / "beta-1"
    at = page("app_pages/kl_tradeoff.py", **{state.MODEL: str(model)}).run()
    at.number_input(key="tradeoff_image").set_value(7).run()
    at.select_slider(key="tradeoff_beta").set_value(3.0).run()
    link = {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert link["model"] == "sweeps/digits/beta-1" and link["beta"] == "3" and link["image"] == "7"
    assert "z" not in link  # the origin, where a new session starts: not eight zeros in every link
    other, notices = linked_page("app_pages/kl_tradeoff.py", {**link, "z": ",".join(["0.5"] * 8)})  # someone else
    assert not other.exception
    assert other.session_state[state.MODEL] == str(model)
    assert other.number_input(key="tradeoff_image").value == 7 and other.select_slider(key="tradeoff_beta").value == 3.0
    assert other.session_state[state.LATENT] == [0.5] * 8 and not notices


def test_starting_from_a_test_image_puts_the_new_point_in_the_link():
    """The button moves the point before the link is written, as the prior and reset buttons do: a copied link
    or a reload gives the posterior mean, not the point before it."""
    for path, picker, button in (("app_pages/latent_sliders.py", state.SLIDERS_IMAGE, "sliders_from_image"),
                                 ("app_pages/latent_pad.py", "pad_image", "pad_from_image")):
        at, _ = linked_page(path, {"model": "digits-2d", "z": "2,2", "image": "5"})
        assert at.number_input(key=picker).value == 5 and at.session_state[state.LATENT] == [2.0, 2.0]
        at.button(key=button).click().run()
        z = at.session_state[state.LATENT]
        link = at.query_params["z"]
        assert z != [2.0, 2.0] and [float(v) for v in (link[0] if isinstance(link, list) else link).split(",")] == z


def test_a_parameter_given_twice_is_used_and_written_once_with_a_notice():
    """?model=a&model=b: the last is used (with a notice: it was used without a word), and the address bar kept
    both, a link that read either way."""
    at, notices = linked_page("app_pages/latent_pad.py", {"model": ["digits-2d", "mnist-2d"]})
    assert not at.exception and at.session_state[state.MODEL] == str(ROOT / "models" / "mnist-2d")
    assert notices == ["This link gives 'model' 2 times: using the last, 'mnist-2d'."], notices
    assert at.query_params["model"] in ("mnist-2d", ["mnist-2d"]), at.query_params["model"]


def test_a_point_past_the_sliders_ends_is_moved_to_them_with_a_notice():
    at, notices = linked_page("app_pages/latent_pad.py", {"z": "1e6,-2"})
    assert not at.exception and at.session_state[state.LATENT] == [state.RANGE, -2.0]
    assert any("goes past the sliders' ±4: moved to their ends" in n for n in notices), notices
    _, notices = linked_page("app_pages/latent_pad.py", {"z": "4,-4"})
    assert not notices


@pytest.mark.parametrize("axes, told", [("0,2", True), ("-1,0", True), ("99999999999999999999,0", True),
                                         ("0,1", False)])
def test_axes_on_a_model_whose_pad_has_no_choice_of_them_leave_the_link(axes, told):
    """On digits-2d (z0 across, z1 up) a link's axes were ignored without a word and stayed in the address bar."""
    at, notices = linked_page("app_pages/latent_pad.py", {"model": "digits-2d", "axes": axes})
    assert not at.exception, at.exception
    assert "axes" not in at.query_params
    assert any(f"axes='{axes}' do not apply" in n for n in notices) == told, notices


def test_a_wider_model_s_axes_leave_the_link_when_a_2d_model_is_chosen():
    at = page("app_pages/latent_pad.py", **{state.MODEL: str(ROOT / "models" / "mnist-16d")}).run()
    assert "axes" in at.query_params
    at.session_state[state.MODEL] = str(ROOT / "models" / "digits-2d")
    at.run()
    assert not at.exception and "axes" not in at.query_params


def test_a_coordinate_of_minus_zero_is_written_z_0():
    """A point can hold -0.0 (a posterior mean of -0.001 rounded to the sliders' step): the link says 0, as a
    person writes it, never -0."""
    at = page("app_pages/latent_sliders.py", **{state.LATENT: [-0.0, -0.5]}).run()
    link = at.query_params["z"]
    assert (link[0] if isinstance(link, list) else link) == "0,-0.5"


@pytest.mark.parametrize("params", [
    {"model": "../../etc", "z": "abc", "beta": "7.7", "image": "99999"},
    {"model": "no-such-model", "z": "1,2,3", "beta": "nan", "image": "-3"},
    {"z": "inf,1", "axes": "0,0"},
    {"z": "٣,1", "beta": "1_0"},  # (float() reads them as 3 and 10)
])
def test_a_garbage_link_gives_notices_and_the_defaults(params):
    for path in ("app_pages/kl_tradeoff.py", "app_pages/latent_pad.py"):
        at, notices = linked_page(path, params)
        assert not at.exception, at.exception
        assert at.session_state[state.MODEL] == str(ROOT / "models" / "digits-2d")
        assert at.session_state[state.LATENT] == [0.0, 0.0]
        assert notices, "a notice says what in the link was not used"
        options = at.sidebar.selectbox(key="_model_picker").options
        assert len(options) == len(set(options)), options  # the default it fell back to, listed once
        if path.endswith("kl_tradeoff.py"):
            assert at.select_slider(key="tradeoff_beta").value == 1.0 and at.number_input(key="tradeoff_image").value == 0


@pytest.mark.parametrize("ref", ["mnist-2d/model.safetensors", "sweeps/digits/beta-1/model.safetensors",
                                 "digits-2d/config.json"])
def test_a_link_to_a_file_inside_a_model_s_folder_is_refused(ref):
    """A weights file named by a link opened as a model of its own with no metrics: the sidebar lost its score and
    the KL page estimated its likelihood again, both cores for two minutes, from anyone's link."""
    at, notices = linked_page("app_pages/kl_tradeoff.py", {"model": ref})
    assert not at.exception and at.session_state[state.MODEL] == str(ROOT / "models" / "digits-2d")
    assert notices == [f"This link's model '{ref}' is not a model of this server; showing digits-2d instead."], notices
    folder, _ = linked_page("app_pages/kl_tradeoff.py", {"model": ref.rsplit("/", 1)[0]})
    assert folder.session_state[state.MODEL] == str(ROOT / "models" / ref.rsplit("/", 1)[0])


@pytest.mark.parametrize("ref", ["../models/mnist-2d", "sweeps/../mnist-2d", "./mnist-2d",
                                 str(ROOT / "models" / "mnist-2d")])
def test_a_link_names_a_model_by_its_own_name_only(ref):
    """A model reached by another road (../models/mnist-2d, or the server's own path to it) opened without a word,
    where models/mnist-2d was refused: a student could confirm where the app was installed."""
    at, notices = linked_page("app_pages/kl_tradeoff.py", {"model": ref})
    assert not at.exception and at.session_state[state.MODEL] == str(ROOT / "models" / "digits-2d")
    assert notices == [f"This link's model {links.excerpt(ref)} is not a model of this server; showing digits-2d "
                       "instead."], notices
    named, notices = linked_page("app_pages/kl_tradeoff.py", {"model": "mnist-2d/"})  # (a trailing slash is fine)
    assert not notices and named.session_state[state.MODEL] == str(ROOT / "models" / "mnist-2d")


@pytest.mark.parametrize("axes", ["²,3", "1," + "9" * 5000, "٣,1", "01,1"])
def test_axes_that_are_not_plain_digits_are_refused_with_a_notice(axes):
    """'²'.isdigit() is true and int('²') raises, as int() does on 5,000 digits: both gave a ValueError traceback
    for a wider model's pad (an Arabic-Indic ٣ was taken for a 3, and 01,1 for two dimensions)."""
    at, notices = linked_page("app_pages/latent_pad.py", {"model": "digits-8d-mean-recon", "axes": axes})
    assert not at.exception, at.exception
    assert any("are not two different dimensions" in n for n in notices), notices
    assert at.query_params.get("axes") not in (axes, [axes])  # the default's axes written instead


def test_compare_s_b_and_the_interpolation_s_ends_outlast_a_page_switch():
    """Compare's B and both interpolation ends went back to their defaults after a visit to another page (Streamlit
    drops a widget's value when its page is left): a class sent to the sliders and back lost its comparison."""
    models = ROOT / "models"
    at = page("app_pages/compare.py", **{state.MODEL: str(models / "sweeps" / "digits" / "beta-0.1")}).run()
    at.selectbox(key="compare_other").set_value(str(models / "sweeps" / "digits" / "beta-10")).run()
    at.switch_page("app_pages/interpolation.py").run()
    at.number_input(key=f"{state.INTERP_FROM}_image").set_value(17).run()
    at.number_input(key=f"{state.INTERP_TO}_image").set_value(42).run()
    at.slider(key="interp_steps").set_value(7).run()
    at.switch_page("app_pages/latent_sliders.py").run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception and at.selectbox(key="compare_other").value == str(models / "sweeps" / "digits" / "beta-10")
    at.switch_page("app_pages/interpolation.py").run()
    assert (at.number_input(key=f"{state.INTERP_FROM}_image").value,
            at.number_input(key=f"{state.INTERP_TO}_image").value, at.slider(key="interp_steps").value) == (17, 42, 7)


def test_the_origin_leaves_the_link_and_a_point_off_it_comes_back():
    """A 50-D model's link carried z=0,0,... fifty times on every page, Home's and the Beta sweep's among them: the
    origin, where a new session starts anyway, is left out; a point off it is written, and reset takes it out."""
    at = page("app_pages/latent_sliders.py", **{state.MODEL: str(ROOT / "models" / "mnist-50d-binarized")}).run()
    assert not at.exception and "z" not in at.query_params and at.query_params["model"] in ("mnist-50d-binarized",
                                                                                            ["mnist-50d-binarized"])
    at.session_state[state.LATENT] = [0.5] + [0.0] * 49
    link = at.run().query_params["z"]
    assert (link[0] if isinstance(link, list) else link) == ",".join(["0.5"] + ["0"] * 49)
    at.session_state[state.LATENT] = [0.0] * 50
    assert "z" not in at.run().query_params
    other, notices = linked_page("app_pages/latent_sliders.py", {"model": "mnist-50d-binarized"})
    assert not other.exception and not notices and other.session_state[state.LATENT] == [0.0] * 50
