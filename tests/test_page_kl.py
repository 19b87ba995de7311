"""The KL trade-off page, run headless: the total under beta, the reduction lesson, the likelihood curve."""
import pytest

from headless import app_test as page
from headless import ROOT, browser_pictures
from ui import state
from vae_core import load_checkpoint

pytestmark = pytest.mark.usefixtures("private_runs")


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
    import re
    braced, beside = re.search(r"-1\)\}_\{([\d.]+)\}", at.latex[0].value), re.search(r"10 \\times ([\d.]+)", at.latex[0].value)
    assert braced.group(1) == beside.group(1)  # the KL under its brace as beside β (3.26 over "10 × 3.263")
    kl = at.dataframe[0].value["KL, nats"].sum()
    assert at_ten - at_one == pytest.approx(9 * kl, abs=0.02)
    assert len(at.get("plotly_chart")) >= 3  # KL bars, reparameterisation cloud, histograms


def test_the_reduction_lesson_shows_beta_times_pixels_and_both_shipped_models():
    at = page("app_pages/kl_tradeoff.py").run()
    text = " ".join(m.value for m in at.markdown)
    assert "a β of 64 in disguise" in text
    assert "0 of 8 active units" in text and "6 of 8 active units" in text
    assert {"reduction_beta-1", "reduction_digits-8d-mean-recon"} <= set(browser_pictures(at))


def test_the_reduction_lesson_at_beta_10_writes_its_numbers_as_the_objective_above_does():
    """At β = 10 a lecturer read "1.3e+02 times the reconstruction" off the slide, and the averaged line's
    "10 × 3.26" under the summed line's "10 × 3.263"."""
    import re

    at = page("app_pages/kl_tradeoff.py").run()
    at.number_input(key="tradeoff_image").set_value(3)  # (its KL term 130 times its reconstruction, averaged)
    at.select_slider(key="tradeoff_beta").set_value(10.0).run()
    summed, averaged = (next(t.value for t in at.latex if t.value.lstrip("$\n").startswith(way)) for way in
                        (r"\text{summed", r"\begin{aligned}\text{averaged"))
    kl = re.search(r"10 \\times ([\d.]+) =", summed).group(1)
    assert len(kl.split(".")[1]) == 3 and averaged.count(rf"\times {kl}") == 2, (summed, averaged)
    said = next(c.value for c in at.caption if c.value.startswith("Averaged, a nat of KL costs"))
    times = re.search(r"the KL term is then (\S+) times the reconstruction instead of (\S+) times", said)
    assert times and times.group(1) == "130" and "e+" not in said, said


def test_the_objective_s_table_writes_three_decimals_in_every_row():
    """Left to Streamlit, "3.368" stood over "3.3112" (trailing zeros cut)."""
    import json

    at = page("app_pages/kl_tradeoff.py").run()
    columns = json.loads(at.dataframe[0].proto.columns)
    assert {name: columns[name]["type_config"]["format"] for name in ("μ", "σ", "KL, nats")} == dict.fromkeys(
        ("μ", "σ", "KL, nats"), "%.3f")


def test_the_reduction_lesson_says_its_two_models_are_not_the_sidebar_s():
    """Lesson step 7 opens the page with the 2-D digits model: its image's numbers stood above two 8-D models as if
    they were the same model's."""
    told = "The numbers above are digits-2d's. Below are two other models: shipped 8-D digits models trained each way."
    at = page("app_pages/kl_tradeoff.py", **{state.MODEL: str(ROOT / "models" / "digits-2d")}).run()
    assert told in [m.value for m in at.markdown]
    for shown in ("sweeps/digits/beta-1", "digits-8d-mean-recon"):  # one of the two: nothing to tell apart
        at = page("app_pages/kl_tradeoff.py", **{state.MODEL: str(ROOT / "models" / shown)}).run()
        assert not at.exception and not any(m.value.startswith("The numbers above are") for m in at.markdown)


def test_a_model_trained_on_the_averaged_reconstruction_is_told_as_such(ray_address):
    """Its page said "trained with β=1" above a section on averaging, "a β of 64 in disguise"; and its image, with a
    KL of 0, "the KL weighs 0.0 times the reconstruction instead of 0.00 times"."""
    at = page("app_pages/kl_tradeoff.py", **{state.MODEL: str(ROOT / "models" / "digits-8d-mean-recon")}).run()
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption]
    assert any(c.startswith("The model was trained with β=1 (reconstruction averaged over 64 pixels), which is "
                            "β = 64 on the summed objective written here") for c in captions), captions
    said = next(c for c in captions if c.startswith("Averaged, a nat of KL costs"))
    assert said.startswith("Averaged, a nat of KL costs as much as 64 nats of reconstruction instead of 1:")
    assert "0.0 times" not in said and "times the reconstruction" not in said  # this image's KL is about 0
    assert "β=1 (reconstruction averaged over 64 pixels)" in " ".join(c.value for c in at.sidebar.caption)


