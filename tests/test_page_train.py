"""The train page, run headless: a run saved and listed, the form's refusals, and a run that waits on
the cluster."""
from pathlib import Path

import pytest
import torch

from headless import app_test as page
from headless import ROOT, browser_pictures
from ui import live, state
from vae_core.runs import Run, RunState
from vae_core.training import native_bf16
from waiting import wait_until

pytestmark = pytest.mark.usefixtures("private_runs")


def start_fastest(at, hidden: str = "32", **numbers) -> Run:
    """Start a run from the form as fast as it goes, with these hidden sizes and number fields (train_<name>)."""
    for name, value in numbers.items():
        at.number_input(key=f"train_{name}").set_value(value)
    at.text_input(key="train_hidden").set_value(hidden)
    at.selectbox(key="train_speed").set_value(live.FASTEST)
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    return at.session_state[state.JOB]


def test_training_from_the_page_saves_a_model_and_lists_it(tmp_path, ray_address):
    at = page("app_pages/train.py").run()
    at.number_input(key="train_epochs").set_value(2)
    at.text_input(key="train_hidden").set_value("32")
    at.selectbox(key="train_speed").set_value(live.FASTEST)  # watchable, the default, would take 24 s
    at.selectbox(key="train_precision").set_value("bf16")
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    job = at.session_state[state.JOB]
    assert at.button(key="FormSubmitter:train_form-Start training").disabled  # drawn again once the run began
    job.join(timeout=60)
    assert job.state == "done", job.message
    at.run()
    assert "saved" in at.success[0].value
    emulated = not native_bf16(torch.device("cpu"))  # (what this reads is tested in test_training)
    assert any("without native bfloat16" in w.value for w in at.warning) == emulated, [w.value for w in at.warning]
    assert ("auto is fp32 here" in at.selectbox(key="train_precision").help) == emulated
    assert str(job.checkpoint) in at.session_state[state.MY_MODELS]
    assert at.session_state[state.MODEL] == str(job.checkpoint)
    assert Path(job.checkpoint, "model.safetensors").exists() and str(tmp_path / "runs") in str(job.checkpoint)
    # the page's defaults keep a recording, and the new model (now the chosen one) is replayed below
    replay = browser_pictures(at)["replay"]
    assert replay["steps"][0] == 0 and replay["steps"][-1] == 2 * job.steps_per_epoch and len(replay["steps"]) >= 10
    # its curves: each epoch's train means of -ELBO (recon + KL) and test values, at the step the epoch ended
    history = job.history
    assert [p[0] for p in replay["curves"]["train"]] == [job.steps_per_epoch, 2 * job.steps_per_epoch]
    assert replay["curves"]["train"][1][1] == pytest.approx(history[1]["train_recon"] + history[1]["train_kl"],
                                                            abs=0.01)
    assert replay["curves"]["test"][0][1] == pytest.approx(history[0]["test_nelbo"], abs=0.001)
    assert replay["curves"]["total"] == replay["steps"][-1]
    # Another model chosen (a classmate's link, the sidebar): its replay, and this run in one line above it, not
    # this run's message, curves and reconstructions over another's replay (a class read them as one run)
    at.session_state[state.MODEL] = str(ROOT / "models" / "digits-2d")
    at.run()
    assert not at.success and any(c.value.startswith("Your last run: finished 2 epochs; saved as") for c in at.caption)
    assert not any(c.proto.id and "train_curves" in c.proto.id for c in at.get("plotly_chart"))
    assert at.subheader[0].value == "How digits-2d learned"


