"""The warm-up and free bits page, run headless: its three runs with the page's defaults."""
import re

import pytest

from headless import app_test as page
from ui import state

pytestmark = pytest.mark.usefixtures("private_runs")


def test_warm_up_page_s_defaults_show_the_difference_it_teaches(ray_address):
    """With the page's own defaults the three runs end with different numbers of active units: plain fewest,
    warm-up more, free bits all of them."""
    at = page("app_pages/warmup_free_bits.py").run()
    at.button(key="warmup_run").click().run()
    job = at.session_state[state.COMPARE]
    at.run()
    assert all(s.startswith(("queued", "starting", "epoch")) for s in at.dataframe[0].value["status"])
    line = str(at.get("progress")[0].proto.text)  # the three trained as one program: one line (each named, they
    assert line.startswith("comparison: 3 runs trained as one program · "), line  # filled two lines with one step)
    job.join(timeout=240)
    at.run()
    # listed in the picker as they end (they were missing until a reload: read as lost)
    assert all(str(run.checkpoint) in at.session_state[state.MY_MODELS] for run in job)
    table = at.dataframe[0].value
    assert list(table["run"]) == ["plain", "warm-up over 30 epochs", "free bits λ=0.5"]
    # what the lesson asks about before the status, which took an 800 px window's width from the test −ELBO
    assert list(table.columns) == ["run", "active units", "test KL", "test −ELBO", "status"]
    assert list(table["status"]) == ["done after 40 epochs"] * 3 and "None" not in str(table.values)
    plain, warm, free = (int(v) for v in table["active units"])
    assert plain < warm < free == 8, (plain, warm, free)
    # each unit's KL at the end, the three runs side by side, as their checkpoints keep it; the caption's range for
    # free bits is its units' (the page said free bits "keep every unit above λ": at β = 2 three of eight were under)
    import json

    from headless import plotly_array
    from vae_core import load_checkpoint

    chart = next(c for c in at.get("plotly_chart") if "warmup_unit_kls" in c.proto.id)
    bars = {}  # run: {unit: KL}, from its active and its collapsed units' traces
    for trace in json.loads(chart.proto.spec)["data"]:
        if trace["name"] in list(table["run"]):
            bars.setdefault(trace["name"], {}).update(zip(trace["x"], plotly_array(trace["y"]).tolist()))
    assert list(bars) == list(table["run"])
    kept = [load_checkpoint(run.checkpoint).metrics["kl_per_dim"] for run in job]
    from vae_core.checkpoint import summarize  # listed as saved runs: their β and the second they started said

    names = [summarize(run.checkpoint).name for run in job]
    from ui.sidebar import short_label  # whole in the picker (a longer group's name lost its β to the ellipsis)

    assert [short_label(str(run.checkpoint)) for run in job] == names
    assert all(re.fullmatch(r"warmup-beta2 \d\d:\d\d:\d\d · (plain|warmup|freebits)", n) for n in names), names
    for shown, saved in zip(bars.values(), kept):
        assert [shown[f"z{i}"] for i in range(8)] == pytest.approx(saved)
    said = next(c.value for c in at.caption if "Under free bits" in c.value)
    free_kls = kept[2]
    assert f"{min(free_kls):.2f} to {max(free_kls):.2f} nats" in said, said
    # every unit counted active is a bar a reader sees, or is named with its KL (6 active beside 3 visible bars)
    top = max(kl for kls in kept for kl in kls)
    faint = dict(reversed(part.rsplit(" in ", 1)) for part in said.split("too short to see: ")[-1].split(". ")[0]
                 .split("; ")) if "too short to see" in said else {}
    for name, run, kls in zip(table["run"], job, kept):
        activity = load_checkpoint(run.checkpoint).metrics["activity"]
        for i, (kl, a) in enumerate(zip(kls, activity)):
            if a > 0.01 and kl < 0.02 * top:
                assert f"z{i} ({kl:.2g} nats)" in faint.get(name, ""), (name, i, said)
    again = page("app_pages/warmup_free_bits.py")  # a reload: a new session finds the browser's runs, and its form
    job.runs[0].given = job.runs[0].given.replace(beta=2.5)  # what they were started with (β = 2 was shown above
    again.session_state[state.COMPARE] = job                 # results trained at β = 4): the plain run's β here
    again.run()
    assert not again.exception and again.number_input(key="warmup_beta").value == 2.5
    assert [again.number_input(key=k).value for k in ("warmup_epochs", "warmup_T", "warmup_lambda")] == [40, 30, 0.5]
    near = all(abs(kl - 0.5) <= 0.125 for kl in free_kls)
    assert ("near λ = 0.5" in said) == near and "above λ" not in said.split(":")[0], said


def test_a_number_out_of_range_is_named_and_the_runs_cannot_start():
    """Out of its field's range, a number was kept from before without a word (the field red in a browser): the
    button trained with the β typed before. The page names the field and the button waits."""
    at = page("app_pages/warmup_free_bits.py").run()
    at.number_input(key="warmup_beta").set_value(25.0).run()
    assert [e.value for e in at.error] == ["β takes 0.5 to 20, not 25."]
    assert at.button(key="warmup_run").disabled
    at.number_input(key="warmup_beta").set_value(4.0).run()
    assert not at.error and not at.button(key="warmup_run").disabled
