#!/usr/bin/env bash
# Everything a session lent a CUDA device measures, in one call of the device tool (about 9 minutes on an H200):
# the tests of the CUDA paths, then the figures BENCHMARKS.md records for issue 26: five-beta sweeps trained as one
# program against one of their runs (per epoch in one process, then whole processes), the classic configuration
# per epoch, and the 500-epoch paper recipe (stopped after 120 s; its per-epoch figure gives the whole).
#
#   here, once:   echo /.mnist/ >> .git/info/exclude; mkdir -p .mnist; cp ../shared/data/mnist/* .mnist/
#   then:         the device tool's run with command "bash benchmarks/gpu_session.sh", carry [".mnist"], timeout 590
#
# The card's own Python (torch, pytest, safetensors, tqdm, scikit-learn are there; Ray is not needed). Logs go to
# $OUT, which comes back.
set -u
export VAE_DATA_DIR="${VAE_DATA_DIR:-$PWD/.mnist}" PYTHONUNBUFFERED=1
out="${OUT:-/tmp}"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/card.txt"
python3 -m pytest -p no:cacheprovider -q tests/test_cuda.py tests/test_graphed_step.py 2>&1 \
  | tail -15 | tee "$out/tests.log"
python3 benchmarks/gpu_epoch.py --parts sweep,classic 2>&1 | tee "$out/gpu_epoch.log"
python3 benchmarks/sweep.py --device cuda --local-only 2>&1 | tee "$out/sweep-digits.log"
python3 benchmarks/sweep.py --device cuda --local-only --recipe mnist --data-dir "$VAE_DATA_DIR" 2>&1 \
  | tee "$out/sweep-mnist.log"
python3 benchmarks/gpu_epoch.py --parts recipe --recipe-seconds 120 2>&1 | tee "$out/recipe.log"
