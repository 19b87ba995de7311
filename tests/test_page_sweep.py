"""The beta sweep page, run headless: the shipped sweep's plane and a sweep run from the page."""
import json

import pytest

from headless import app_test as page
from headless import ROOT, click_point
from ui import state

pytestmark = pytest.mark.usefixtures("private_runs")


def _figure(at, key):
    import json
    chart = next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id)
    return json.loads(chart.proto.spec)


def test_beta_sweep_page_plots_one_point_per_shipped_beta_and_runs_a_sweep(ray_address):
    at = page("app_pages/beta_sweep.py").run()
    assert not at.exception
    shipped = next(t for t in _figure(at, "sweep_plane")["data"] if t.get("name") == "digits (shipped)")
    assert [t.split("=")[1] for t in shipped["text"]] == ["0.1", "0.3", "1", "3", "10"]
    assert shipped["x"] == sorted(shipped["x"], reverse=True)  # rate falls as beta grows
    at.session_state[state.SWEEP_CHOSEN] = shipped["customdata"][-1]
    at.run()
    assert "β = 10" in at.subheader[0].value
    rate = float(at.subheader[0].value.split("rate ")[1].split(",")[0])  # to 3 significant digits ("0.00" was shown)
    assert 0 < rate < 0.01
    # the caption over the plane writes distortion as the heading does (its "27.1" read against the heading's 27.10,
    # and β = 0.1's "17" against 16.98)
    distortion = at.subheader[0].value.split("distortion ")[1].split(" ")[0]
    assert f"for {distortion} nats of distortion" in next(c.value for c in at.caption if c.value.startswith("Here: "))
    at.multiselect(key="sweep_betas").set_value([0.3, 3.0])
    at.number_input(key="sweep_epochs_digits").set_value(2)
    at.button(key="FormSubmitter:sweep_form_digits-Run the sweep").click().run()
    at.session_state[state.SWEEP].join(timeout=60)
    at.run()
    mine = next(t for t in _figure(at, "sweep_plane")["data"] if t.get("name") == "your sweep")
    assert len(mine["x"]) == 2
    assert any(c.value.startswith("Your sweep trained 2 epochs per β, the shipped one 100") for c in at.caption)
    # where its result is: at the top, far from the button (a walk-through looked for it under the progress line)
    def said():
        return [c.value.split(" at the top")[0] for c in at.caption if " at the top of this page" in c.value]

    assert said() == ["Its points are on the plane"]
    at.radio(key="sweep_dataset").set_value("mnist").run()
    assert said() == ["Choose the digits sweep"] and not any(t.get("name") == "your sweep"
                                                             for t in _figure(at, "sweep_plane")["data"])
    at.radio(key="sweep_dataset").set_value("digits").run()
    again = page("app_pages/beta_sweep.py")  # a reload: a new session, which finds the browser's sweep; its form
    again.session_state[state.SWEEP] = at.session_state[state.SWEEP]  # shows what the sweep was started with (it
    again.run()                                                        # said 40 epochs beside "trained 2 epochs")
    assert not again.exception and again.number_input(key="sweep_epochs_digits").value == 2
    assert again.multiselect(key="sweep_betas").value == [0.3, 3.0]


def test_a_sweep_runs_on_mnist_too_and_joins_mnist_s_plane(ray_address, mnist_dir):
    """The page ran sweeps on digits only: a class could not see MNIST's trade-off move with its own β. The form
    now trains on the dataset chosen at the top, from that sweep's shipped settings (MNIST's 16 latent
    dimensions and 10 epochs), and its points join that dataset's plane."""
    at = page("app_pages/beta_sweep.py").run()
    at.radio(key="sweep_dataset").set_value("mnist").run()
    assert not at.exception and "Run your own sweep on mnist" in [h.value for h in at.header]
    form = [at.number_input(key=f"sweep_{field}_mnist").value for field in ("latent", "epochs")]
    assert form == [16, 10], form
    at.multiselect(key="sweep_betas").set_value([0.3, 3.0])
    at.number_input(key="sweep_epochs_mnist").set_value(1)
    at.button(key="FormSubmitter:sweep_form_mnist-Run the sweep").click().run()
    group = at.session_state[state.SWEEP]
    group.join(timeout=300)
    at.run()
    assert not at.exception and [r.config.dataset for r in group] == ["mnist", "mnist"]
    assert all(r.checkpoint is not None for r in group), [r.message for r in group]
    mine = next(t for t in _figure(at, "sweep_plane")["data"] if t.get("name") == "your sweep")
    assert len(mine["x"]) == 2 and mine["x"][0] > mine["x"][1]  # β = 0.3 spends more rate than β = 3
    assert any(c.value.startswith("Your sweep trained 1 epoch per β, the shipped one 10") for c in at.caption)
    at.radio(key="sweep_dataset").set_value("digits").run()
    assert any(c.value.startswith("Choose the mnist sweep at the top") for c in at.caption)
    assert at.number_input(key="sweep_epochs_digits").value == 40  # each dataset's form its own defaults


