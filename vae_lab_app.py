"""The `vae-lab-app` console script: starts the app of the clone this module lies in, as `./run app` does."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent  # the clone, in an editable install; site-packages in a plain one
USAGE = """usage: vae-lab-app [STREAMLIT OPTIONS]

Starts the VAE lab ({app}) with `python -m streamlit run`, as `./run app` does: from the clone's folder,
with MNIST from ../shared/data/mnist beside it unless VAE_DATA_DIR is set. Options go to `streamlit run`
(e.g. --server.port 8502)."""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    app = ROOT / "app.py"
    if "-h" in args or "--help" in args:
        print(USAGE.format(app=app))
        return 0
    if not app.is_file():
        print(f"vae-lab-app: error: no app.py in {ROOT}; the app runs from a clone of the repository installed "
              "with `pip install -e '.[app]'` (or started there with ./run app)", file=sys.stderr)
        return 1
    if importlib.util.find_spec("streamlit") is None:
        print(f"vae-lab-app: error: streamlit is not installed for {sys.executable}; "
              f"pip install -e '{ROOT}[app]'", file=sys.stderr)
        return 1
    mnist = ROOT.parent / "shared" / "data" / "mnist"
    if not os.environ.get("VAE_DATA_DIR") and mnist.is_dir():
        os.environ["VAE_DATA_DIR"] = str(mnist)
    os.chdir(ROOT)  # Streamlit reads .streamlit/config.toml from the working folder
    os.execv(sys.executable, [sys.executable, "-m", "streamlit", "run", "app.py",
                              "--browser.gatherUsageStats", "false", *args])
