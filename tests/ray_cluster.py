"""Real Ray clusters for the tests, on loopback only, each stopped through its own processes.

Every `ray start` runs in a session of its own (start_new_session), so the test stops exactly what it
started, raylet, GCS and workers included, by that session's process ids: never `ray stop`, which would
kill every Ray process on the machine.

On one machine Ray swaps 127.0.0.1 for the machine's own address unless told otherwise: a single node
is kept on loopback with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (as vae_core.cluster does for addresses on
loopback), and the nodes of a two-node cluster (which that setting forbids) are started through
LOOPBACK_RAY, which keeps Ray's localhost resolution from rewriting 127.0.0.1.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

from waiting import holds_within

LOOPBACK_RAY = ("import sys, ray._private.services as s; s.resolve_ip_for_localhost = lambda host: host; "
                "from ray.scripts.scripts import main; sys.exit(main())")
QUIET = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}


def free_port() -> int:
    """A free port below Ray's worker port range (10002-19999), from a range of its own for each pytest-xdist worker:
    two workers starting a Ray head at once both found 6400 free, and the second joined the first's GCS ("Session
    name ... does not match persisted value")."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = 6400 + 900 * (int(worker) % 4 if worker.isdigit() else 0)
    for port in range(first, first + 900):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")


def session_pids(sid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    pids.append(int(entry))
            except (ProcessLookupError, PermissionError):
                pass
    return pids


# The session of each node ray_head started, by its address: its workers are in it too (see node_workers).
NODE_SESSIONS: dict[str, int] = {}


def node_workers(address: str, task: str) -> list[int]:
    """The process ids of the workers of the node at address (started by ray_head) running the task named task,
    on this node only: another Ray on the machine (a second app, a helper's run) has workers of the same name."""
    return [pid for pid, title in process_titles(session_pids(NODE_SESSIONS[address])) if title == f"ray::{task}"]


def process_titles(pids=None) -> list[tuple[int, str]]:
    """(pid, title) of these processes (every one here by default) that are still there: a program's path, or the
    title Ray gives a worker by the task it runs ("ray::train_task")."""
    found = []
    for pid in (int(e) for e in os.listdir("/proc") if e.isdigit()) if pids is None else pids:
        with contextlib.suppress(OSError):
            found.append((pid, Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()))
    return found


def ray_processes(sid: int) -> list[str]:
    """The Ray node processes (GCS, raylet) in session sid, by name and process id."""
    return [f"{Path(name).name} {pid}" for pid, name in process_titles(session_pids(sid))
            if name.endswith(("/gcs_server", "/raylet"))]


def stop_session(leader: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGTERM every process of the session leader's session, then SIGKILL what is left after grace seconds."""
    sid = leader.pid

    def ended() -> bool:
        leader.poll()  # reap it, or it lingers as a zombie of the session
        return not session_pids(sid)

    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in session_pids(sid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        if holds_within(ended, wait):
            break
    leftover = session_pids(sid)
    assert not leftover, f"processes of session {sid} still alive: {leftover}"


def _start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, start_new_session=True, stdout=open(log, "w"), stderr=subprocess.STDOUT)


def _wait_started(process: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    """Until `ray start` says the node runs (for a second node: that it joined the cluster)."""
    started = lambda: "Ray runtime started." in log.read_text()  # noqa: E731
    holds_within(lambda: started() or process.poll() is not None, timeout)  # until it runs, or ended, or the time
    if not started():
        raise RuntimeError(f"ray did not start: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def ray_head(logs: Path, cpus: int = 2, gpus: int = 0):
    """One node on 127.0.0.1 (declaring gpus GPUs, which Ray takes on trust); yields its address."""
    port = free_port()
    env = {**os.environ, **QUIET, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
    head = _start([sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--node-ip-address=127.0.0.1",
                   f"--port={port}", f"--num-cpus={cpus}", f"--num-gpus={gpus}", "--include-dashboard=false",
                   "--disable-usage-stats", "--block"], env, logs / f"ray-head-{port}.log")
    try:
        _wait_started(head, logs / f"ray-head-{port}.log")
        NODE_SESSIONS[f"127.0.0.1:{port}"] = head.pid
        yield f"127.0.0.1:{port}"
    finally:
        NODE_SESSIONS.pop(f"127.0.0.1:{port}", None)
        stop_session(head)


@contextlib.contextmanager
def two_node_cluster(logs: Path, cpus_per_node: int = 1):
    """A head and a second node joining it, both on 127.0.0.1 with token authentication (a token made here);
    yields (address, the environment a driver needs: the token)."""
    port = free_port()
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    env = {**os.environ, **QUIET, **auth}
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
    ray = [sys.executable, "-c", LOOPBACK_RAY, "start", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus_per_node}",
           "--block"]
    head = _start(ray + ["--head", f"--port={port}", "--include-dashboard=false", "--disable-usage-stats"], env,
                  logs / "ray-two-node-head.log")
    nodes = [head]
    try:
        _wait_started(head, logs / "ray-two-node-head.log")
        nodes.append(_start(ray + [f"--address=127.0.0.1:{port}"], env, logs / "ray-two-node-second.log"))
        _wait_started(nodes[-1], logs / "ray-two-node-second.log")
        yield f"127.0.0.1:{port}", auth
    finally:
        for node in reversed(nodes):
            stop_session(node)