def test_a_sweep_trained_as_one_program_has_one_progress_line(ray_address):
    """Five members at one epoch and step, each named with them, filled two lines under the form; the line now
    says it once, with the time left."""
    import re

    from vae_core.runs import RunState
    from waiting import wait_until

    at = page("app_pages/beta_sweep.py").run()
    at.multiselect(key="sweep_betas").set_value([0.1, 1.0, 10.0])
    at.number_input(key="sweep_epochs_digits").set_value(200)
    at.button(key="FormSubmitter:sweep_form_digits-Run the sweep").click().run()
    group = at.session_state[state.SWEEP]
    try:
        wait_until(lambda: all(r.state == RunState.RUNNING and r.eta_seconds for r in group), 120, "the sweep's pace")
        at.run()
        line = str(at.get("progress")[0].proto.text)
        # (an epoch of digits is 23 steps, about as long as its evaluation: the line is often "evaluating epoch 7")
        assert re.match(r"digits sweep: 3 runs trained as one program · (evaluating )?epoch \d+", line), line
        assert " left" in line, line
        assert "beta-" not in line, line
    finally:
        group.stop()
        group.join(timeout=60)


def test_a_sweep_with_a_number_out_of_range_is_refused_with_the_field_named():
    at = page("app_pages/beta_sweep.py").run()
    at.number_input(key="sweep_epochs_digits").set_value(0)
    at.button(key="FormSubmitter:sweep_form_digits-Run the sweep").click().run()
    assert [e.value for e in at.error] == ["Epochs per β takes 1 to 200, not 0."]
    assert state.SWEEP not in at.session_state


def test_every_member_s_kl_bars_share_one_axis():
    """β = 10's collapsed units (about 7e-5 nats) were drawn as tall as β = 0.1's 2-nat bars, each model's axis
    scaled to its own bars: now one range for all, up to the sweep's largest unit, so collapse looks like it."""
    at = page("app_pages/beta_sweep.py").run()
    shipped = next(t for t in _figure(at, "sweep_plane")["data"] if t.get("name") == "digits (shipped)")
    ranges, tallest = [], []
    for path in shipped["customdata"]:
        at.session_state[state.SWEEP_CHOSEN] = path
        at.run()
        bars = _figure(at, "sweep_kl_bars")
        ranges.append(bars["layout"]["yaxis"]["range"])
        tallest.append(max(y for trace in bars["data"] for y in trace["y"]))  # (active and collapsed bars)
    assert all(r == ranges[0] for r in ranges) and ranges[0][0] == 0
    assert max(tallest) <= ranges[0][1] <= 1.1 * max(tallest)
    assert min(tallest) < ranges[0][1] / 1000  # β = 10: a bar no one would read as activity


def test_a_member_clicked_on_the_plane_can_be_chosen_for_the_other_pages():
    """A sweep's member could be looked at here only: the sidebar lists the shipped models, so a class could not
    take the β = 10 model to the sliders or the map."""
    at = page("app_pages/beta_sweep.py").run()
    shipped = next(t for t in _figure(at, "sweep_plane")["data"] if t.get("name") == "digits (shipped)")
    at.session_state[state.SWEEP_CHOSEN] = shipped["customdata"][-1]
    at.run()
    at.button(key="sweep_choose").click().run()
    assert not at.exception and at.session_state[state.MODEL] == shipped["customdata"][-1]
    assert at.button(key="sweep_choose").disabled  # it is the chosen one now


