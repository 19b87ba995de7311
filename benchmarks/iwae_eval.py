"""The papers' evaluation, timed: -log p(x) with k = 5000 importance samples over the 10,000 MNIST test images
(vae_core.iwae_estimate, batched over samples and images), against the usual way of writing it, one image at a
time with its k samples in one decoder call, timed on the first images and scaled to the whole test set.

    python benchmarks/iwae_eval.py [--model models/mnist-50d-binarized] [--k 5000] [--baseline-images 40]

Both compute in fp32 with the same model and the same fixed binarisation of the test set. Prints a Markdown
table for BENCHMARKS.md. Check that the machine is idle first (uptime).
"""
import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae_core import iwae_estimate, load_checkpoint, load_dataset  # noqa: E402
from vae_core.evaluation import test_pixels  # noqa: E402
from vae_core.objective import LOG_2PI, bernoulli_nll  # noqa: E402


@torch.no_grad()
def one_image_at_a_time(model, x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """log p(x) per image as reference code writes it: each image's k samples decoded in one call."""
    out = []
    for image in x:
        mu, logvar = model.encode(image[None])
        eps = torch.randn((k, mu.shape[1]), generator=generator)
        z = mu + eps * torch.exp(0.5 * logvar)
        log_px_z = -bernoulli_nll(model.decode(z), image.expand(k, -1))
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(1)
        log_qz = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(1)
        out.append(torch.logsumexp(log_px_z + log_pz - log_qz, 0) - math.log(k))
    return torch.stack(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "mnist-50d-binarized"))
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--baseline-images", type=int, default=40)
    parser.add_argument("--data-dir", default=os.environ.get("VAE_DATA_DIR", str(ROOT.parent / "shared/data/mnist")))
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()}", flush=True)
    torch.set_num_threads(os.cpu_count())
    checkpoint = load_checkpoint(args.model)
    model, config = checkpoint.model.eval(), checkpoint.config
    test_x = load_dataset(config.dataset, args.data_dir).test_x

    start = time.perf_counter()
    ours = iwae_estimate(model, test_x, args.k, seed=config.seed)
    ours_s = time.perf_counter() - start
    print(f"vae_core: {ours['iwae_nll']:.3f} ± {ours['iwae_nll_se']:.3f} nats in {ours_s:.1f} s", flush=True)

    few = test_pixels(test_x[:args.baseline_images], config)
    start = time.perf_counter()
    baseline = one_image_at_a_time(model, few, args.k, torch.Generator().manual_seed(config.seed))
    per_image = (time.perf_counter() - start) / len(few)
    baseline_s = per_image * len(test_x)
    print(f"one image at a time: {len(few)} images in {per_image * len(few):.1f} s; "
          f"mean -log p(x) of those {-baseline.mean():.3f}", flush=True)

    print(f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; model {Path(args.model).name}, k = {args.k}, fp32\n")
    print(f"| {len(test_x):,} test images x {args.k:,} samples | seconds | speed-up |\n| --- | --- | --- |")
    print(f"| one image at a time (timed on {len(few)} images, scaled) | {baseline_s:.0f} | 1.00x |")
    print(f"| `vae_core.iwae_estimate` (`eval --iwae {args.k}`) | {ours_s:.0f} | {baseline_s / ours_s:.2f}x |")
    print(f"\nload average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