def test_the_likelihood_curve_is_estimated_once_in_the_background_and_kept(tmp_path, ray_address):
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
    if not isinstance(job, dict):  # (a dict: it was done already, its estimates kept: an idle machine's case)
        job.join(timeout=180)
        assert job.state == "done", job.message
    kept = load_checkpoint(folder).metrics["iwae"]
    assert sorted(int(k) for k in kept) == list(CURVE_KS)
    nlls = [kept[str(k)]["iwae_nll"] for k in CURVE_KS]
    assert nlls[-1] < history.test["nelbo"] and nlls[-1] <= nlls[0] + 0.5  # tighter than the ELBO, as k grows
    at.run()
    assert any("tradeoff_gap" in chart.proto.id for chart in at.get("plotly_chart"))
    assert any("gap" in m.value and "nats per image" in m.value for m in at.markdown)


def _terms(latex: str) -> list[float]:
    """The numbers of 'a + b × c = d' at the end of a formula, as shown."""
    import re
    tail = re.search(r"= ([\d.]+) \+ ([\d.]+) \\times ([\d.]+) = (?:\\mathbf\{)?([\d.]+)", latex)
    return [float(v) for v in tail.groups()]


def test_the_reduction_lesson_s_formula_follows_the_beta_slider():
    at = page("app_pages/kl_tradeoff.py").run()
    at.select_slider(key="tradeoff_beta").set_value(10.0).run()
    [summed] = [m.value for m in at.latex if r"\text{summed" in m.value]
    [averaged] = [m.value for m in at.latex if r"\text{averaged" in m.value]
    assert _terms(summed)[1] == 10 and r"\mathbf{640}" in averaged and r"+ 10 \times" in averaged
    assert any("at β = 10, a β of 640 in disguise" in m.value for m in at.markdown)


def test_at_beta_10_the_kl_is_shown_to_three_decimals_so_the_total_agrees_with_the_table():
    """digits-2d's image 3 at β = 10 read "16.54 + 10 × 3.26 = 49.14" over a table whose KLs (2.2903 + 0.9727) make
    49.17: the KL is now shown to as many more decimals as β has powers of ten."""
    from vae_core import load_dataset
    from vae_core.tradeoff import objective_parts

    parts = objective_parts(load_checkpoint(ROOT / "models" / "digits-2d").model, load_dataset("digits").test_x[3])
    at = page("app_pages/kl_tradeoff.py").run()
    at.number_input(key="tradeoff_image").set_value(3).run()
    at.select_slider(key="tradeoff_beta").set_value(10.0).run()
    formulas = [m.value for m in at.latex if r"\times" in m.value and r"\text{averaged" not in m.value]
    assert len(formulas) == 2
    for formula in formulas:
        recon, beta, kl, total = _terms(formula)
        assert f"10 \\times {parts.kl:.3f}" in formula, formula  # three decimals
        assert total == round(recon + beta * kl, 2)  # adds up as shown
        assert abs(total - (parts.recon + 10 * sum(parts.kl_per_dim))) < 0.01  # and as the table's KLs do


def test_every_total_shown_is_the_sum_of_the_terms_shown_beside_it():
    """An image whose unrounded total rounds away from its rounded terms (273.33 against terms that add up to
    273.32 was seen): the objective, the reduction lesson and the sidebar all add up as a reader adds them."""
    from vae_core import load_dataset
    from vae_core.tradeoff import objective_parts

    model = load_checkpoint(ROOT / "models" / "digits-2d").model
    test_x = load_dataset("digits").test_x
    def rounds_apart(parts, b) -> bool:
        return round(parts.recon + b * parts.kl, 2) != round(round(parts.recon, 2) + b * round(parts.kl, 2), 2)

    index, beta = next((i, b) for i in range(len(test_x)) for b in (1.0, 3.0)
                       if rounds_apart(objective_parts(model, test_x[i]), b))
    at = page("app_pages/kl_tradeoff.py").run()
    at.number_input(key="tradeoff_image").set_value(index).run()
    at.select_slider(key="tradeoff_beta").set_value(beta).run()
    formulas = [m.value for m in at.latex if r"\times" in m.value and r"\text{averaged" not in m.value]
    assert len(formulas) == 2  # the objective term by term, the reduction lesson's summed form
    for formula in formulas:
        recon, shown_beta, kl, total = _terms(formula)
        assert shown_beta == beta and total == round(recon + beta * kl, 2), formula
    sweep = page("app_pages/kl_tradeoff.py", **{state.MODEL: str(ROOT / "models" / "sweeps" / "digits" / "beta-3")})
    caption = next(c.value for c in sweep.run().sidebar.caption if "Test −ELBO" in c.value)
    import re
    total, recon, kl = (float(v) for v in re.search(r"−ELBO ([\d.]+) = reconstruction ([\d.]+) \+ KL ([\d.]+)",
                                                    caption).groups())
    assert total == round(recon + kl, 2), caption  # its stored −ELBO, 26.9756, rounds to 26.98: 26.91 + 0.06


