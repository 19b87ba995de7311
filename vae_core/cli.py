"""The command line: train, sweep, eval and info, each mapping its flags onto Config and printing one-line errors."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

from .errors import VAEError
from .flags import add_config_flags, config_from_args


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + traceback-like noise
        self.exit(2, f"{self.prog}: error: {message}\n")


MOST_BETAS = 32  # a sweep's members at most: they train as one program, their weights and batches side by side
                 # (2,000 were taken, and ran for minutes on a digits model; MNIST's would fill the memory)


def _betas(text: str) -> list[float]:
    try:
        betas = sorted({float(part) for part in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 0.1,1,10, got {text[:40]!r}") from None
    if len(betas) > MOST_BETAS:
        raise argparse.ArgumentTypeError(f"expected at most {MOST_BETAS} values of beta, got {len(betas):,}")
    return betas


def _snapshots(text: str) -> int:
    from .recording import MOST_SNAPSHOTS

    if not text.isdigit() or not 2 <= int(text) <= MOST_SNAPSHOTS:
        raise argparse.ArgumentTypeError(f"expected a number of snapshots from 2 to {MOST_SNAPSHOTS}, got {text[:20]!r}")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


MOST_IWAE_K = 100_000  # 20 times the papers' k = 5,000, which takes 14 minutes over MNIST's test set here


def _counts(text: str) -> list[int]:
    parts = text.split(",")
    if not all(part.isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"expected whole numbers of samples like 5000 or 1,10,100, got {text[:40]!r}")
    counts = sorted({int(part) for part in parts})
    if counts[-1] > MOST_IWAE_K:
        raise argparse.ArgumentTypeError(f"at most {MOST_IWAE_K:,} importance samples (the papers use 5,000, about "
                                         f"14 minutes over MNIST's test set on two cores), got {counts[-1]:,}")
    return counts


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m vae_core", description="Train and inspect variational autoencoders.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a model and save a checkpoint folder")
    add_config_flags(t)
    t.add_argument("--data-dir", help="folder with the IDX files (default: VAE_DATA_DIR, then download)")
    t.add_argument("--device", default="auto", help="cpu, cuda or auto (cuda where a GPU is present)")
    t.add_argument("--threads", type=_positive, default=os.cpu_count() or 1,
                   help="torch threads (default: the machine's cores; a job on Ray uses its CPU budget instead)")
    t.add_argument("--out", required=True, help="checkpoint folder to write")
    t.add_argument("--record", type=_snapshots, default=0, metavar="N",
                   help="keep N snapshots at log-spaced steps in the checkpoint (recording.safetensors), to replay how "
                        "the latent space formed")
    t.add_argument("--force", action="store_true", help="overwrite an existing checkpoint in --out")
    t.add_argument("--ray", metavar="ADDRESS", help="train as a job on this Ray cluster (default: VAE_RAY_ADDRESS "
                                                    "if set, else here, in this process)")

    w = sub.add_parser("sweep", help="train one model per beta, a checkpoint folder each: MLPs as one program here, "
                                     "or as parallel Ray jobs (--ray, or conv models)")
    add_config_flags(w)
    w.add_argument("--betas", type=_betas, required=True, help="comma-separated, e.g. 0.1,0.3,1,3,10")
    w.add_argument("--data-dir", help="folder with the IDX files (default: VAE_DATA_DIR, then download)")
    w.add_argument("--device", default="auto", help="where MLPs trained here train: cpu, cuda or auto (cuda where a "
                                                     "GPU is present)")
    w.add_argument("--out", required=True, help="folder to hold one checkpoint folder per beta (beta-0.1, ...)")
    w.add_argument("--force", action="store_true", help="overwrite existing checkpoints in --out")
    w.add_argument("--ray", metavar="ADDRESS", help="Ray cluster to run on (default: VAE_RAY_ADDRESS if set; else "
                                                    "MLPs train here as one program, conv models on a local Ray "
                                                    "instance started for the sweep)")

    e = sub.add_parser("eval", help="print a checkpoint's test metrics")
    e.add_argument("checkpoint")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--iwae", type=_counts, default=[], metavar="K",
                   help="also estimate -log p(x) with K importance samples (the papers use 5000); several: 1,10,100")
    e.add_argument("--save", action="store_true", help="keep the IWAE estimate in the checkpoint's metrics.json")
    e.add_argument("--data-dir")
    e.add_argument("--device", default="auto")

    i = sub.add_parser("info", help="print a checkpoint's config and training history")
    i.add_argument("checkpoint")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; argv None: this process's own arguments, as the program (python -m vae_core, vae-lab), which
    then takes Ctrl-C and SIGTERM alike (_interrupt): training here ends after its step and keeps its finished
    epochs; runs on Ray are stopped, and a local Ray's processes with them (killed outright, the program left that
    Ray's agents running)."""
    args = build_parser().parse_args(_values_to_flags(sys.argv[1:] if argv is None else argv))
    if argv is None:
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, _interrupt)
    try:
        return {"train": _train, "sweep": _sweep, "eval": _eval, "info": _info}[args.command](args)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    except VAEError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a path the system refuses (too long, no permission...) that no check above named
        print(f"error: {e.filename or ''}{': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return 1


def _values_to_flags(argv: list[str]) -> list[str]:
    """argv with each value that starts with "-" and a digit joined to its flag (--betas -1,1 as --betas=-1,1):
    argparse takes such a token for a flag unless it is one number ("expected one argument"), where the value's
    own check says what is wrong with it."""
    out: list[str] = []
    for token in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and re.match(r"-[\d.]", token):
            out[-1] += "=" + token
        else:
            out.append(token)
    return out


_stop = threading.Event()  # asked for by a Ctrl-C or SIGTERM while a command trains here (see _stops)
_stops_taken = False       # a command training here takes them: the first ends it after its step


def _interrupt(signum, frame) -> None:
    """Ctrl-C or SIGTERM: a command training here (train, sweep without Ray) ends after the step it is taking and
    saves its finished epochs, as the app's Stop does (a second one stops it at once); anything else stops now."""
    if _stops_taken and not _stop.is_set():
        _stop.set()
        print("\nstopping after this step, keeping the finished epochs (again to stop at once)", file=sys.stderr)
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stops():
    """While training here: the stop a Ctrl-C or SIGTERM asks for, an Event for train's stop."""
    global _stops_taken
    _stop.clear()
    _stops_taken = True
    try:
        yield _stop
    finally:
        _stops_taken = False


def _stopped_text(history, config) -> str:
    done = len(history.epochs)
    return f"stopped after {done} of {config.epochs} epoch{'s' if config.epochs != 1 else ''}"


def _train(args) -> int:
    config = config_from_args(args)  # a mistake in the flags is refused before torch is loaded

    import torch
    from tqdm import tqdm

    from .checkpoint import save_checkpoint
    from .data import load_dataset
    from .errors import TrainingDiverged
    from .evaluation import shown_total
    from .model import VAE
    from .events import EpochEvent
    from .recording import Recorder, save_recording
    from .records import rate_note
    from .training import pick_device, train

    device = pick_device(args.device)
    address = args.ray or os.environ.get("VAE_RAY_ADDRESS")
    if not address:
        _warn_precision(config, device)
    torch.set_num_threads(_threads(args.threads))
    with _out_folder(Path(args.out), args.force) as out:  # an unwritable --out is refused before the data loads
        data = load_dataset(config.dataset, args.data_dir)
        _note_whole_batch(config, data)
        if address:
            _connect(address)  # an address with nothing behind it fails here, in seconds, and out goes again
            return _run_on_ray(config, data, out, record=args.record)
        model = VAE(config)
        bar = tqdm(total=config.epochs, unit="epoch", dynamic_ncols=True)

        def report(event):
            if isinstance(event, EpochEvent):
                r = event.record
                bar.update(1)
                bar.set_postfix(test_nelbo=f"{r['test_nelbo']:.2f}", recon=f"{r['test_recon']:.2f}",
                                kl=f"{r['test_kl']:.2f}")
            elif event.step % 20 == 0:
                bar.set_postfix(loss=f"{event.loss:.2f}", step=f"{event.step}/{event.steps_per_epoch}")

        try:
            recorder = Recorder(data, config, args.record) if args.record else None
            with _stops() as stop:
                history = train(model, data, config, callback=report, stop=stop, device=device, watch=recorder)
        except TrainingDiverged as e:
            bar.close()
            if e.history and e.history.epochs:
                save_checkpoint(model, out, e.history.epochs, {})
                raise VAEError(f"{e} The last good weights are saved in {out}.") from None
            raise
        finally:
            bar.close()
        if history.stopped and not history.epochs:
            print(f"{_stopped_text(history, config)}: nothing saved", file=sys.stderr)
            return 130
        metrics = history.test
        save_checkpoint(model, out, history.epochs, metrics)
        if recorder is not None:
            save_recording(out, recorder.recording())
    if history.stopped:
        print(f"{_stopped_text(history, config)}", file=sys.stderr)
    print(f"saved {out}: test negative ELBO {shown_total(metrics['recon'], metrics['kl']):.2f} nats "
          f"(recon {metrics['recon']:.2f}, KL {metrics['kl']:.2f}), {metrics['active_units']}/{config.latent_dim} "
          "active units")
    if note := rate_note(metrics["kl"]):  # ("KL 0.06, 2/2 active units" read as a model that uses its code)
        print(f"note: {note}")
    return 130 if history.stopped else 0


def _threads(wanted: int) -> int:
    """--threads, capped at the machine's cores with a warning: more threads than cores only fight each other (999
    made a 4 s run take 145 s)."""
    cores = os.cpu_count() or 1
    if wanted > cores:
        print(f"warning: --threads {wanted} is more than this machine's {cores} cores; using {cores}",
              file=sys.stderr)
    return min(wanted, cores)


def _note_whole_batch(config, data) -> None:
    if note := config.whole_batch_note(len(data.train_x)):
        print(f"note: {note}", file=sys.stderr)


def _warn_precision(config, device) -> None:
    """Warn, before any work, of bf16 asked for where this processor emulates it (for a run in this process: a Ray
    cluster's workers may have other processors)."""
    from .training import emulated_bf16

    warning = emulated_bf16(config, device)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)


