"""Every page, run headless with AppTest against the shipped models and the bundled digits."""
import json
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import app_test as page
from conftest import browser_pictures, served_latents
from ui import navigation, state
from vae_core import load_checkpoint
from vae_core.checkpoint import write_checkpoint

ROOT = Path(__file__).resolve().parent.parent
PAGES = [p.script for p in navigation.PAGES]


def images(at):
    return [url for element in at.get("image") for url in element.value]  # URLs are hashes of the PNG bytes


@pytest.fixture(autouse=True)
def private_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_RUNS_DIR", str(tmp_path / "runs"))


@pytest.mark.parametrize("path", PAGES)
def test_every_page_runs_without_exceptions(path):
    at = page(path).run()
    assert not at.exception, at.exception
    assert at.title, "every page has a title"
    assert at.sidebar.selectbox(key="_model_picker").value.endswith("digits-2d")


def test_the_sidebar_picker_offers_the_shipped_models():
    at = page("app_pages/home.py").run()
    picker = at.sidebar.selectbox(key="_model_picker")
    labels = [picker.format_func(option) for option in picker.options]
    assert picker.value.endswith("digits-2d") and "digits-2d · digits · z=2 · β=1" in picker.format_func(picker.value)
    assert any(label.startswith("mnist-16d · mnist · z=16") for label in labels)
    assert "nats" in picker.format_func(picker.value)


def test_home_shows_reconstructions_and_prior_samples_that_follow_the_seed():
    at = page("app_pages/home.py").run()
    assert any("KL" in latex.value for latex in at.latex)
    reconstructions, prior = images(at), served_latents(browser_pictures(at)["home_prior"])
    assert len(reconstructions) == 1 and prior.shape == (32, 2)
    at.number_input(key="home_seed").set_value(7).run()
    assert images(at) == reconstructions
    assert not np.array_equal(served_latents(browser_pictures(at)["home_prior"]), prior)  # new draws to decode


def sliders(at) -> dict:
    return browser_pictures(at)["sliders"]


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


def test_map_shows_the_chosen_point_with_its_posterior():
    at = page("app_pages/latent_map.py").run()
    assert len(at.get("plotly_chart")) == 1
    at.session_state["map_chosen"] = (str(ROOT / "models" / "digits-2d"), 5)
    at.run()
    assert not at.exception
    assert "Test image 5" in at.subheader[-1].value
    table = at.dataframe[0].value
    assert list(table.columns) == ["dimension", "posterior mean μ", "posterior std σ"] and len(table) == 2
    assert (table["posterior std σ"] > 0).all()


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
    assert served_latents(browser_pictures(at)["map_manifold"]).shape == (15 * 15, 16)
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


def resources_encodings(path, std=False):
    """The posterior means (or deviations) of the digits test set under the model at path."""
    from vae_core import load_dataset
    from vae_core.evaluation import encode_dataset
    return encode_dataset(load_checkpoint(path).model, load_dataset("digits").test_x)[int(std)].numpy()


def test_training_from_the_page_saves_a_model_and_lists_it(tmp_path):
    at = page("app_pages/train.py").run()
    at.number_input(key="train_epochs").set_value(2)
    at.text_input(key="train_hidden").set_value("32")
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    job = at.session_state[state.JOB]
    job.join(timeout=60)
    assert job.state == "done", job.message
    at.run()
    assert "saved" in at.success[0].value
    assert str(job.checkpoint) in at.session_state[state.MY_MODELS]
    assert at.session_state[state.MODEL] == str(job.checkpoint)
    assert Path(job.checkpoint, "model.safetensors").exists() and str(tmp_path / "runs") in str(job.checkpoint)


def test_bad_hidden_sizes_are_refused_with_a_message():
    at = page("app_pages/train.py").run()
    at.text_input(key="train_hidden").set_value("12a")
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    assert "hidden sizes must be comma-separated integers like 400 or 512,256, got '12a'" in at.error[0].value
    at.text_input(key="train_hidden").set_value("0")
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    assert "hidden sizes must be one or more positive integers" in at.error[0].value
    assert state.JOB not in at.session_state