def test_the_likelihood_curve_s_bars_are_the_paired_standard_errors_of_the_gap():
    """The bars are each estimate's standard error of its gap to the −ELBO line, over the same images, as stored
    beside the estimate: not the spread of −log p(x) over the images (±0.14 on digits-2d against a 0.38-nat gap)."""
    import json

    at = page("app_pages/kl_tradeoff.py").run()
    chart = next(c for c in at.get("plotly_chart") if "tradeoff_gap" in c.proto.id)
    [trace] = [t for t in json.loads(chart.proto.spec)["data"] if t.get("error_y")]
    stored = load_checkpoint(ROOT / "models" / "digits-2d").metrics["iwae"]
    assert trace["x"] == [1, 10, 100, 1000]
    axis = json.loads(chart.proto.spec)["layout"]["xaxis"]  # labelled at each k, with its whole value
    assert axis["tickvals"] == trace["x"] and axis["ticktext"] == ["1", "10", "100", "1,000"]
    assert trace["error_y"]["array"] == [stored[str(k)]["elbo_gap_se"] for k in trace["x"]]
    assert all(stored[str(k)]["elbo_gap_se"] < stored[str(k)]["iwae_nll_se"] for k in trace["x"])
    text = " ".join(m.value for m in [*at.markdown, *at.caption])
    gap = stored["1000"]["elbo_gap"]
    assert f"{gap:.2f} ± {stored['1000']['elbo_gap_se']:.2f} nats per image above the k = 1,000 estimate" in text
    first = stored["1"]["elbo_gap"]  # the line minus the k = 1 estimate: the line above the point where positive
    where = "above" if first >= 0 else "below"
    assert (f"The dashed −ELBO line lies {abs(first):.2f} ± {stored['1']['elbo_gap_se']:.2f} nats {where} the k = 1 "
            "point") in text
    assert "the Bernoulli term is not a normalised likelihood" in text  # digits-2d's grey pixels


@pytest.mark.parametrize("model, grey", [("mnist-50d-binarized", False), ("mnist-16d", True)])
def test_a_likelihood_on_grey_pixels_is_said_to_be_no_normalised_one(mnist_dir, model, grey):
    at = page("app_pages/kl_tradeoff.py", **{state.MODEL: str(ROOT / "models" / model)}).run()
    assert not at.exception
    if not any("tradeoff_gap" in c.proto.id for c in at.get("plotly_chart")):
        pytest.skip(f"{model}'s likelihood curve is not stored")
    assert any("not a normalised likelihood" in c.value for c in at.caption) == grey


def test_the_reduction_lesson_shows_the_summed_loss_line_from_the_objective_beside_the_averaged_one():
    import inspect

    from headless import code_shown
    from vae_core import objective

    at = page("app_pages/kl_tradeoff.py").run()
    summed, averaged = ([line["text"] for line in code_shown(element.value)[0]] for element in at.get("html")[-2:])
    assert summed[0] in inspect.getsource(objective.bernoulli_nll) and 'reduction="none").sum(-1)' in summed[0]
    assert any("loss=recon.mean(-1) / divisor + beta * kl_term" in line for line in summed)
    assert any('reduction="mean"' in line for line in averaged)


def test_the_reparameterisation_cloud_names_its_two_dimensions_where_the_model_has_more():
    """The cloud was drawn on the test set's two dimensions of most KL (z6 and z4 for the digits β = 1 sweep model)
    under a table that ranks this image's own (z4 and z7 first), with no word of why they differ."""
    from vae_core.evaluation import dimensions_by_kl

    path = ROOT / "models" / "sweeps" / "digits" / "beta-1"
    at = page("app_pages/kl_tradeoff.py", **{state.MODEL: str(path)}).run()
    first, second = dimensions_by_kl(load_checkpoint(path).metrics, 8)[:2]
    assert any(c.value.startswith(f"The cloud is drawn on z{first} and z{second}, the two dimensions with the most KL")
               for c in at.caption)
    assert not any(c.value.startswith("The cloud is drawn") for c in page("app_pages/kl_tradeoff.py").run().caption)


def test_the_aggregate_posterior_s_caption_integrates_out_only_what_there_is():
    """A 2-D model's caption said "the others integrated out", of dimensions it does not have."""
    for model, wide in (("digits-2d", False), ("digits-8d-mean-recon", True)):
        at = page("app_pages/kl_tradeoff.py", **{state.MODEL: str(ROOT / "models" / model)}).run()
        [caption] = [c.value for c in at.caption if c.value.startswith("Filled: q(z) over")]
        assert not at.exception and ("the others integrated out" in caption) == wide, caption
        assert ("the model's two dimensions" in caption) == (not wide), caption