def test_active_units_that_carry_under_a_bit_in_all_are_said_to_tell_nothing():
    """The shipped digits sweep at β = 3 counts 3 active units (their means vary, the 0.01 test) over 0.061 nats in
    all, beside reconstructions that are one grey average: read as "three units still carry the digit" (lesson step
    8). Its caption now says how little they carry; β = 1's (3.3 nats, one faint active unit) does not."""
    from vae_core import load_checkpoint
    from headless import ROOT

    at = page("app_pages/beta_sweep.py").run()
    for beta, told in (("3", True), ("1", False)):
        path = ROOT / "models" / "sweeps" / "digits" / f"beta-{beta}"
        at.session_state[state.SWEEP_CHOSEN] = str(path)
        at.run()
        metrics = load_checkpoint(path).metrics
        caption = next(c.value for c in at.caption if c.value.startswith("One axis for every model"))
        assert "Active with a bar under 2% of the axis" in caption  # (each has some)
        assert ("under one bit" in caption) == told == (sum(metrics["kl_per_dim"]) < 0.69), (beta, caption)
        if told:
            assert f"carry {sum(metrics['kl_per_dim']):.2g} nats per image" in caption


def test_the_intro_s_ranges_of_rates_are_the_shipped_sweeps_own():
    """The intro named "a ten-thousandth of a nat and tens of nats" for every sweep; MNIST's runs from 2 to 70. It
    then gave the digits sweep's range alone, also with MNIST chosen: now each sweep's own, checked here against
    their checkpoints."""
    import re

    from headless import ROOT
    from vae_core.checkpoint import sweep_members

    at = page("app_pages/beta_sweep.py").run()
    for name in ("digits", "mnist"):
        said = re.search(rf"the {name} sweep's run from ([\d.]+) to ([\d.]+) nats", at.markdown[0].value)
        rates = [m.metrics["kl"] for m in sweep_members(ROOT / "models" / "sweeps" / name)]
        assert said and (said[1], said[2]) == (f"{min(rates):.2g}", f"{max(rates):.2g}"), (name, at.markdown[0].value)


@pytest.mark.parametrize("customdata", ["/etc/passwd", str(ROOT / "models" / "digits-2d"), "../../", ["x"], 5])
def test_a_click_on_no_point_of_the_plane_is_refused_with_a_notice(customdata):
    """The plane's customdata is a checkpoint's path, sent back by the browser: a path it never plotted was opened as
    a checkpoint (/etc/passwd read as a safetensors file, its error shown; a model elsewhere on the server could be
    chosen for the other pages), and a list or a number gave a TypeError on every rerun."""
    at = click_point(page("app_pages/beta_sweep.py").run(), "sweep_plane", customdata)
    assert not at.exception, at.exception
    assert state.SWEEP_CHOSEN not in at.session_state and any("not a point of this chart" in t.value for t in at.toast)
    shipped = next(t for t in _figure(at, "sweep_plane")["data"] if t.get("name") == "digits (shipped)")
    assert click_point(at, "sweep_plane", shipped["customdata"][-1]).session_state[state.SWEEP_CHOSEN] == \
        shipped["customdata"][-1]  # a real click still chooses


def test_the_sidebar_s_sweep_member_is_shown_before_any_click():
    """Lesson step 8's link chooses the digits sweep's β = 1 and asks about "the caption under the bars": the page
    showed no bars until a point was clicked. The sidebar's model, where it is on the plane, is shown; a click
    still chooses another, and a model not on the plane shows none."""
    member = str(ROOT / "models" / "sweeps" / "digits" / "beta-1")
    at = page("app_pages/beta_sweep.py", **{state.MODEL: member}).run()
    assert not at.exception and at.subheader[0].value.startswith("β = 1: rate")
    assert "sweep_kl_bars" in " ".join(c.proto.id for c in at.get("plotly_chart"))
    at.session_state[state.SWEEP_CHOSEN] = str(ROOT / "models" / "sweeps" / "digits" / "beta-10")
    assert at.run().subheader[0].value.startswith("β = 10: rate")
    plain = page("app_pages/beta_sweep.py").run()  # digits-2d: not on the plane
    assert not plain.exception and not any(s.value.startswith("β = ") for s in plain.subheader)