def _total_from_latex(at) -> float:
    import re
    return float(re.search(r"\\mathbf\{([\d.]+)\}", at.latex[0].value).group(1))


def test_trade_off_page_recomputes_the_total_when_beta_changes():
    at = page("app_pages/kl_tradeoff.py").run()
    assert not at.exception
    at.select_slider(key="tradeoff_beta").set_value(1.0).run()
    at_one = _total_from_latex(at)
    at.select_slider(key="tradeoff_beta").set_value(10.0).run()
    at_ten = _total_from_latex(at)
    kl = at.dataframe[0].value["KL, nats"].sum()
    assert at_ten - at_one == pytest.approx(9 * kl, abs=0.02)
    assert len(at.get("plotly_chart")) >= 3  # KL bars, reparameterisation cloud, histograms


def _figure(at, key):
    import json
    chart = next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id)
    return json.loads(chart.proto.spec)


def test_beta_sweep_page_plots_one_point_per_shipped_beta_and_runs_a_sweep():
    at = page("app_pages/beta_sweep.py").run()
    assert not at.exception
    shipped = next(t for t in _figure(at, "sweep_plane")["data"] if t.get("name") == "digits (shipped)")
    assert [t.split("=")[1] for t in shipped["text"]] == ["0.1", "0.3", "1", "3", "10"]
    assert shipped["x"] == sorted(shipped["x"], reverse=True)  # rate falls as beta grows
    at.session_state[state.SWEEP_CHOSEN] = shipped["customdata"][-1]
    at.run()
    assert "β = 10" in at.subheader[0].value
    at.multiselect(key="sweep_betas").set_value([0.3, 3.0])
    at.number_input(key="sweep_epochs").set_value(2)
    at.button(key="FormSubmitter:sweep_form-Run the sweep").click().run()
    at.session_state[state.SWEEP].join(timeout=60)
    at.run()
    mine = next(t for t in _figure(at, "sweep_plane")["data"] if t.get("name") == "your sweep")
    assert len(mine["x"]) == 2


def test_warm_up_page_s_defaults_show_the_difference_it_teaches():
    """With the page's own defaults the three runs end with different numbers of active units: plain fewest,
    warm-up more, free bits all of them."""
    at = page("app_pages/warmup_free_bits.py").run()
    at.button(key="warmup_run").click().run()
    job = at.session_state[state.COMPARE]
    at.run()
    assert all(s.startswith(("queued", "starting", "epoch")) for s in at.dataframe[0].value["status"])
    job.join(timeout=240)
    at.run()
    table = at.dataframe[0].value
    assert list(table["run"]) == ["plain", "warm-up over 30 epochs", "free bits λ=0.5"]
    assert list(table["status"]) == ["done after 40 epochs"] * 3 and "None" not in str(table.values)
    plain, warm, free = (int(v) for v in table["active units"])
    assert plain < warm < free == 8, (plain, warm, free)


def test_without_mnist_files_the_pages_say_what_is_missing_and_keep_the_decoder(tmp_path, monkeypatch):
    import streamlit as st

    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    st.cache_resource.clear()  # a dataset loaded by an earlier test must not hide the missing files
    st.cache_data.clear()
    try:
        mnist = str(ROOT / "models" / "mnist-2d")
        at = page("app_pages/latent_map.py", **{state.MODEL: mnist}).run()
        assert not at.exception
        assert "mnist not found" in at.warning[0].value and "train-images-idx3-ubyte.gz" in at.warning[0].value
        assert at.button(key="download_mnist")  # offered, not forced
        assert "map_manifold" in browser_pictures(at)  # the decoded manifold still shows
        home = page("app_pages/home.py", **{state.MODEL: mnist}).run()
        assert not home.exception and not images(home)  # no reconstructions,
        assert "home_prior" in browser_pictures(home)  # but samples from the prior
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory):
    """A valid checkpoint with 10,000 latent dimensions (the CLI can make one): no page may build a widget or a
    traversal row per dimension."""
    from vae_core import VAE, Config, save_checkpoint
    return str(save_checkpoint(VAE(Config(dataset="digits", hidden=(16,), latent_dim=10_000)),
                               tmp_path_factory.mktemp("wide") / "z10000"))


