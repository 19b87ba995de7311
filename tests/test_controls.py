"""Controls on a run while it trains (vae_core/controls.py), in-process on the bundled digits: pause holds the
training thread without CPU and resumes from the same step, one step is one batch, finish_epoch runs to the epoch's
end, the speed limit paces the steps, and beta or the learning rate changed mid-run are used from the next step and
recorded in that epoch's record."""
import threading
import time

import pytest

from vae_core import VAE, Config, ConfigError, train
from vae_core.controls import Controls
from vae_core.events import Changed, EpochEvent, Held, StepEvent
from waiting import wait_until

SMALL = Config(dataset="digits", hidden=(32,), latent_dim=2, batch_size=100, epochs=3, seed=1)  # 15 steps an epoch


class Watched:
    """A training in a thread of its own, with its events collected."""

    def __init__(self, data, config, controls, on_event=None):
        self.events, self.controls, self.on_event = [], controls, on_event
        self.thread = threading.Thread(target=self._train, args=(data, config), daemon=True)
        self.thread.start()

    def _train(self, data, config):
        self.history = train(VAE(config), data, config, callback=self._event, stop=self.controls)

    def _event(self, event):
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    @property
    def steps(self) -> list[tuple[int, int]]:
        return [(e.epoch, e.step) for e in list(self.events) if isinstance(e, StepEvent)]

    def cpu_seconds(self) -> float:
        return time.clock_gettime(time.pthread_getcpuclockid(self.thread.ident))


def pause_at(controls, epoch, step):
    return lambda e: controls.pause() if isinstance(e, StepEvent) and (e.epoch, e.step) == (epoch, step) else None


def test_pause_holds_the_run_without_cpu_and_resume_goes_on_from_the_same_step(digits):
    controls = Controls()
    run = Watched(digits, SMALL, controls, pause_at(controls, 1, 5))
    # the loop says when it holds, with the steps taken (a page said "paused" at the click, and steps followed)
    wait_until(lambda: any(isinstance(e, Held) for e in list(run.events)), 60, "the hold")
    held, cpu = len(run.steps), run.cpu_seconds()
    assert [e for e in run.events if isinstance(e, Held)] == [Held(5)] and isinstance(run.events[-1], Held)
    time.sleep(1.0)
    assert len(run.steps) == held == 5 and controls.paused and run.thread.is_alive()
    assert run.cpu_seconds() - cpu < 0.02, "a paused run used CPU"
    controls.step()  # one step, then it holds again, and says so
    wait_until(lambda: sum(isinstance(e, Held) for e in list(run.events)) == 2, 60, "the second hold")
    assert [e for e in run.events if isinstance(e, Held)] == [Held(5), Held(6)] and len(run.steps) == 6
    controls.resume()
    run.thread.join(60)
    assert run.steps == [(e, s) for e in (1, 2, 3) for s in range(1, 16)]  # none lost, none twice
    assert len(run.history.epochs) == 3


def test_a_run_left_paused_past_its_limit_stops_keeping_its_finished_epochs_and_a_command_starts_the_limit_again(
        digits):
    """A paused run keeps its task's CPUs: one left paused in a closed tab held a CPU for good while other students'
    runs queued. Left paused for pause_limit seconds with no command, it stops as a stop would (its finished epochs
    kept); each command (a step here) starts the limit again."""
    controls = Controls(pause_limit=1.0)
    run = Watched(digits, SMALL, controls, pause_at(controls, 2, 3))
    wait_until(lambda: controls.paused and len(run.steps) >= 18, 60, "a pause in epoch 2")
    for _ in range(3):  # a step every 0.6 s: never 1 s without a command
        time.sleep(0.6)
        controls.step()
    wait_until(lambda: len(run.steps) >= 21, 10, "the three steps")
    assert run.thread.is_alive() and not controls.left_paused
    began = time.monotonic()
    run.thread.join(10)
    assert not run.thread.is_alive() and 0.9 < time.monotonic() - began < 2.5
    assert controls.left_paused and controls.is_set() and run.history.stopped
    assert len(run.history.epochs) == 1 and run.steps[-1] == (2, 6)


