"""Replay the recorded recipes in recipes.json with the project's own CLI, writing models/<name>/ (train) and
models/sweeps/<dataset>/beta-<beta>/ (sweep: the betas as parallel Ray jobs), then score each model as the app
shows it: -log p(x) with k = 1, 10, 100 and 1000 importance samples (eval --iwae ... --save), and the models
listed under "papers_protocol" with k = 5000 too, as the IWAE paper's table is.

    python models/train_shipped.py [NAME ...] [--data-dir ../shared/data/mnist]

NAME is a model (digits-2d) or a sweep (sweeps/digits); all of them by default.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LESSON_KS = "1,10,100,1000"  # vae_core.runs.CURVE_KS: the KL trade-off page's ELBO-to-likelihood curve
PAPERS_K = "5000"            # Burda et al. 2016, Table 1


def commands(recipes: dict) -> dict[str, list[str]]:
    """name -> the CLI arguments that make it."""
    jobs = {name: ["train", *args, "--out", str(HERE / name)] for name, args in recipes["models"].items()}
    for dataset, sweep in recipes["sweeps"].items():
        jobs[f"sweeps/{dataset}"] = ["sweep", *sweep["base"], "--betas", ",".join(f"{b:g}" for b in sweep["betas"]),
                                     "--out", str(HERE / "sweeps" / dataset)]
    return jobs


def main():
    recipes = json.loads((HERE / "recipes.json").read_text())
    jobs = commands(recipes)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"some of: {', '.join(jobs)} (default: all)")
    parser.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--score-only", action="store_true", help="keep the weights; only score them again")
    args = parser.parse_args()
    unknown = set(args.names) - set(jobs)
    if unknown:
        parser.error(f"no recipe named {', '.join(sorted(unknown))}")
    for name in args.names or jobs:
        data = [] if "digits" in jobs[name] else ["--data-dir", args.data_dir]
        if not args.score_only:
            run([*jobs[name], "--force", *data])
        out = Path(jobs[name][jobs[name].index("--out") + 1])
        for folder in [out] if jobs[name][0] == "train" else sorted(p for p in out.iterdir() if p.is_dir()):
            ks = f"{LESSON_KS},{PAPERS_K}" if name in recipes["papers_protocol"] else LESSON_KS
            run(["eval", str(folder), "--iwae", ks, "--save", *data])


def run(argv: list[str]) -> None:
    command = [sys.executable, "-m", "vae_core", *argv]
    print("$", " ".join(command[1:]), flush=True)
    subprocess.run(command, cwd=HERE.parent, check=True)


if __name__ == "__main__":
    main()