@pytest.mark.parametrize("path", [p.script for p in navigation.PAGES])
def test_a_very_wide_latent_is_shown_in_bounded_pieces(wide_model, path):
    import time

    start = time.perf_counter()
    at = page(path, **{state.MODEL: wide_model}).run()
    assert not at.exception, at.exception
    assert len(at.slider) <= 70 and len(at.number_input) < 50 and len(at.selectbox) < 10
    assert time.perf_counter() - start < 60
    if path == "app_pages/latent_sliders.py":
        sent = sliders(at)
        assert len(sent["order"]) == 64 and sent["folded"] == 9936 and len(sent["traversal"]["dims"]) == 16


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


def test_the_map_s_chosen_image_is_in_the_link_and_a_link_chooses_it():
    at = page("app_pages/latent_map.py", **{state.MAP_CHOSEN: (str(ROOT / "models" / "digits-2d"), 17)}).run()
    shown = lambda at: [s.value for s in at.subheader if s.value.startswith("Test image ")]  # noqa: E731
    assert at.query_params["image"] in ("17", ["17"]) and shown(at)[0].startswith("Test image 17 ")
    linked, notices = linked_page("app_pages/latent_map.py", {"image": "42"})
    assert not linked.exception and not notices and shown(linked)[0].startswith("Test image 42 ")
    linked.toggle(key="map_ellipse").set_value(True).run()  # the ellipses, with their scale said in words
    sigma = resources_encodings(ROOT / "models" / "digits-2d", std=True)[42]
    assert any(f"σ = ({sigma[0]:.3f}, {sigma[1]:.3f})" in c.value for c in linked.caption)
    linked.session_state[state.MAP_CHOSEN] = (None, None)
    assert not linked.run().exception  # the toggle left on with no image chosen


def test_a_huge_model_is_refused_by_the_train_form_with_the_limit():
    at = page("app_pages/train.py").run()
    at.text_input(key="train_hidden").set_value("100000,100000")
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    assert "above the limit of 50,000,000" in at.error[0].value and state.JOB not in at.session_state


@pytest.mark.parametrize("class_mode", [False, True])
def test_in_class_mode_a_session_does_not_list_other_people_s_runs(tmp_path, monkeypatch, class_mode):
    from vae_core import VAE, Config, save_checkpoint
    from vae_core.checkpoint import new_run_dir

    runs = tmp_path / "runs"  # the private_runs fixture's folder: someone else's run lies there
    other = save_checkpoint(VAE(Config(dataset="digits", hidden=(8,))), new_run_dir(runs, "someone-else"))
    monkeypatch.setenv("VAE_CLASS_MODE", "1" if class_mode else "")
    at = page("app_pages/home.py").run()
    listed = [option for box in at.sidebar.selectbox for option in box.options]  # as labels
    assert any(option.startswith(other.name) for option in listed) is not class_mode
    assert ("Open a saved run" in [e.label for e in at.sidebar.expander]) is not class_mode