def _connect(address: str) -> None:
    from . import cluster

    print(f"running on {cluster.connect(address)}", file=sys.stderr)


@contextlib.contextmanager
def _out_folder(out: Path, force: bool):
    """The checkpoint folder --out names, checked before any work (a run must not be lost to an unwritable folder
    at its end), and removed again if this command made it and leaves it empty (it failed, or was stopped early)."""
    from .checkpoint import WEIGHTS, check_writable, find_checkpoints

    if (out / WEIGHTS).exists() and not force:
        raise VAEError(f"{out} already holds a checkpoint; choose another --out or pass --force")
    others = [p for p in find_checkpoints(out, depth=2) if p != out]
    if others:
        raise VAEError(f"{out} holds other checkpoints ({', '.join(p.name for p in others[:3])}"
                       f"{', ...' if len(others) > 3 else ''}): give each run a folder of its own")
    made = not out.exists()
    check_writable(out)
    try:
        yield out
    finally:
        if made:
            with contextlib.suppress(OSError):  # not empty: the run saved something
                out.rmdir()


def _sweep(args) -> int:
    base = config_from_args(args)  # before torch is loaded, as in _train

    from .batched import batchable
    from .data import load_dataset
    from .tradeoff import sweep_configs
    from .training import pick_device

    device = pick_device(args.device)
    address = args.ray or os.environ.get("VAE_RAY_ADDRESS")
    if not address:
        _warn_precision(base, device)
    out = Path(args.out)
    configs = sweep_configs(base, args.betas)
    with contextlib.ExitStack() as folders:
        for name in configs:
            folders.enter_context(_out_folder(out / name, args.force))
        data = load_dataset(base.dataset, args.data_dir)
        _note_whole_batch(base, data)
        if not address and batchable(list(configs.values())):
            return _sweep_here(configs, data, out, device)
        _connect(address)  # else a local instance, stopped at the end
        return _run_on_ray(configs, data, out)


