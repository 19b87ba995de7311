"""The beta sweep page, run headless: the shipped sweep's plane and a sweep run from the page."""
import json

import pytest

from headless import app_test as page
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
    at.multiselect(key="sweep_betas").set_value([0.3, 3.0])
    at.number_input(key="sweep_epochs").set_value(2)
    at.button(key="FormSubmitter:sweep_form-Run the sweep").click().run()
    at.session_state[state.SWEEP].join(timeout=60)
    at.run()
    mine = next(t for t in _figure(at, "sweep_plane")["data"] if t.get("name") == "your sweep")
    assert len(mine["x"]) == 2