def test_the_form_takes_the_chosen_model_s_settings_to_train_it_again_beside_its_replay(tmp_path, ray_address):
    """digits-2d's recipe (batch 64, 150 epochs, fp32) filled in at a click, where the form's defaults (batch 128,
    10 epochs) trained another model than the one replayed below; a model trained from the command line past the
    form's ranges is brought into them and says so, one whose β changed mid-run gives the β it began with, and one
    trained on the pixels' mean reconstruction trains so again."""
    from vae_core import load_checkpoint, save_checkpoint

    at = page("app_pages/train.py", **{state.MODEL: str(ROOT / "models" / "digits-2d")}).run()
    assert at.number_input(key="train_batch").value == 128
    at.selectbox(key="train_speed").set_value("30 steps/s")  # a last run's, say: the recipe's 3,600 steps in 2 min
    at.button(key="fill_in").click().run()
    assert not at.exception
    values = {key: at.number_input(key=key).value for key in ("train_batch", "train_epochs", "train_latent",
                                                              "train_beta", "train_seed")}
    assert values == {"train_batch": 64, "train_epochs": 150, "train_latent": 2, "train_beta": 1.0, "train_seed": 0}
    assert at.text_input(key="train_hidden").value == "256"
    assert at.selectbox(key="train_precision").value == "fp32"
    assert at.caption[0].value == ("The form holds digits-2d's settings: Start trains it again, live, to compare "
                                   "with its replay below.")
    assert at.selectbox(key="train_speed").value == live.WATCHABLE

    shipped = load_checkpoint(ROOT / "models" / "digits-2d")
    model = shipped.model
    model.config = model.config.replace(epochs=1000, beta=4.0)
    history = [{**shipped.history[0], "changes": [{"step": 5, "beta": 4.0, "beta_before": 0.5}]}]
    path = save_checkpoint(model, tmp_path / "long", history, shipped.metrics)
    at.session_state[state.MODEL] = str(path)
    at.run()
    at.button(key="fill_in").click().run()
    assert at.number_input(key="train_epochs").value == 500 and at.number_input(key="train_beta").value == 0.5
    assert at.caption[0].value.endswith(", except epochs 500 (it had 1000, past what this form takes): Start "
                                        "trains it again, live.")  # (no recording was saved with it: no replay)

    # the model that shows a collapse by averaging the reconstruction over pixels keeps that (the form had no field
    # for it, and the run trained with the sum: no collapse, under a line that said it trained the model again)
    at.session_state[state.MODEL] = str(ROOT / "models" / "digits-8d-mean-recon")
    at.run()
    at.button(key="fill_in").click().run()
    assert at.selectbox(key="train_reduction").value == "mean" and at.number_input(key="train_latent").value == 8
    at.number_input(key="train_epochs").set_value(1)
    at.selectbox(key="train_speed").set_value(live.FASTEST)
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    job = at.session_state[state.JOB]
    assert job.config.recon_reduction == "mean" and job.config.latent_dim == 8
    job.join(timeout=60)
    assert job.state == "done", job.message


def test_a_model_without_a_recording_says_so_and_a_broken_recording_is_told_not_raised(tmp_path):
    import shutil

    at = page("app_pages/train.py", **{state.MODEL: str(ROOT / "models" / "mnist-16d")}).run()
    assert not at.exception and "replay" not in browser_pictures(at)
    assert any("carries no recording" in c.value for c in at.caption)
    broken = tmp_path / "runs" / "broken"
    shutil.copytree(ROOT / "models" / "digits-2d", broken)
    (broken / "recording.safetensors").write_bytes(b"not a recording")
    at = page("app_pages/train.py", **{state.MODEL: str(broken)}).run()
    assert not at.exception and "cannot be replayed" in at.warning[0].value


def test_a_run_starts_watchable_by_default_the_slowest_speed_that_ends_it_within_a_minute(ray_address):
    """The digits default (10 epochs of 12 steps) at 3 steps a second, 40 s: as fast as possible, the default
    before, ended it before its live view had shown anything, and at 10 a second (the slowest within 30 s) it was
    over before a lecturer's pause near step 80 landed. digits-2d's 3,600 steps go at 100 a second (as fast as they
    go they were over in 20 s); a run too long to end within a minute goes as fast as it can."""
    assert [live.start_speed(live.WATCHABLE, n) for n in (24, 60, 61, 120, 180, 181, 720, 3600, 6000, 6001)] == [
        1, 1, 3, 3, 3, 10, 30, 100, 100, None]
    assert live.start_speed("3 steps/s", 4690) == 3 and live.start_speed(live.FASTEST, 24) is None
    at = page("app_pages/train.py").run()
    assert at.selectbox(key="train_speed").value == live.WATCHABLE
    at.text_input(key="train_hidden").set_value("32")
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    job = at.session_state[state.JOB]
    try:
        assert job.speed_limit == 3
        at.run()
        assert at.select_slider(key=f"speed_{job.id}").value == "3 steps/s"  # the live control starts there
        job.change(beta=5.0)
        at.select_slider(key=f"speed_{job.id}").set_value(live.FASTEST).run()
        job.join(timeout=60)
    finally:
        job.stop()
        job.join(timeout=60)
    assert job.state == "done" and job.speed_limit is None and job.config.beta == 5.0  # where it was steered to
    again = page("app_pages/train.py")  # a reload: a new session, which finds the browser's run
    again.session_state[state.JOB] = job
    again.run()  # its form shows what the run started with (a walk-through found a run slowed to 1 step a second
    # leaving that speed in the form: a 20-minute run for the next Start), not where it was steered
    assert again.selectbox(key="train_speed").value == "3 steps/s" and again.number_input(key="train_beta").value == 1