def test_without_a_limit_a_pause_lasts_until_a_command(digits):
    controls = Controls()
    run = Watched(digits, SMALL, controls, pause_at(controls, 1, 2))
    wait_until(lambda: controls.paused and len(run.steps) >= 2, 60, "a pause")
    run.thread.join(1.5)
    assert run.thread.is_alive() and not controls.left_paused
    controls.stop()
    run.thread.join(10)


def test_one_step_is_one_batch_and_finish_epoch_runs_to_the_epoch_s_end(digits):
    controls = Controls()
    run = Watched(digits, SMALL, controls, pause_at(controls, 1, 3))
    wait_until(lambda: len(run.steps) == 3, 60, "three steps")
    time.sleep(0.3)
    controls.step()
    wait_until(lambda: len(run.steps) == 4, 30, "one more step")
    time.sleep(0.5)
    assert run.steps[-1] == (1, 4) and len(run.steps) == 4
    controls.finish_epoch()
    wait_until(lambda: any(isinstance(e, EpochEvent) for e in list(run.events)), 30, "the end of the epoch")
    time.sleep(0.5)
    assert run.steps[-1] == (1, 15) and controls.paused
    controls.stop()
    run.thread.join(30)
    assert run.history.stopped and len(run.history.epochs) == 1


def test_a_speed_limit_paces_the_steps(digits):
    controls = Controls()
    controls.speed(20)
    start = time.monotonic()
    Watched(digits, SMALL.replace(epochs=1), controls).thread.join(60)
    assert time.monotonic() - start >= 14 / 20  # 15 steps, 1/20 s apart at least
    controls.speed(None)


def test_beta_and_the_learning_rate_changed_mid_run_are_used_from_the_next_step_and_recorded(digits):
    controls = Controls()

    def change(event):
        if isinstance(event, StepEvent) and (event.epoch, event.step) == (2, 4):
            controls.change(beta=3.0, lr=2e-3)

    run = Watched(digits, SMALL, controls, change)
    run.thread.join(60)
    changed = [e for e in run.events if isinstance(e, Changed)]
    assert changed == [Changed(step=15 + 5, epoch=2, beta=3.0, lr=2e-3)]
    betas = {(e.epoch, e.step): e.beta for e in run.events if isinstance(e, StepEvent)}
    assert betas[(2, 4)] == 1.0 and betas[(2, 5)] == 3.0 and betas[(3, 15)] == 3.0
    for e in run.events:  # the loss is recon + beta * KL with the beta in force (no free bits)
        if isinstance(e, StepEvent):
            assert e.loss == pytest.approx(e.recon + e.beta * e.kl, rel=1e-4)
    records = run.history.epochs
    assert records[1]["changes"] == [{"step": 20, "beta": 3.0, "lr": 2e-3, "beta_before": 1.0, "lr_before": 1e-3}]
    assert "changes" not in records[0]
    assert records[2]["beta"] == 3.0 and records[2]["lr"] == 2e-3 and records[0]["lr"] == SMALL.lr


def test_a_change_a_config_would_refuse_is_refused_where_it_is_asked(digits):
    controls = Controls()
    for bad in ({"beta": -1.0}, {"lr": 0.0}, {"lr": float("nan")}):
        with pytest.raises(ConfigError):
            controls.change(**bad)
    assert controls.take_changes() == {}


def test_a_duration_is_told_in_the_unit_a_person_reads_it_in():
    """(A run's time left read "about 207508 s".)"""
    from vae_core.controls import duration_text

    assert [duration_text(s) for s in (30, 119, 600, 2938, 7199, 8640, 207508, 3e6)] == [
        "30 s", "119 s", "10 minutes", "49 minutes", "120 minutes", "2.4 hours", "2.4 days", "35 days"]
