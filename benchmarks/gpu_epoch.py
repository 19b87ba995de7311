"""Training on a CUDA GPU, in one run: seconds per MNIST epoch of the classic configuration (784-400-20, batch 128,
default flags) through the captured step (vae_core/cuda_step.py: CUDA graph + torch.compile, losses read every
FLUSH_STEPS steps), the same without torch.compile, and the eager step as before it (autograd, a read of the loss
per step); the whole 10-epoch process from the shell; the 500-epoch paper recipe (mnist-50d-binarized's flags,
models/recipes.json) with its wall time and test -ELBO; and five-beta sweeps trained as one program on the card
(vae_core/batched.py, the captured step over the stacked members) against one of their runs: the shipped MNIST sweep
(models/recipes.json) and the classic configuration, per epoch in this process.

    VAE_DATA_DIR=/path/to/mnist python benchmarks/gpu_epoch.py [--recipe-seconds 240] [--parts classic,sweep]
    ... --parts compiled [--mode max-autotune-no-cudagraphs] [--tf32] [--profile]

The part "compiled" trains the classic configuration through the captured, compiled step alone, under another
torch.compile mode (cuda_step.COMPILE_MODE) or with fp32 products in TF32 (no casts of the weights to bf16), and with
--profile lists the kernels of two epochs by GPU time (torch.profiler): where a step's time goes.

The baseline for the ratios is the eager step (the sweep's: one run), measured in the same run on the same card.
Prints Markdown tables for BENCHMARKS.md. Needs a CUDA GPU. The sweeps as whole processes from the shell:
benchmarks/sweep.py --device cuda --local-only [--recipe mnist].
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae_core import Config, VAE, load_dataset, train  # noqa: E402
from vae_core import cuda_step, training  # noqa: E402
from vae_core.batched import train_batched  # noqa: E402
from vae_core.events import EpochEvent  # noqa: E402
from vae_core.flags import config_from_flags  # noqa: E402
from vae_core.tradeoff import sweep_configs  # noqa: E402

CLASSIC = Config(dataset="mnist", hidden=(400,), latent_dim=20, epochs=10, batch_size=128, lr=1e-3, seed=1)


def epochs(data, config, path: str, stop_after: float | None = None, callback=None) -> tuple[list[dict], float, bool]:
    """Train config on the GPU through the named path; (history, wall seconds, stopped early)."""
    graphed = path != "eager"
    forced = path == "graphed + compile"  # whatever the run's length (training.COMPILE_FROM_STEPS)

    def make(*args, compile=None, **kwargs):
        return cuda_step.GraphedStep(*args, compile=forced, **kwargs)

    original = training.GraphedStep, training.graphed_supported
    training.GraphedStep = make
    training.graphed_supported = lambda model, device: graphed and device.type == "cuda"
    stop = threading.Event()
    if stop_after is not None:
        threading.Timer(stop_after, stop.set).start()
    try:
        start = time.perf_counter()
        history = train(VAE(config), data, config, device="cuda", stop=stop, callback=callback)
        torch.cuda.synchronize()
        return history.epochs, time.perf_counter() - start, history.stopped
    finally:
        training.GraphedStep, training.graphed_supported = original
        stop.set()


def sweep(data, base: Config, betas, label: str) -> None:
    """Five betas as one program on the card against the run of beta 1 alone, both through the captured step (not
    compiled: a 10-epoch run does not pay for it), median training seconds an epoch after the first."""
    configs = list(sweep_configs(base, betas).values())
    one = base.replace(beta=1.0)
    alone = train(VAE(one), data, one, device="cuda")
    torch.cuda.synchronize()
    start = time.perf_counter()
    members = train_batched(configs, data, device="cuda")
    torch.cuda.synchronize()
    wall = time.perf_counter() - start
    median = lambda history: statistics.median(r["train_seconds"] for r in history.epochs[1:])  # noqa: E731
    one_s, five_s = median(alone), median(members[0][1])
    tests = ", ".join(f"{c.beta:g}: {h.test['nelbo']:.2f}" for c, (_, h) in zip(configs, members))
    print(f"| {label}, {torch.cuda.get_device_name()} | {one_s:.4f} | {five_s:.4f} | **{five_s / one_s:.2f}x** | "
          f"{wall:.1f} | {alone.test['nelbo']:.2f} | {tests} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("VAE_DATA_DIR"))
    parser.add_argument("--recipe-seconds", type=float, default=240, help="stop the 500-epoch recipe after this long")
    parser.add_argument("--parts", default="classic,process,recipe,sweep",
                        help="which to measure, comma-separated: classic, process, recipe, sweep, compiled")
    parser.add_argument("--mode", help="the torch.compile mode of the part compiled (default: torch's)")
    parser.add_argument("--tf32", action="store_true", help="the part compiled in fp32 with TF32 products")
    parser.add_argument("--profile", action="store_true", help="the part compiled's kernels, by GPU time")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if not torch.cuda.is_available():
        sys.exit("skipped: no CUDA GPU here")
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}", flush=True)
    data = load_dataset("mnist", args.data_dir, download=False)

    if "classic" in parts:
        classic(data)
    if "compiled" in parts:
        compiled(data, args)
    if "process" in parts:
        process(args)
    if "recipe" in parts:
        recipe(data, args)
    if "sweep" in parts:
        print("\n| five betas (0.1, 0.3, 1, 3, 10) | one run s/epoch | five as one program s/epoch | against one run "
              "| five's wall s | one run's test -ELBO | the members' test -ELBO |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        mnist = json.loads((ROOT / "models" / "recipes.json").read_text())["sweeps"]["mnist"]
        sweep(data, config_from_flags(mnist["base"]), mnist["betas"], "shipped MNIST sweep (784-256-16, 10 epochs)")
        sweep(data, CLASSIC, mnist["betas"], "classic configuration (784-400-20, 10 epochs)")


def classic(data):
    rows = {}
    for path in ("eager", "graphed", "graphed + compile"):
        try:
            history, wall, _ = epochs(data, CLASSIC, path)
        except Exception:  # the benchmark's boundary: report the failure, measure the other paths
            traceback.print_exc()
            continue
        train_s = [r["train_seconds"] for r in history]
        rows[path] = (statistics.median(train_s[1:]), train_s[0], statistics.median(r["seconds"] for r in history[1:]),
                      wall, history[-1]["test_nelbo"])
        print(path, [round(t, 3) for t in train_s], f"test {history[-1]['test_nelbo']:.2f}", flush=True)
    base = rows["eager"][0]
    print(f"\n| classic config, 10 epochs, {torch.cuda.get_device_name()} | median training s/epoch | first epoch "
          "(compile, capture) | median s/epoch with the test pass | run wall s | test -ELBO | speed-up per epoch |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path, (median, first, with_test, wall, loss) in rows.items():
        print(f"| {path} | {median:.4f} | {first:.2f} | {with_test:.4f} | {wall:.1f} | {loss:.2f} | "
              f"{base / median:.1f}x |")


def compiled(data, args):
    """The classic configuration through the captured, compiled step only, under the compile mode and precision asked
    for: one row; with --profile, then the kernels of two more epochs by GPU time a step."""
    cuda_step.COMPILE_MODE = args.mode
    config = CLASSIC
    if args.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        config = CLASSIC.replace(precision="fp32")
    history, wall, _ = epochs(data, config, "graphed + compile")
    train_s = [r["train_seconds"] for r in history]
    products = "fp32 products in TF32" if args.tf32 else "bf16 products"
    print(f"\n| classic config, captured + compiled, {torch.cuda.get_device_name()} | median training s/epoch | first "
          "epoch (compile, capture) | run wall s | test -ELBO |\n| --- | --- | --- | --- | --- |")
    print(f"| mode {args.mode or 'default'}, {products} | {statistics.median(train_s[1:]):.4f} | {train_s[0]:.2f} | "
          f"{wall:.1f} | {history[-1]['test_nelbo']:.2f} |", flush=True)
    if args.profile:
        kernels(data, config.replace(epochs=3))


def kernels(data, config):
    """The kernels of epochs 2 and 3 (the first compiles and captures), by GPU time a step, the test passes included."""
    from torch.profiler import ProfilerActivity, profile
    profiler = profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])

    def start(event):
        if isinstance(event, EpochEvent) and event.epoch == 1:
            profiler.start()

    epochs(data, config, "graphed + compile", callback=start)
    profiler.stop()
    steps = 2 * config.steps_per_epoch(len(data.train_x))
    rows = [e for e in profiler.key_averages() if e.device_type.name == "CUDA" and e.device_time_total > 0]
    rows.sort(key=lambda e: -e.device_time_total)
    total = sum(e.device_time_total for e in rows)
    print(f"\nkernels of 2 epochs ({steps} steps and 2 test passes): {total / steps:.1f} us of GPU time a step, "
          f"{sum(e.count for e in rows) / steps:.1f} kernels a step", flush=True)
    for e in rows[:30]:
        print(f"{e.device_time_total / steps:8.2f} us/step {e.count / steps:6.2f}/step  {e.key[:110]}")


def process(args):
    command = [sys.executable, "-m", "vae_core", "train", "--dataset", "mnist", "--hidden", "400", "--latent-dim",
               "20", "--epochs", "10", "--batch-size", "128", "--seed", "1", "--device", "cuda", "--out",
               "/tmp/gpu-classic", "--force"]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    print(f"\nwhole process, `train` with default flags and --device cuda, 10 epochs: "
          f"{time.perf_counter() - start:.1f} s", flush=True)


def recipe(data, args):
    recipe = json.loads((ROOT / "models" / "recipes.json").read_text())["models"]["mnist-50d-binarized"]
    config = config_from_flags(recipe)
    history, wall, stopped = epochs(data, config, "graphed + compile", stop_after=args.recipe_seconds)  # as chosen
    done = len(history)
    per_epoch = statistics.median(r["seconds"] for r in history[1:]) if done > 1 else float("nan")
    print(f"\npaper recipe (mnist-50d-binarized's flags, {config.epochs} epochs): {done} epochs in {wall:.1f} s"
          + (f" (stopped at {args.recipe_seconds:g} s; {per_epoch:.3f} s an epoch with the test pass, so "
             f"{per_epoch * config.epochs / 60:.1f} minutes for all)" if stopped else f", {wall / 60:.2f} minutes")
          + f"; test -ELBO {history[-1]['test_nelbo']:.2f} after epoch {done}", flush=True)


if __name__ == "__main__":
    main()