def test_bad_hidden_sizes_are_refused_with_a_message():
    at = page("app_pages/train.py").run()
    at.text_input(key="train_hidden").set_value("12a")
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    assert "hidden sizes must be comma-separated integers like 400 or 512,256, got '12a'" in at.error[0].value
    at.text_input(key="train_hidden").set_value("0")
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    assert "hidden sizes must be one or more positive integers" in at.error[0].value
    assert state.JOB not in at.session_state


def test_numbers_out_of_range_are_refused_each_named_and_nothing_starts():
    """In a browser the fields' own range turned a field red and left Start doing nothing, without a word: the
    page checks the range itself, names each field, and starts nothing."""
    at = page("app_pages/train.py").run()
    assert "from 1 to 500" in at.number_input(key="train_epochs").help  # the range, where the field is
    at.number_input(key="train_epochs").set_value(0)
    at.number_input(key="train_seed").set_value(-3)
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    assert [e.value for e in at.error] == ["Epochs takes 1 to 500, not 0; Seed takes 0 to 2,147,483,647, not -3."]
    assert state.JOB not in at.session_state


def test_a_huge_model_is_refused_by_the_train_form_with_the_limit():
    at = page("app_pages/train.py").run()
    at.text_input(key="train_hidden").set_value("100000,100000")
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    assert "above the limit of 50,000,000" in at.error[0].value and state.JOB not in at.session_state


def test_a_run_that_waits_for_the_cluster_says_queued_and_how_many_are_ahead(digits, tmp_path, quiet_cluster,
                                                                             ray_address):
    """The session's node has 2 CPUs: two running digits jobs fill it, one more waits; the page's run is next."""
    from vae_core import Config
    from vae_core.runs import start_runs

    long = Config(dataset="digits", hidden=(32,), epochs=100_000, batch_size=100)  # until stopped
    others = [start_runs(long, digits, tmp_path / f"other-{i}", cpus=1).runs[0] for i in range(3)]
    try:
        wait_until(lambda: sorted(j.state for j in others) == ["queued", "running", "running"], 120,
                   lambda: [(j.state, j.message) for j in others])
        running = [j for j in others if j.state == "running"]
        waiting = next(j for j in others if j.state == "queued")
        at = page("app_pages/train.py").run()
        at.number_input(key="train_epochs").set_value(3)
        at.selectbox(key="train_speed").set_value(live.FASTEST)
        at.button(key="FormSubmitter:train_form-Start training").click().run()
        job = at.session_state[state.JOB]
        wait_until(lambda: job.state == "queued", 120, lambda: job.state)
        at.run()
        assert "queued: 1 job ahead (jobs start in the order they came)" in str(at.get("progress")[0].proto.text)
        at.button(key=f"pause_{job.id}").click().run()  # a pause holds it at its first step; no step before it starts
        assert at.button(key=f"step_{job.id}").disabled and at.button(key=f"epoch_{job.id}").disabled
        at.button(key=f"resume_{job.id}").click().run()
        running[0].stop()  # a CPU frees up: the job queued before ours starts, and ours is next
        wait_until(lambda: waiting.state == "running", 120, lambda: (waiting.state, job.state))
        at.run()
        assert "queued: next to start, when a Ray worker with 1 CPU is free (2 training here now)" in str(
            at.get("progress")[0].proto.text)
        running[1].stop()
        job.join(timeout=120)
        assert job.state == "done", job.message
    finally:
        for j in others:
            j.stop()
        for j in others:
            j.join(timeout=60)


def test_a_queued_run_counts_paused_runs_apart_from_training_ones(monkeypatch):
    """A class's queue line said "3 training here now" on two CPUs: one of the three was paused, its CPU lent."""
    from types import SimpleNamespace

    from ui import progress
    from vae_core.runs import RunState

    job = SimpleNamespace(state=RunState.QUEUED, ahead=0, cpus=1)
    others = [SimpleNamespace(state=RunState.RUNNING, held=held) for held in (False, False, True)]
    monkeypatch.setattr(progress, "submitted", lambda: [job, *others])
    assert progress.waiting(job) == ("queued: next to start, when a Ray worker with 1 CPU is free (2 training here "
                                     "now, 1 paused)")
    others[2].held = False
    assert progress.waiting(job).endswith("(3 training here now)")


