"""Seconds per MNIST epoch and test loss: vae_core with its default flags against the classic PyTorch VAE
example, in one run; then both as whole processes started from the shell.

Both train 784-400-20 with Adam 1e-3, batch 128, continuous pixels, summed BCE + KL, for 10 epochs. Per epoch:
timed from the start of the training pass to the end of the test evaluation (10,000 images), in this process,
the example's own loop against vae_core.train with Config's defaults (precision "auto": bf16 matrix products on
a processor with native bf16, fp32 elsewhere) and with fp32 forced, their epochs taken in turn (one of ours, one
of the example's) so that a shared host's changing speed falls on both alike. Whole process: `python
classic_vae.py` (the example as a script) against `python -m vae_core train ...` with default flags, wall time
from the shell, start-up, data loading, training, evaluation and saving included, run in the order example,
ours, ours, example. Prints Markdown tables for BENCHMARKS.md.

    python benchmarks/mnist_epoch.py [--data-dir ../shared/data/mnist] [--epochs 10]

Check that the machine is idle first (uptime): two benchmarks or a training at once give false figures.
"""
import argparse
import gzip
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import classic_vae  # noqa: E402
from vae_core import Config, load_dataset, train_new  # noqa: E402
from vae_core.data import IDX_FILES, find_idx_folder, idx_candidates  # noqa: E402
from vae_core.datasets import get_spec  # noqa: E402
from vae_core.training import native_bf16  # noqa: E402


def torchvision_layout(folder: Path, root: Path) -> None:
    """Decompress the four files where torchvision.datasets.MNIST(download=False) looks for them."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in IDX_FILES.values():
        src = folder / stem if (folder / stem).exists() else folder / (stem + ".gz")
        data = src.read_bytes()
        (raw / stem).write_bytes(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)


def matmul_peak(dtype, n=2048, reps=10) -> float:
    """GFLOP/s of a large square matrix product: what the two cores can do at best in this dtype."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - start) / 1e9


def epoch_flops(config: Config, n_train: int, n_test: int) -> float:
    """Multiply-adds x 2 of the dense layers in one epoch: forward, backward (no input gradient for
    the first layer), and the test pass."""
    dims = [config.input_dim, *config.hidden]
    encoder = [(a, b) for a, b in zip(dims, dims[1:])] + [(dims[-1], config.latent_dim)] * 2
    decoder_dims = [config.latent_dim, *reversed(config.hidden), config.input_dim]
    decoder = list(zip(decoder_dims, decoder_dims[1:]))
    forward = sum(a * b for a, b in encoder + decoder)
    first = encoder[0][0] * encoder[0][1]
    backward = 2 * forward - first
    return 2 * (n_train * (forward + backward) + n_test * forward)


