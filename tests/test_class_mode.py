"""Class mode, run headless: a session lists no one else's runs, but a link opens a run trained here."""
import pytest

from headless import app_test as page
from headless import linked_page
from ui import state

pytestmark = pytest.mark.usefixtures("private_runs")


@pytest.mark.parametrize("class_mode", [False, True])
def test_in_class_mode_a_session_does_not_list_other_people_s_runs(tmp_path, monkeypatch, class_mode):
    from vae_core import VAE, Config, save_checkpoint
    from vae_core.checkpoint import new_run_dir, shown_name

    runs = tmp_path / "runs"  # the private_runs fixture's folder: someone else's run lies there
    other = save_checkpoint(VAE(Config(dataset="digits", hidden=(8,))), new_run_dir(runs, "someone-else"))
    monkeypatch.setenv("VAE_CLASS_MODE", "1" if class_mode else "")
    at = page("app_pages/home.py").run()
    listed = [option for box in at.sidebar.selectbox for option in box.options]  # as labels
    assert any(option.startswith(shown_name(other.name)) for option in listed) is not class_mode
    assert ("Open a saved run" in [e.label for e in at.sidebar.expander]) is not class_mode


def test_a_run_trained_here_is_opened_by_its_link_in_class_mode(tmp_path, monkeypatch):
    from vae_core import VAE, Config, save_checkpoint
    from vae_core.checkpoint import new_run_dir, shown_name

    monkeypatch.setenv("VAE_CLASS_MODE", "1")
    run = save_checkpoint(VAE(Config(dataset="digits", hidden=(8,))), new_run_dir(tmp_path / "runs", "shared"))
    browser = {state.OWNER: "5f1c" * 8}  # one browser's cookie, in this session and its next
    other, _ = linked_page("app_pages/home.py", {"model": f"runs/{run.name}"}, **browser)
    assert not other.exception and other.session_state[state.MODEL] == str(run)
    assert any(o.startswith(shown_name(run.name)) for o in other.sidebar.selectbox(key="_model_picker").options)
    # kept in that browser's list as its own runs are (its next visit, a new session, had lost it) and in nobody
    # else's
    assert str(run) in page("app_pages/home.py", **browser).run().session_state[state.MY_MODELS]
    assert str(run) not in page("app_pages/home.py", **{state.OWNER: "0b7e" * 8}).run().session_state[state.MY_MODELS]
    # likewise where the link made it Compare's B
    linked_page("app_pages/compare.py", {"model": "digits-2d", "b": f"runs/{run.name}"}, **{state.OWNER: "77aa" * 8})
    assert str(run) in page("app_pages/home.py", **{state.OWNER: "77aa" * 8}).run().session_state[state.MY_MODELS]


@pytest.mark.parametrize("class_mode", [False, True])
def test_in_class_mode_home_does_not_name_the_server_s_data_folder(mnist_dir, monkeypatch, class_mode):
    """Home said where the MNIST files lie on the server ("mnist test images from /srv/..."): in a class that is the
    server's business. On a person's own machine it still says where they were found."""
    from headless import ROOT

    monkeypatch.setenv("VAE_CLASS_MODE", "1" if class_mode else "")
    at = page("app_pages/home.py", **{state.MODEL: str(ROOT / "models" / "mnist-2d")}).run()
    assert not at.exception
    caption = next(c.value for c in at.caption if "test images" in c.value)
    assert caption.startswith("the first 16 of the 10,000 mnist test images")
    assert (str(mnist_dir) in caption) is not class_mode


@pytest.mark.parametrize("class_mode", [False, True])
def test_in_class_mode_a_checkpoint_s_error_does_not_name_the_server_s_folders(tmp_path, monkeypatch, class_mode):
    """An unreadable upload's message gave where it lay on the server (/srv/.../runs/uploads/…/metrics.json)."""
    from vae_core import VAE, Config, save_checkpoint
    from vae_core.checkpoint import METRICS, new_run_dir

    monkeypatch.setenv("VAE_CLASS_MODE", "1" if class_mode else "")
    run = save_checkpoint(VAE(Config(dataset="digits", hidden=(8,))), new_run_dir(tmp_path / "runs", "broken"))
    (run / METRICS).write_text('{"history": [], "metrics": {"nelbo": "lots"}}')
    at = page("app_pages/home.py", **{state.MODEL: str(run)}).run()
    said = at.sidebar.error[0].value
    assert "metrics.nelbo must be a finite number" in said and said.endswith("Showing the default model instead.")
    assert (str(tmp_path) in said) is not class_mode
    if class_mode:
        assert said.startswith(f"runs/{run.name}/{METRICS}: "), said