def test_a_run_with_short_epochs_shows_its_real_step(ray_address):
    """Digits at a batch of 500 take 3 steps an epoch, far shorter than a flush of step losses (0.25 s), and its
    evaluation takes longer than its training: the line read "step 0/3" throughout. It now counts the steps
    from the start of the run, so what it shows grows past one epoch's worth and never falls back. The line of a
    running run is its live view's, read from the feed the browser fetches; the page draws none of its own."""
    import json
    import re

    from ui import served

    at = page("app_pages/train.py").run()
    job = start_fastest(at, epochs=400, batch=500)
    seen = []
    try:
        wait_until(lambda: job.state == "running", 120, lambda: (job.state, job.message))
        at.run()
        assert not at.get("progress") and at.button(key=f"stop_{job.id}")  # the view's line, the page's Stop
        feed = served.FOLDER / live.feed(job).rsplit("/", 1)[-1]

        def shown() -> bool:
            line = json.loads(feed.read_text())["progress"]["text"]
            step = re.search(r"step ([\d,]+) of ([\d,]+)", line)
            if step:
                if not seen or int(step.group(1).replace(",", "")) != seen[-1]:
                    seen.append(int(step.group(1).replace(",", "")))
                assert step.group(2) == "1,200", line  # 400 epochs of 3 steps
                assert "on a Ray worker with " in line and str(job.worker.pid) not in line, line
            return len(seen) >= 3 and seen[-1] > max(seen[0], 3 * job.steps_per_epoch)

        wait_until(shown, 120, lambda: seen, interval=0.2)
    finally:
        job.stop()
        job.join(timeout=60)
    assert job.steps_per_epoch == 3 and seen == sorted(seen) and seen[-1] > seen[0]


def test_a_batch_larger_than_the_training_set_is_said_to_make_one_step_an_epoch(ray_address, digits):
    """A batch of 4,096 on digits trained one step an epoch, and nothing said so: the walk-through's curves were
    three points long and it did not know why."""
    at = page("app_pages/train.py").run()
    job = start_fastest(at, "16", epochs=3, batch=4096)
    job.join(timeout=120)
    at.run()
    told = f"Batch size 4,096 is more than digits's {len(digits.train_x):,} training images: each epoch is one " \
           "step over all of them, 3 steps in all."
    assert not at.exception and job.steps_per_epoch == 1 and told in [c.value for c in at.caption]
    assert job.config.replace(batch_size=len(digits.train_x)).whole_batch_note(len(digits.train_x)) is None


class EndsWhileTheAppLooks(Run):
    """A finished run that still said it trained when app.py first looked: a run that ends in a Stop's rerun after
    app.py's check, before the page draws it."""
    looks = 0

    @property
    def active(self) -> bool:
        self.looks += 1
        return self.looks == 1


def test_a_run_that_ends_while_the_page_is_drawn_becomes_the_sidebar_s_model(tmp_path):
    """The page drew "saved as" while the sidebar, drawn before the run ended, kept the old model until a click."""
    from vae_core import VAE, Config, load_dataset, save_checkpoint

    config = Config(dataset="digits", hidden=(16,), epochs=1)
    folder = save_checkpoint(VAE(config), tmp_path / "runs" / "the-run", [], {"nelbo": 30.0, "recon": 28.0,
                                                                              "kl": 2.0})
    run = EndsWhileTheAppLooks(config=config, data=load_dataset("digits"), folder=folder, state=RunState.DONE,
                               checkpoint=folder, message="finished 1 epoch; saved as the-run")
    at = page("app_pages/train.py")
    at.session_state[state.JOB] = run
    at.run()
    assert not at.exception, at.exception
    assert run.looks > 1 and at.session_state[state.MODEL] == str(folder)
    assert "MLP 16, latent 2" in " ".join(c.value for c in at.sidebar.caption)  # its caption, drawn again


def test_a_run_stopped_in_the_queue_draws_no_empty_curves():
    """"stopped before it started: nothing saved" stood over a chart with empty axes."""
    from vae_core import Config, load_dataset
    from vae_core.runs import Run

    run = Run(config=Config(dataset="digits", hidden=(16,), epochs=1), data=load_dataset("digits"),
              folder=ROOT / "runs" / "never", state=RunState.STOPPED, message="stopped before it started: nothing saved")
    at = page("app_pages/train.py", **{state.JOB: run}).run()
    assert not at.exception and [w.value for w in at.warning] == ["stopped before it started: nothing saved"]
    assert not any("train_curves" in c.proto.id for c in at.get("plotly_chart"))