def _sweep_here(configs: dict, data, out: Path, device) -> int:
    """Train the sweep's members as one program in this process on device (batched.py): no Ray to start, one step
    for all."""
    from tqdm import tqdm

    from .batched import train_batched
    from .checkpoint import save_checkpoint
    from .evaluation import shown_total
    from .events import EpochEvent

    print(f"training the {len(configs)} runs as one program here ({device})", file=sys.stderr)
    bars = [tqdm(total=c.epochs, unit="epoch", position=i, desc=name, dynamic_ncols=True)
            for i, (name, c) in enumerate(configs.items())]

    def report(member):
        if isinstance(member.event, EpochEvent):
            bars[member.index].update(1)
            bars[member.index].set_postfix_str(f"test −ELBO {member.event.record['test_nelbo']:.2f}")

    try:
        with _stops() as stop:
            results = train_batched(list(configs.values()), data, callback=report, stop=stop, device=device)
    finally:
        for bar in bars:
            bar.close()
    for (name, config), (model, history) in zip(configs.items(), results):
        if not history.epochs:
            print(f"{name}: {_stopped_text(history, config)}: nothing saved", file=sys.stderr)
            continue
        save_checkpoint(model, out / name, history.epochs, history.test)
        how = _stopped_text(history, config) if history.stopped else f"finished {len(history.epochs)} epochs"
        print(f"{name}: {how}; saved {out / name} (test negative ELBO "
              f"{shown_total(history.test['recon'], history.test['kl']):.2f} nats)")
    return 130 if any(history.stopped for _, history in results) else 0