def test_runs_alike_are_told_apart_by_their_random_part_where_both_are_listed(tmp_path, monkeypatch):
    """A lecturer opened the links of two students who pressed Train in the same second with the same settings: the
    picker listed two identical names, so whose run was shown could not be told."""
    from vae_core import VAE, Config, save_checkpoint

    monkeypatch.setenv("VAE_CLASS_MODE", "1")
    model = VAE(Config(dataset="digits", hidden=(8,), latent_dim=2))
    runs = [str(save_checkpoint(model, tmp_path / "runs" / f"20261206-101500-digits-z2-beta1-{token}"))
            for token in ("5f1c0a93e2b7", "0b7e11d2c3a4", "77aa00bb11cc")]
    runs[2] = str(save_checkpoint(model, tmp_path / "runs" / "20261206-101501-digits-z2-beta1-77aa00bb11cc"))
    at = page("app_pages/home.py", **{state.MY_MODELS: runs, state.MODEL: runs[0]}).run()
    assert not at.exception
    listed = at.sidebar.selectbox(key=state.MODEL_PICKER).options
    # (their date left out, to keep their settings whole: "20261206-101500-di…-z2-beta1 #5f1c" before)
    assert "101500-digits-z2-beta1 #5f1c" in listed and "101500-digits-z2-beta1 #0b7e" in listed
    assert "20261206-101501-digits-z2-beta1" in listed  # one second later: no tag, nothing to tell apart
    assert at.sidebar.caption[0].value.startswith("Run #5f1c: MLP 8, latent 2, β=1")  # in a tab of its own too
    at = page("app_pages/compare.py", **{state.MY_MODELS: runs, state.MODEL: runs[2]}).run()
    assert sum(o.startswith("101500-digits-z2-beta1 #") for o in at.selectbox(key="compare_other").options) == 2


def test_a_browser_s_list_of_runs_survives_garbage_reads_only_its_end_and_holds_each_run_once(tmp_path, monkeypatch):
    """runs/.owners/<digest> is a file on disk: one line of bytes that are not UTF-8 lost the browser all its runs, the
    whole file was read however large, and the same file uploaded again appended its line again, without end."""
    import tracemalloc

    from ui import my_runs
    from vae_core import VAE, Config, save_checkpoint

    runs, index = tmp_path / "runs", tmp_path / "runs" / ".owners" / "someone"
    monkeypatch.setenv("VAE_RUNS_DIR", str(runs))
    monkeypatch.setattr(my_runs, "_index", lambda: index)
    model = VAE(Config(dataset="digits", hidden=(8,), latent_dim=2))
    mine = [str(save_checkpoint(model, runs / name).resolve()) for name in ("a", "b")]
    my_runs.remember(mine[0])
    with open(index, "ab") as f:
        f.write(b"\xff\xfe garbage\n" + b"x" * 50_000_000 + b"\n" + b"\x00" * 10 + b"\n")
    for _ in range(3):
        my_runs.remember(mine[1])
    tracemalloc.start()
    assert my_runs.remembered() == [mine[1]]  # (the first is 50 MB before the end: past the lines read back)
    assert tracemalloc.get_traced_memory()[1] < 8 * 2**20
    tracemalloc.stop()
    assert index.read_bytes().count(mine[1].encode()) == 1
    index.write_bytes(mine[0].encode() + b"\n\xff\xfe garbage\n" + mine[1].encode() + b"\n")
    assert my_runs.remembered() == mine


@pytest.mark.parametrize("class_mode", [True, False])
def test_in_class_mode_a_session_runs_one_job_at_a_time(digits, tmp_path, monkeypatch, ray_address, class_mode):
    """A student started a Train run, a sweep and the warm-up runs together, three jobs on a class's two cores. In
    class mode the other pages' starts wait until a session's job has ended, and say why; alone, nothing waits."""
    from vae_core import Config
    from vae_core.runs import RunState, start_runs
    from vae_core.tradeoff import sweep_configs
    from waiting import wait_until

    monkeypatch.setenv("VAE_CLASS_MODE", "1" if class_mode else "")
    base = Config(dataset="digits", hidden=(32,), latent_dim=2, epochs=200)
    sweep = start_runs(sweep_configs(base, [0.5, 2.0]), digits, tmp_path / "sweep")
    try:
        wait_until(lambda: any(r.state == RunState.RUNNING for r in sweep), 120, "the sweep to start")
        told = "One job at a time in class mode: your sweep on the Beta sweep page still trains."
        for path, button in (("app_pages/train.py", "FormSubmitter:train_form-Start training"),
                             ("app_pages/warmup_free_bits.py", "warmup_run")):
            at = page(path, **{state.SWEEP: sweep}).run()
            assert not at.exception
            assert at.button(key=button).disabled == class_mode, path
            assert (told in [c.value for c in at.caption]) == class_mode, path
        at = page("app_pages/beta_sweep.py", **{state.SWEEP: sweep}).run()  # its own page: its own Stop
        assert at.button(key="FormSubmitter:sweep_form_digits-Run the sweep").disabled
    finally:
        sweep.stop()
        sweep.join(timeout=60)
    at = page("app_pages/train.py", **{state.SWEEP: sweep}).run()
    assert not at.button(key="FormSubmitter:train_form-Start training").disabled


def test_in_class_mode_a_job_that_waits_in_the_queue_is_said_to_wait(monkeypatch):
    """The other pages said a Train run still queued "still trains"."""
    from types import SimpleNamespace

    from vae_core.runs import RunState

    monkeypatch.setenv("VAE_CLASS_MODE", "1")
    queued = SimpleNamespace(active=True, state=RunState.QUEUED)
    at = page("app_pages/warmup_free_bits.py", **{state.JOB: queued}).run()
    told = "One job at a time in class mode: your run on the Train page still waits in the queue."
    assert told in [c.value for c in at.caption] and at.button(key="warmup_run").disabled
