"""Replay the recorded recipes in recipes.json with the project's own CLI, writing models/<name>/.

    python models/train_shipped.py [NAME ...] [--data-dir ../shared/data/mnist]
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main():
    recipes = json.loads((HERE / "recipes.json").read_text())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"some of: {', '.join(recipes)} (default: all)")
    parser.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data" / "mnist"))
    args = parser.parse_args()
    unknown = set(args.names) - set(recipes)
    if unknown:
        parser.error(f"no recipe named {', '.join(sorted(unknown))}")
    for name in args.names or recipes:
        command = [sys.executable, "-m", "vae_core", "train", *recipes[name], "--out", str(HERE / name), "--force"]
        if "digits" not in recipes[name]:
            command += ["--data-dir", args.data_dir]
        print("$", " ".join(command[1:]), flush=True)
        subprocess.run(command, cwd=HERE.parent, check=True)


if __name__ == "__main__":
    main()