def _run_on_ray(configs, data, out: Path, record: int = 0) -> int:
    """Train configs (one Config, or names -> Configs, see runs.start_runs) as runs on the Ray cluster this process
    is connected to, saved under out, with a progress bar each; Ctrl-C stops them all."""
    from tqdm import tqdm

    from .runs import RunState, start_runs

    group = start_runs(configs, data, out, record=record)
    bars = [tqdm(total=run.config.epochs, unit="epoch", position=i, desc=run.name, dynamic_ncols=True)
            for i, run in enumerate(group)]
    try:
        while group.active:
            _show(group, bars)
            time.sleep(0.25)
    except KeyboardInterrupt:
        group.stop()
        group.join()
    finally:
        _show(group, bars)
        for bar in bars:
            bar.close()
    for run in group:
        node = f" on node {run.worker.node[:8]}" if run.worker else ""
        print(f"{run.name}: {run.message}{node}", file=sys.stdout if run.state == RunState.DONE else sys.stderr)
    return 0 if all(run.state == RunState.DONE for run in group) else 1


def _show(group, bars) -> None:
    from .runs import RunState

    for run, bar in zip(group, bars):
        bar.n = run.epoch
        record = run.history[-1] if run.history else None
        status = {RunState.QUEUED: f"queued, {run.ahead} ahead", RunState.STARTING: "starting workers"}.get(
            run.state, str(run.state))
        bar.set_postfix_str(status + (f", test −ELBO {record['test_nelbo']:.2f}" if record else ""), refresh=False)
        bar.refresh()


def _eval(args) -> int:
    from .checkpoint import load_checkpoint, record_iwae
    from .data import load_dataset
    from .evaluation import evaluate
    from .records import rate_note
    from .training import pick_device

    checkpoint = load_checkpoint(args.checkpoint, pick_device(args.device))
    config = checkpoint.config
    data = load_dataset(config.dataset, args.data_dir)
    metrics = evaluate(checkpoint.model, data.test_x, config, seed=config.seed)
    estimates = {k: _iwae_with_progress(checkpoint.model, data.test_x, k, config.seed) for k in args.iwae}
    if estimates:
        metrics.update(estimates[max(estimates)], iwae={str(k): v for k, v in estimates.items()})
        if args.save:
            record_iwae(checkpoint, estimates)
    if args.json:
        print(json.dumps({"dataset": config.dataset, **metrics}))
        return 0
    print(f"{args.checkpoint} on the {config.dataset} test set ({metrics['n']} images), nats per image:")
    print(f"  negative ELBO   {metrics['nelbo']:.3f}")
    print(f"  reconstruction  {metrics['recon']:.3f}")
    print(f"  KL              {metrics['kl']:.3f}")
    print(f"  active units    {metrics['active_units']} of {config.latent_dim}")
    if note := rate_note(metrics["kl"]):
        print(f"  note: {note}")
    for k, estimate in estimates.items():
        pixels = (f"binarised test set, seed {estimate['test_binarization_seed']}" if "test_binarization_seed" in estimate
                  else "grey levels: a bound, not a likelihood of binary data")
        print(f"  −log p(x), IWAE  {estimate['iwae_nll']:.3f} ± {estimate['iwae_nll_se']:.3f} "
              f"(k = {k} importance samples, ± a standard error over images; {pixels})")
    return 0


def _iwae_with_progress(model, x, k: int, seed: int) -> dict:
    """evaluation.iwae_estimate with a progress bar over the images on stderr (k = 5000 takes minutes)."""
    from tqdm import tqdm

    from .evaluation import iwae_estimate

    with tqdm(total=len(x), unit="image", desc=f"IWAE k={k}", dynamic_ncols=True, leave=False) as bar:
        return iwae_estimate(model, x, k, seed, progress=bar.update)


def _info(args) -> int:
    from .checkpoint import load_checkpoint
    from .recording import load_recording

    checkpoint = load_checkpoint(args.checkpoint)
    print(f"{args.checkpoint}\nconfig:")
    for key, value in checkpoint.config.to_dict().items():
        print(f"  {key:14} {value}")
    if checkpoint.history:
        print("history:\n  epoch  train_loss  test_nelbo  test_recon  test_kl  active  seconds")
        for r in checkpoint.history:
            print(f"  {r['epoch']:5d}  {r['train_loss']:10.3f}  {r['test_nelbo']:10.3f}  {r['test_recon']:10.3f}  "
                  f"{r['test_kl']:7.3f}  {r.get('active_units', '-'):>6}  {r['seconds']:7.2f}")
            for change in r.get("changes", []):
                print(f"         from step {change['step']}: " + ", ".join(
                    f"{key} {change[key]:g}" for key in ("beta", "lr") if key in change))
    if Path(args.checkpoint).is_dir():
        recording = load_recording(args.checkpoint, checkpoint.config.latent_dim, checkpoint.config.image_shape)
        if recording is not None:
            steps = [s.step for s in recording.snapshots]
            print(f"recording: {len(steps)} snapshots of {len(recording.rows)} test images, steps {steps[0]} to "
                  f"{steps[-1]}")
    return 0
