"""Ray, the engine training jobs run on: an existing cluster named by VAE_RAY_ADDRESS (or an address given),
else a local instance started on demand, on loopback only, with one CPU per core.

Ray is imported here and nowhere at import time of vae_core, so a process that never trains never loads it.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import ipaddress
import logging
import os
import signal
import socket
import threading

from .errors import VAEError

ADDRESS_ENV = "VAE_RAY_ADDRESS"
JOB_CPUS_ENV = "VAE_JOB_CPUS"
JOB_GPUS_ENV = "VAE_JOB_GPUS"
JOB_GPUS = 0.25  # of a GPU per job, where the cluster has GPUs: four students' runs share a card


class ClusterError(VAEError):
    """Ray could not be started or reached."""


_lock = threading.Lock()
_connected: str | None = None  # what this process is connected to, once it is


def address() -> str | None:
    """The cluster named by VAE_RAY_ADDRESS, or None for a local instance."""
    return os.environ.get(ADDRESS_ENV) or None


def connect(to: str | None = None) -> str:
    """Connect this process to Ray, once; later calls return at once. Returns a line saying where jobs run.

    to (else VAE_RAY_ADDRESS) is an existing cluster's address; without one a local instance starts here. Safe
    from any thread: Ray ties a local instance's life to the thread that started it, so that happens in a
    thread of its own that lives as long as the process.
    """
    global _connected
    with _lock:
        if _connected is None:
            to = to or address()
            _prepare_environment(to)
            if to:
                _init(address=to)
                _connected = f"Ray cluster at {to}"
            else:
                _start_local()
                _connected = f"a local Ray instance on 127.0.0.1 ({total_cpus()} CPUs)"
        return _connected


def _prepare_environment(to: str | None) -> None:
    """Ray reads these once, when it is first imported."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray's own handler writes a stack dump ("*** SIGTERM received ***") on SIGTERM, which is how a server is
    # stopped, not a failure; without it the process's own handlers (Streamlit's) stop it as they would.
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    if to is None or _on_loopback(to):
        # A cluster on this machine stays on loopback: Ray otherwise swaps 127.0.0.1 for the machine's address.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if to is None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private instance; no token file in ~/.ray


def _on_loopback(to: str) -> bool:
    host = to.removeprefix("ray://").rsplit(":", 1)[0].strip("[]")
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _init(**options) -> None:
    import ray

    if options.get("address") not in (None, "local", "auto"):
        _answers(options["address"])
    try:
        ray.init(**options, log_to_driver=False, logging_level=logging.ERROR)
    except Exception as e:  # Ray raises ConnectionError, RuntimeError, ValueError, TimeoutError...
        where = f"the Ray cluster at {options['address']}" if options.get("address") != "local" else "a local Ray"
        raise ClusterError(f"could not start or reach {where}: {type(e).__name__}: {e}") from None


PROBE_SECONDS = 5.0


def _answers(to: str) -> None:
    """Raise ClusterError at once if nothing accepts a connection at the address: Ray itself retries an address
    with nothing behind it for minutes, printing warnings."""
    host, _, port = to.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"a Ray address is HOST:PORT (the head's, e.g. 127.0.0.1:6379), got {to[:80]!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
    except OSError as e:
        raise ClusterError(f"nothing answers at {to} ({e.strerror or type(e).__name__}): is a Ray head running "
                           "there? (start one with `ray start --head`, or leave the address out to train here)"
                           ) from None


def _start_local() -> None:
    started, failure = threading.Event(), []

    def own():
        try:
            _init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, _node_ip_address="127.0.0.1")
        except ClusterError as e:
            failure.append(e)
        started.set()
        if not failure:
            threading.Event().wait()  # the instance lives while this thread does: as long as the process

    atexit.register(_stop_local, started)  # registered before Ray starts: see _stop_local
    threading.Thread(target=own, name="ray-owner", daemon=True).start()
    started.wait()
    if failure:
        raise failure[0]


def _stop_local(started: threading.Event) -> None:
    """When this process ends: stop the local Ray instance it started, then any of that instance's processes still
    below this one. A server stopped while Ray was starting (or a start that failed half-way) left Ray's dashboard
    and runtime-env agents running for good: ray.shutdown knows only a node that is up, and is not called on a
    start still under way (it would wait on it). The processes are listed before ray.shutdown too: it ends the
    raylet first, and the agents it had started, no longer below this process, were left running for good after a
    server stopped with SIGTERM (ray::DashboardAgent, ray::RuntimeEnvAgent, which then ignored a SIGTERM)."""
    before = _ray_processes_below(os.getpid())
    if started.is_set():
        import ray

        ray.shutdown()
    still = set(_ray_processes_below(os.getpid())) | {pid for pid in before if _is_ray(pid)}
    for pid in still:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _ray_processes_below(root: int) -> list[int]:
    """The processes descended from root that are Ray's (its program's path is in Ray's package, or its title is
    a worker's or an agent's, "ray::..."), read from /proc; none where there is no /proc."""
    parents, commands = {}, {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{entry}/stat", "rb") as f:
                    parents[int(entry)] = int(f.read().rsplit(b")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    commands[int(entry)] = f.read().decode(errors="replace")
    below, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        below += children
        frontier = children
    return [pid for pid in below if _ray_command(commands.get(pid, ""))]


def _ray_command(command: str) -> bool:
    """Whether a process's command line is Ray's: its program in Ray's package, or a worker's or agent's title."""
    package = _ray_package()
    return command.startswith("ray::") or bool(package and package + os.sep in command)


@functools.cache
def _ray_package() -> str | None:
    """The folder of Ray's package (looked up once, not once a process), None where it is not installed."""
    spec = importlib.util.find_spec("ray")
    return os.path.dirname(spec.origin) if spec else None


def _is_ray(pid: int) -> bool:
    """Whether pid is (still) a process of Ray's: not ended, its number not yet taken by another program."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return _ray_command(f.read().decode(errors="replace"))
    except OSError:
        return False


def total_cpus() -> int:
    import ray

    return int(ray.cluster_resources().get("CPU", 0))


def node_cpus() -> int:
    """The CPUs of the largest node: no job can ask for more."""
    import ray

    return max((int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n["Alive"]), default=0)


def free_cpus() -> int:
    """The CPUs no task holds now, at most the largest node's: a snapshot, which a job submitted meanwhile makes
    stale."""
    import ray

    return min(int(ray.available_resources().get("CPU", 0)), node_cpus())


def job_cpus(dataset: str) -> int:
    """The CPU budget of one training job: VAE_JOB_CPUS if set; else 1 for the small digits set (its steps are
    too short to share between cores) and 2 for the 28x28 sets, never more than a node has."""
    wanted = int(os.environ.get(JOB_CPUS_ENV) or (1 if dataset == "digits" else 2))
    return max(1, min(wanted, node_cpus() or wanted))


def job_gpus() -> float:
    """The share of a GPU one job asks for: none on a cluster without GPUs, else VAE_JOB_GPUS (a fraction of one
    card, up to 1), by default JOB_GPUS. A bad value is a ClusterError naming it."""
    import ray

    if not ray.cluster_resources().get("GPU", 0):
        return 0.0
    text = os.environ.get(JOB_GPUS_ENV) or str(JOB_GPUS)
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0 < share <= 1:
        raise ClusterError(f"{JOB_GPUS_ENV} is the share of a GPU one job asks for, above 0 and at most 1, got "
                           f"{text[:40]!r}")
    return share