def test_pages_hold_ui_only():
    """No page imports torch (or does tensor math): that lives in vae_core, called through one or two functions."""
    import ast

    for p in navigation.PAGES:
        tree = ast.parse((ROOT / p.script).read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & {"torch", "numpy"}, (p.script, imported)


def test_a_run_that_waits_for_the_cluster_says_queued_and_how_many_are_ahead(digits, tmp_path, quiet_cluster):
    """The session's node has 2 CPUs: two running digits jobs fill it, one more waits; the page's run is next."""
    from vae_core import Config
    from vae_core.runs import start_runs

    deadline = time.time() + 120
    long = Config(dataset="digits", hidden=(32,), epochs=100_000, batch_size=100)  # until stopped
    others = [start_runs(long, digits, tmp_path / f"other-{i}", cpus=1).runs[0] for i in range(3)]
    try:
        while sorted(j.state for j in others) != ["queued", "running", "running"]:
            assert time.time() < deadline, [(j.state, j.message) for j in others]
            time.sleep(0.1)
        running = [j for j in others if j.state == "running"]
        waiting = next(j for j in others if j.state == "queued")
        at = page("app_pages/train.py").run()
        at.number_input(key="train_epochs").set_value(3)
        at.button(key="FormSubmitter:train_form-Start training").click().run()
        job = at.session_state[state.JOB]
        while job.state != "queued":
            assert time.time() < deadline, job.state
            time.sleep(0.1)
        at.run()
        assert "queued: 1 job ahead" in str(at.get("progress")[0].proto.text)
        running[0].stop()  # a CPU frees up: the job queued before ours starts, and ours is next
        while waiting.state != "running":
            assert time.time() < deadline, (waiting.state, job.state)
            time.sleep(0.1)
        at.run()
        assert "queued: next to start" in str(at.get("progress")[0].proto.text)
        running[1].stop()
        job.join(timeout=120)
        assert job.state == "done", job.message
    finally:
        for j in others:
            j.stop()
        for j in others:
            j.join(timeout=60)


def linked_page(path, params: dict, **session):
    """An AppTest of a page opened from a link with these query parameters (a fresh session), and the notices
    shown on the way (AppTest enters at the home page, then switches: a browser opens the page at once)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in session.items():
        at.session_state[key] = value
    at.query_params.update(params)
    notices = []
    if path != "app_pages/home.py":
        notices += [t.value for t in at.run().toast]
        at.switch_page(path)
    notices += [t.value for t in at.run().toast]
    return at, notices


def test_a_link_carries_the_view_to_another_session():
    model = ROOT / "models" / "sweeps" / "digits" / "beta-1"
    at = page("app_pages/kl_tradeoff.py", **{state.MODEL: str(model)}).run()
    at.number_input(key="tradeoff_image").set_value(7).run()
    at.select_slider(key="tradeoff_beta").set_value(3.0).run()
    link = {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert link["model"] == "sweeps/digits/beta-1" and link["beta"] == "3" and link["image"] == "7"
    assert link["z"] == ",".join(["0"] * 8)
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


def test_a_run_trained_here_is_opened_by_its_link_in_class_mode(tmp_path, monkeypatch):
    from vae_core import VAE, Config, save_checkpoint
    from vae_core.checkpoint import new_run_dir

    monkeypatch.setenv("VAE_CLASS_MODE", "1")
    run = save_checkpoint(VAE(Config(dataset="digits", hidden=(8,))), new_run_dir(tmp_path / "runs", "shared"))
    other, _ = linked_page("app_pages/home.py", {"model": f"runs/{run.name}"})
    assert not other.exception and other.session_state[state.MODEL] == str(run)
    assert any(o.startswith(run.name) for o in other.sidebar.selectbox(key="_model_picker").options)


@pytest.mark.parametrize("params", [
    {"model": "../../etc", "z": "abc", "beta": "7.7", "image": "99999"},
    {"model": "no-such-model", "z": "1,2,3", "beta": "nan", "image": "-3"},
    {"z": "inf,1", "axes": "0,0"},
])
def test_a_garbage_link_gives_notices_and_the_defaults(params):
    for path in ("app_pages/kl_tradeoff.py", "app_pages/latent_pad.py"):
        at, notices = linked_page(path, params)
        assert not at.exception, at.exception
        assert at.session_state[state.MODEL] == str(ROOT / "models" / "digits-2d")
        assert at.session_state[state.LATENT] == [0.0, 0.0]
        assert notices, "a notice says what in the link was not used"
        if path.endswith("kl_tradeoff.py"):
            assert at.select_slider(key="tradeoff_beta").value == 1.0 and at.number_input(key="tradeoff_image").value == 0


def test_every_lesson_step_links_to_a_page_model_and_point_that_exist():
    from ui.lesson import STEPS
    from ui.links import model_path

    scripts = {p.script for p in navigation.PAGES}
    assert 8 <= len(STEPS) <= 10 and sum(s.minutes for s in STEPS) == 90
    at = page("app_pages/lesson.py").run()
    assert not at.exception and len(at.get("page_link")) == len(STEPS)
    for step in STEPS:
        assert step.page.script in scripts and step.question.endswith("?")
        if "model" in step.link:
            assert load_checkpoint(model_path(step.link["model"]))  # a shipped model, opened by name
        opened, notices = linked_page(step.page.script, step.link)
        assert not opened.exception and not notices, (step.title, notices)


def a_drawing() -> bytes:
    """A PNG of a hand-drawn-like 1: a white bar on black, as the drawing pad sends it."""
    import io

    from PIL import Image

    pixels = np.zeros((280, 280), np.uint8)
    pixels[40:240, 125:155] = 255
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_two_models_with_equal_latent_sizes_decode_the_same_point():
    at = page("app_pages/compare.py", **{state.DRAWING: a_drawing()}).run()
    at.selectbox(key="compare_other").set_value(str(ROOT / "models" / "mnist-2d")).run()
    assert not at.exception
    assert at.radio(key="compare_input").options == ["your drawing"]  # digits and MNIST share no test image
    pictures = browser_pictures(at)
    assert {"compare_recon_A", "compare_recon_B", "compare_point_A", "compare_point_B"} <= set(pictures)
    assert served_latents(pictures["compare_point_A"]).tolist() == served_latents(pictures["compare_point_B"]).tolist()
    assert len([latex for latex in at.latex if "nats" in latex.value]) == 2  # both objective breakdowns
    assert len(at.get("plotly_chart")) == 1  # both on the rate-distortion plane


def test_two_models_with_unequal_latent_sizes_say_why_there_is_no_same_point():
    at = page("app_pages/compare.py").run()
    at.selectbox(key="compare_other").set_value(str(ROOT / "models" / "digits-8d-mean-recon")).run()
    assert not at.exception
    assert at.radio(key="compare_input").value == "a test image"
    assert "2 dimensions and B's 8" in at.info[0].value
    assert {"compare_recon_A", "compare_recon_B"} <= set(browser_pictures(at))
    assert "compare_point_A" not in browser_pictures(at)


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


def test_the_reduction_lesson_shows_beta_times_pixels_and_both_shipped_models():
    at = page("app_pages/kl_tradeoff.py").run()
    text = " ".join(m.value for m in at.markdown)
    assert "a β of 64 in disguise" in text
    assert "0 of 8 active units" in text and "6 of 8 active units" in text
    assert {"reduction_beta-1", "reduction_digits-8d-mean-recon"} <= set(browser_pictures(at))


def test_the_likelihood_curve_is_estimated_once_in_the_background_and_kept(tmp_path):
    from vae_core import Config, load_dataset, save_checkpoint, train_new
    from vae_core.runs import CURVE_KS

    model, history = train_new(Config(dataset="digits", hidden=(32,), epochs=3), load_dataset("digits"))
    folder = str(save_checkpoint(model, tmp_path / "runs" / "mine", history.epochs, history.test))
    at = page("app_pages/kl_tradeoff.py", **{state.MODEL: folder}).run()
    assert not at.exception
    progress = [p.proto.text for p in at.get("progress")]
    assert any("estimating −log p(x)" in t or "queued" in t or "starting" in t for t in progress), progress
    from ui import resources
    job = resources.likelihood_curve(folder)
    job.join(timeout=180)
    assert job.state == "done", job.message
    kept = load_checkpoint(folder).metrics["iwae"]
    assert sorted(int(k) for k in kept) == list(CURVE_KS)
    nlls = [kept[str(k)]["iwae_nll"] for k in CURVE_KS]
    assert nlls[-1] < history.test["nelbo"] and nlls[-1] <= nlls[0] + 0.5  # tighter than the ELBO, as k grows
    at.run()
    assert any("tradeoff_gap" in chart.proto.id for chart in at.get("plotly_chart"))
    assert any("gap" in m.value and "nats per image" in m.value for m in at.markdown)