def step_breakdown(config: Config, data, steps: int = 200) -> dict:
    """Shares of one training step's CPU time (torch.profiler, self time per operator) by kind of work, for
    the default path: matrix products, dtype casts, the Adam update, and the rest (element-wise work, autograd
    and Python)."""
    from torch.profiler import ProfilerActivity, profile

    from vae_core import VAE
    from vae_core.training import _Loop, resolve_precision

    config = resolve_precision(config, torch.device("cpu"))
    loop = _Loop(VAE(config), config, torch.device("cpu"), None)
    x = data.train_x[:config.batch_size * steps].split(config.batch_size)
    for i in range(20):
        loop.step(x[i], 1.0, 1, i)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            loop.step(x[i], 1.0, 1, i)
    kinds = {"matrix products": ("aten::mm", "aten::addmm", "aten::bmm"), "dtype casts": ("aten::copy_",),
             "Adam update": ("aten::_fused_adam_",)}
    times, rest = {kind: 0.0 for kind in [*kinds, "the rest"]}, {}
    for event in prof.key_averages():
        kind = next((k for k, names in kinds.items() if event.key in names), "the rest")
        times[kind] += event.self_cpu_time_total
        if kind == "the rest":
            rest[event.key] = event.self_cpu_time_total
    total = sum(times.values())
    largest = sorted(rest.items(), key=lambda item: -item[1])[:6]
    return ({kind: t / total for kind, t in times.items()} | {"ms per step": total / steps / 1e3,
            "largest of the rest": ", ".join(f"{name} {t / total:.0%}" for name, t in largest)})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("VAE_DATA_DIR", str(ROOT.parent / "shared/data/mnist")))
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()}", flush=True)
    torch.set_num_threads(os.cpu_count())
    spec = get_spec("mnist")
    folder = find_idx_folder(spec, idx_candidates(spec, Path(args.data_dir)))
    if folder is None:
        sys.exit(f"skipped: no MNIST files in {args.data_dir}; set --data-dir or VAE_DATA_DIR")

    data = load_dataset("mnist", folder, download=False)
    rows = {}  # name -> (our seconds per epoch, the classic example's in the same run, our last test loss, its)
    with tempfile.TemporaryDirectory() as root:
        torchvision_layout(folder, Path(root))
        native = native_bf16(torch.device("cpu"))  # without it auto is fp32: one row (bf16 there is emulated)
        for precision in ("auto", "fp32") if native else ("auto",):
            # Epoch by epoch in turn, ours then the example's, so that a change in the machine's speed (a shared
            # host) falls on both sides alike.
            classic = classic_vae.run_epochs(root, args.epochs, seed=1)
            theirs = []

            def each_epoch(event, precision=precision, classic=classic, theirs=theirs):
                if not hasattr(event, "record"):
                    return
                epoch, seconds, loss, _ = next(classic)
                theirs.append((seconds, loss))
                print(f"epoch {event.epoch}: vae_core {precision} {event.record['seconds']:.2f} s, test "
                      f"{event.record['test_nelbo']:.2f}; classic {seconds:.2f} s, test {loss:.2f}", flush=True)

            config = Config(dataset="mnist", arch="mlp", hidden=(400,), latent_dim=20, epochs=args.epochs,
                            batch_size=128, lr=1e-3, seed=1, precision=precision)
            model, history = train_new(config, data, callback=each_epoch)
            name = (f"vae_core, default flags (auto: {model.config.precision})" if precision == "auto"
                    else "vae_core, --precision fp32")
            rows[name] = ([r["seconds"] for r in history.epochs], [t for t, _ in theirs],
                          history.epochs[-1]["test_nelbo"], theirs[-1][1])

        # Whole processes in the order classic, ours, ours, classic: a steady drift in speed cancels out.
        classic_command = [sys.executable, str(ROOT / "benchmarks" / "classic_vae.py"), root, str(args.epochs)]
        ours_command = [sys.executable, "-m", "vae_core", "train", "--dataset", "mnist", "--data-dir", str(folder),
                        "--hidden", "400", "--latent-dim", "20", "--epochs", str(args.epochs), "--batch-size", "128",
                        "--out", str(Path(root) / "ours"), "--force"]
        walls = [shell(command) for command in (classic_command, ours_command, ours_command, classic_command)]
        classic_wall, ours_wall = (walls[0] + walls[3]) / 2, (walls[1] + walls[2]) / 2

    flops = epoch_flops(config, len(data.train_x), len(data.test_x))
    # (emulated bf16 ran at 1-3 GFLOP/s on a Zen 3 EPYC: a smaller product tells as much in less time)
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16, *(() if native else (512, 3)))}
    print(f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; matmul peak {peaks['fp32']:.0f} GFLOP/s fp32, "
          f"{peaks['bf16']:.0f} GFLOP/s bf16{'' if native else ' (emulated: no AVX512-BF16 or AMX)'}\n")
    print(f"| {args.epochs} epochs each, in turn with the classic example's | median s/epoch | the example's, same "
          f"turns | speed-up | test loss (nats) | the example's | arithmetic floor s/epoch |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, (ours, theirs, loss, their_loss) in rows.items():
        median, their_median = statistics.median(ours), statistics.median(theirs)
        floor = flops / 1e9 / peaks["bf16" if "bf16" in name else "fp32"]  # (auto's row names what it chose)
        print(f"| {name} | {median:.2f} | {their_median:.2f} | {their_median / median:.2f}x | {loss:.2f} | "
              f"{their_loss:.2f} | {floor:.2f} |")
    print(f"\nOne epoch is {flops / 1e9:.0f} GFLOP of dense-layer arithmetic (forward, backward, test pass).")
    shares = step_breakdown(config.replace(precision="auto"), data)
    largest = shares.pop("largest of the rest")
    print(f"\nOne default-flags training step under torch.profiler ({shares.pop('ms per step'):.2f} ms with the "
          "profiler's own cost): " + ", ".join(f"{kind} {share:.0%}" for kind, share in shares.items()) +
          f"; the largest operators of the rest: {largest}")
    print(f"\n| whole process from the shell, {args.epochs} epochs | wall s | speed-up |\n| --- | --- | --- |")
    print(f"| `python classic_vae.py` (the example as a script; mean of 2) | {classic_wall:.1f} | 1.00x |")
    print(f"| `python -m vae_core train ...` (default flags; mean of 2) | {ours_wall:.1f} | "
          f"{classic_wall / ours_wall:.2f}x |")
    print(f"\nload average at the end: {os.getloadavg()}")


def shell(command: list[str]) -> float:
    """Wall seconds of a command run as from the shell (its own process), output discarded."""
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True,
                   env={k: v for k, v in os.environ.items() if k != "VAE_RAY_ADDRESS"})
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
