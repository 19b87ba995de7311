"""A five-beta sweep against one of its runs, whole processes from the shell, in one run of this script: `train` for
beta = 1, `sweep` of the five betas as one program (the default for MLPs: vae_core/batched.py), the same program
as one task on a local Ray instance the sweep starts (the pages' path and sweep --ray's), and the five as parallel
Ray jobs (the path of conv models, forced here), in the order one, batched, Ray task, Ray jobs and back.

    python benchmarks/sweep.py [--epochs 60]
    python benchmarks/sweep.py --recipe mnist [--data-dir ../shared/data/mnist] [--no-parallel]
    python benchmarks/sweep.py --device cuda --local-only [--recipe mnist]    (on a GPU: one run, one program)
    python benchmarks/sweep.py --recipe mnist --precision auto    (a processor without native bf16)

The issue's sweep: digits, 8 latent dimensions, 256 hidden units, batch 64, betas 0.1,0.3,1,3,10; with --recipe
mnist the shipped MNIST sweep's flags (models/recipes.json: 16 latent dimensions, 256 hidden units, 10 epochs, bf16,
the same betas). Check that the machine is idle first (uptime).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--dataset", "digits", "--latent-dim", "8", "--hidden", "256", "--batch-size", "64"]
BETAS = "0.1,0.3,1,3,10"


def wall(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    if done.returncode:  # what went wrong, where only this output comes back (the device tool)
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60, help="digits only (the mnist recipe gives its own)")
    parser.add_argument("--recipe", choices=["digits", "mnist"], default="digits")
    parser.add_argument("--data-dir", default=os.environ.get("VAE_DATA_DIR", str(ROOT.parent / "shared" / "data" /
                                                                                  "mnist")))
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="passed to train and sweep (default: theirs)")
    parser.add_argument("--local-only", action="store_true", help="only one run and the one program, no Ray rows")
    parser.add_argument("--no-parallel", action="store_true", help="leave out the parallel Ray jobs' row (MNIST's "
                                                                   "takes 7 minutes on two cores)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                        help="in place of the recipe's (the mnist recipe's bf16 is emulated, 10x slower, on a "
                             "processor without it)")
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()}", flush=True)
    env = {k: v for k, v in os.environ.items() if k != "VAE_RAY_ADDRESS"}
    cli = [sys.executable, "-m", "vae_core"]
    if args.recipe == "mnist":
        sweep = json.loads((ROOT / "models" / "recipes.json").read_text())["sweeps"]["mnist"]
        flags = [*sweep["base"], "--data-dir", args.data_dir]
        args.epochs = int(flags[flags.index("--epochs") + 1])
        assert ",".join(f"{b:g}" for b in sweep["betas"]) == BETAS
    else:
        flags = [*FLAGS, "--epochs", str(args.epochs)]
    if args.device:
        flags += ["--device", args.device]
    if args.precision:
        flags += ["--precision", args.precision]  # (the last of a repeated flag counts)
    times = {"one run (train, beta 1)": [], "sweep of five, one program": [],
             "sweep of five, one program as one Ray task": [], "sweep of five, parallel Ray jobs": []}
    with tempfile.TemporaryDirectory() as root:
        commands = {
            "one run (train, beta 1)": lambda i: [*cli, "train", *flags, "--out", f"{root}/one-{i}"],
            "sweep of five, one program": lambda i: [*cli, "sweep", *flags, "--betas", BETAS, "--out", f"{root}/b-{i}"],
            # the pages' path (and sweep --ray's): a local Ray instance, the five as one program in one task
            "sweep of five, one program as one Ray task": lambda i: [sys.executable, "-c", RAY_SWEEP, "batched", *flags,
                                                                     "--betas", BETAS, "--out", f"{root}/t-{i}"],
            # the Ray path as conv models take it: a local instance for the sweep, five jobs in parallel
            "sweep of five, parallel Ray jobs": lambda i: [sys.executable, "-c", RAY_SWEEP, "parallel", *flags,
                                                           "--betas", BETAS, "--out", f"{root}/r-{i}"],
        }
        if args.local_only or args.no_parallel:
            commands = dict(list(commands.items())[:2 if args.local_only else 3])
            times = {name: times[name] for name in commands}
        order = list(commands) + list(commands)[::-1]
        for i, name in enumerate(order):
            times[name].append(wall(commands[name](i), env))
            print(f"{name}: {times[name][-1]:.1f} s", flush=True)
    one = statistics.mean(times["one run (train, beta 1)"])
    print(f"\n| whole process, {args.recipe} sweep, {args.epochs} epochs | wall s (mean of 2) | against one run |\n"
          "| --- | --- | --- |")
    for name, values in times.items():
        print(f"| {name} | {statistics.mean(values):.1f} | {statistics.mean(values) / one:.2f}x |")
    print(f"\nload average at the end: {os.getloadavg()}")


# The CLI's sweep with its trainings on Ray regardless of the architecture (what it does for --ray): "batched" as
# runs.start_runs decides (one task), "parallel" as conv models take it (a task per run).
RAY_SWEEP = """
import sys
from vae_core import batched, cli, runs  # runs keeps its own reference to batchable
batched.batchable = lambda configs: False  # what the CLI asks
if sys.argv[1] == "parallel":
    runs.batchable = lambda configs: False
sys.exit(cli.main(["sweep", *sys.argv[2:]]))
"""

if __name__ == "__main__":
    main()
