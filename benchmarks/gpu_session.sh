#!/usr/bin/env bash
# Everything a session lent a CUDA device measures, in one call of the device tool (about 7 minutes on an H200),
# most needed first, each step under a limit of its own and all of them under one deadline (DEADLINE seconds, 560
# unless set), so that the call ends well inside the tool's 10 minutes whatever hangs:
#   the tests of the CUDA paths; five-beta sweeps trained as one program against one of their runs, per epoch in one
#   process; the classic configuration through the captured, compiled step with its kernels listed, then under
#   Inductor's max-autotune and in TF32; the sweeps as whole processes; the classic 10-epoch process from the shell;
#   the 500-epoch paper recipe, stopped after 60 s (its per-epoch figure gives the whole), if time is left.
#
#   here, once:   echo /.mnist/ >> .git/info/exclude; mkdir -p .mnist; cp ../shared/data/mnist/* .mnist/
#   then:         the device tool's run with command "bash benchmarks/gpu_session.sh", carry [".mnist"], timeout 590
#
# The card's own Python (torch, pytest, safetensors, tqdm, scikit-learn are there; Ray is not needed). Logs go to
# $OUT, which comes back (at most 8 files: one log a part).
set -u
export VAE_DATA_DIR="${VAE_DATA_DIR:-$PWD/.mnist}" PYTHONUNBUFFERED=1
out="${OUT:-/tmp}"
deadline="${DEADLINE:-560}"

# part LOG LIMIT COMMAND...: COMMAND under LIMIT seconds or what is left before the deadline, its output kept in LOG;
# skipped when less than 20 s is left
part() {
  local log="$1" limit="$2"
  shift 2
  local left=$((deadline - SECONDS))
  ((left < limit)) && limit=$left
  if ((limit < 20)); then
    echo "skipped (${left} s left): $*" | tee -a "$out/$log"
    return
  fi
  echo "== $* (at ${SECONDS} s, limit ${limit} s)" | tee -a "$out/$log"
  timeout "$limit" "$@" 2>&1 | tee -a "$out/$log"
}

nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/card.txt"
part tests.log 170 python3 -m pytest -p no:cacheprovider -q tests/test_cuda.py tests/test_graphed_step.py
part sweep-epoch.log 120 python3 benchmarks/gpu_epoch.py --parts sweep
part classic.log 90 python3 benchmarks/gpu_epoch.py --parts compiled --profile
part classic.log 200 python3 benchmarks/gpu_epoch.py --parts compiled --mode max-autotune-no-cudagraphs --profile
part sweep-process.log 100 python3 benchmarks/sweep.py --device cuda --local-only
part sweep-process.log 120 python3 benchmarks/sweep.py --device cuda --local-only --recipe mnist \
  --data-dir "$VAE_DATA_DIR"
part classic.log 60 python3 benchmarks/gpu_epoch.py --parts compiled --tf32
part process.log 60 python3 benchmarks/gpu_epoch.py --parts process
part recipe.log 90 python3 benchmarks/gpu_epoch.py --parts recipe --recipe-seconds 60
echo "done at ${SECONDS} s"
