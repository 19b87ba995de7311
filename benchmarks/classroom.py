"""A class on one server: 20 browser sessions dragging latent sliders at once against 1 alone, the same while
4 more sessions each train a digits model, the same sessions with nothing drawn (the floor of 20 browser
contexts on these cores), those 4 runs (and 4 more with no one dragging) against the same runs one after
another from the CLI, the server's memory per session, and one in-app MNIST epoch against the CLI's (with the
run's page open in a browser on the same machine, and closed as when each student's browser runs on their own
computer; in rounds, interleaved), all in one run.

    python benchmarks/classroom.py [--sessions 20] [--trainers 4] [--seconds 8] [--model mnist-2d]
    python benchmarks/classroom.py --live [--sessions 20] [--seconds 20]

With --live it measures the live view instead: that many sessions each watch their own digits run train (300
epochs at 10 steps a second, on a Ray node declaring a CPU per run so that all of them train at once), and it
reports the web server's CPU with every live view open against the same runs with every page closed (the runs'
own cost to the server: following their events), and the bytes each page received (websocket frames and the
pictures it fetched) per second.

The app runs as `./run app` does (nothing configured: the first training starts a local Ray instance on
127.0.0.1), sessions are contexts of one headless Debian chromium. A session drags its first slider back and
forth with input events at 30 per second and lets go every 1.5 s (a release reruns its page on the server);
its latency runs from each input event to the end of drawing the decoded digit, read from the page's own
performance clock (ui/decoder/sliders.js). Needs /usr/bin/chromium and Playwright; MNIST from VAE_DATA_DIR
(default ../shared/data/mnist). Check that the machine is idle first (uptime): the figures are ratios of
runs made here, one after another.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser import CHROMIUM, CHROMIUM_FLAGS, choose, streamlit_server, wait_idle  # noqa: E402

MNIST_EPOCHS = 4  # the in-app and CLI runs compared per epoch, the first (slower) epoch of each left out,
MNIST_ROUNDS = 3  # in rounds of (page open, page closed, CLI), so that a drift of the host's speed falls on all
MANY_CONTEXTS = ["--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                 "--disable-backgrounding-occluded-windows"]

# Started in every session at once; resolves to the input->drawn latencies (ms) of the drag.
DRAG = """async ([seconds, rate]) => {
  const sliders = window.vaeLab.components.sliders;
  const input = sliders.rows[0].input;
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  await new Promise(r => requestAnimationFrame(r));
  sliders.resetStats();
  const end = performance.now() + seconds * 1000;
  let value = -2, step = 0.09;
  while (performance.now() < end) {
    for (let i = 0; i < 45 && performance.now() < end; i++) {  // 1.5 s of dragging
      value += step;
      input.value = value.toFixed(2);
      input.dispatchEvent(new Event("input"));
      await sleep(1000 / rate);
    }
    input.dispatchEvent(new Event("change"));  // let go: the point goes to the session
    step = -step;
  }
  await sleep(200);
  return sliders.stats.toDrawn.slice();
}"""


# The harness's floor: the same page with the digit and the strip no longer drawn, each input only timed at the
# next animation frame. What 20 contexts of one chromium cost on these two cores with nothing of ours to do.
BARE = """() => {
  const sliders = window.vaeLab.components.sliders;
  sliders.startStrip = function () { this.stripWanted = false; };
  sliders.drawDigit = function () {
    this.dirty = false;
    this.stats.frames += 1;
    if (this.since !== null) { this.stats.toDrawn.push(performance.now() - this.since); this.since = null; }
  };
}"""


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def server_pid(port: int) -> int:
    """The streamlit process listening on port."""
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    return int(re.search(r"pid=(\d+)", out).group(1))


def open_sliders(browser, url, model):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(f"{url}/Latent_sliders")
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=120_000)
    wait_idle(page, timeout=120_000)
    if model:
        page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
        page.get_by_role("option", name=re.compile(f"^{re.escape(model)} ")).click()
    page.wait_for_function("() => { const s = window.vaeLab && window.vaeLab.components.sliders;"
                           " return s && s.decoder && s.stats.frames > 0; }", timeout=120_000)
    wait_idle(page, timeout=120_000)
    return page


def drag_all(pages, seconds, rate=30) -> list[float]:
    """Start the drag in every page at once and gather every latency."""
    for page in pages:
        page.evaluate(f"() => {{ window.__drag = ({DRAG})([{seconds}, {rate}]); }}")
    latencies = []
    for page in pages:
        latencies += page.evaluate("() => window.__drag")
    return latencies


def start_training(browser, url, settings: dict):
    """A session on the Train page that submits a run with the given form settings; returns its page."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(f"{url}/Train")
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=120_000)
    wait_idle(page, timeout=120_000)
    if "dataset" in settings:
        page.locator("[data-testid='stMain'] [data-testid='stSelectbox']").first.click()
        page.get_by_role("option", name=settings["dataset"], exact=True).click()
    for label, value in settings.items():
        if label != "dataset":
            box = page.get_by_role("textbox" if label == "Hidden layer sizes" else "spinbutton", name=label, exact=True)
            box.fill(str(value))
            box.press("Tab")
    return page


def click_start(page):
    page.get_by_role("button", name="Start training").click()


def saved_runs(runs: Path) -> int:
    return len(list(runs.glob("*/metrics.json")))


def train_together(pages, runs: Path, meanwhile=None):
    """Start the run of every page at once; returns (seconds until all of them are saved, what meanwhile()
    returned, run while they train)."""
    before, started = saved_runs(runs), time.perf_counter()
    for page in pages:
        click_start(page)
    result = meanwhile() if meanwhile else None
    return wait_finished(runs, before + len(pages)) - started, result


def wait_finished(runs: Path, count: int, timeout: float = 1800) -> float:
    """Until count checkpoints exist under runs; returns the time.perf_counter() at that moment."""
    deadline = time.time() + timeout
    while saved_runs(runs) < count:
        if time.time() > deadline:
            raise TimeoutError(f"{count} runs did not finish")
        time.sleep(0.1)
    return time.perf_counter()


def cli_train(args: list[str], out: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vae_core", "train", *args, "--out", str(out)], cwd=ROOT, check=True,
                   capture_output=True, env={k: v for k, v in os.environ.items() if k != "VAE_RAY_ADDRESS"})
    return time.perf_counter() - start, json.loads((out / "metrics.json").read_text())


def watch_live(browser, url, speed: str = "10 steps/s"):
    """A session on the Train page that starts a 300-epoch digits run at 10 steps a second and counts the bytes it
    receives (HTTP responses as they came over the wire, websocket frames' payloads); returns (page, counter)."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page, received = context.new_page(), {"bytes": 0}
    cdp = context.new_cdp_session(page)  # chromium's own count of what came over the wire
    cdp.send("Network.enable")

    def add(n):
        received["bytes"] += n

    cdp.on("Network.dataReceived", lambda e: add(e.get("encodedDataLength", 0)))
    cdp.on("Network.webSocketFrameReceived", lambda e: add(len(e["response"].get("payloadData", ""))))
    page.goto(f"{url}/Train")
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=300_000)
    wait_idle(page, timeout=300_000)
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill("300")
    epochs.press("Tab")
    choose(page, "Speed to begin with", speed)
    click_start(page)
    return page, received


def live_main(args) -> None:
    from playwright.sync_api import sync_playwright

    from ray_cluster import ray_head

    live = "window.vaeLab?.components?.live_view"
    work = Path(tempfile.mkdtemp(prefix="classroom-live-"))
    with ray_head(work, cpus=args.sessions + 1) as address:
        env = {"VAE_DATA_DIR": args.data_dir, "VAE_RUNS_DIR": str(work / "runs"), "VAE_RAY_ADDRESS": address,
               "VAE_JOB_CPUS": "1"}
        with streamlit_server(ROOT / "app.py", env=env, timeout=180) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS + MANY_CONTEXTS)
            pid = server_pid(int(url.rsplit(":", 1)[1]))
            watchers = [watch_live(browser, url) for _ in range(args.sessions)]
            for page, _ in watchers:  # every run trains and its view has drawn snapshots
                page.wait_for_function(f"() => {live} && {live}.snapshots >= 3", timeout=600_000)
            print(f"{args.sessions} live views drawing", flush=True)
            time.sleep(3)
            cpu, wall, received = cpu_seconds(pid), time.perf_counter(), [r["bytes"] for _, r in watchers]
            snapshots = [page.evaluate(f"() => {live}.snapshots") for page, _ in watchers]
            time.sleep(args.seconds)
            seconds = time.perf_counter() - wall
            viewed = (cpu_seconds(pid) - cpu) / seconds
            rates = [(r["bytes"] - before) / seconds for (_, r), before in zip(watchers, received)]
            feeds = [f.stat().st_size for f in (ROOT / "static" / "served").glob("live-*.json")]
            drawn = [page.evaluate(f"() => {live}.snapshots") - n for (page, _), n in zip(watchers, snapshots)]
            for page, _ in watchers:
                page.context.close()  # the sessions end; their runs train on
            time.sleep(5)
            cpu, wall = cpu_seconds(pid), time.perf_counter()
            time.sleep(args.seconds)
            unviewed = (cpu_seconds(pid) - cpu) / (time.perf_counter() - wall)
            browser.close()
    print(json.dumps({
        "machine": f"{platform.node()} ({os.cpu_count()} cores)", "sessions": args.sessions,
        "seconds": round(seconds, 1),
        "server_cores_with_live_views": round(viewed, 3), "server_cores_runs_alone": round(unviewed, 3),
        "server_cores_for_the_views": round(viewed - unviewed, 3),
        "kb_per_second_per_session": {"median": round(statistics.median(rates) / 1e3, 1),
                                      "max": round(max(rates) / 1e3, 1)},
        "snapshots_drawn_per_second_per_session": round(statistics.median(drawn) / seconds, 2),
        "feed_kb": round(statistics.median(feeds) / 1e3, 1) if feeds else None,
        "load_average_after": os.getloadavg(),
    }, indent=1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--trainers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each drag measurement")
    parser.add_argument("--model", default="mnist-2d", help="the shipped model the slider sessions use")
    parser.add_argument("--data-dir", default=os.environ.get("VAE_DATA_DIR", str(ROOT.parent / "shared/data/mnist")))
    parser.add_argument("--live", action="store_true", help="measure live views of training instead")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        sys.exit(f"skipped: {CHROMIUM} missing (apt-get install -y chromium)")
    if args.live:
        print(f"load average before: {os.getloadavg()}", flush=True)
        return live_main(args)
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    print(f"load average before: {os.getloadavg()}", flush=True)
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="classroom-"))
    env = {"VAE_DATA_DIR": args.data_dir, "VAE_RUNS_DIR": str(work / "runs"), "VAE_RAY_ADDRESS": ""}
    digits_epochs = 30
    with streamlit_server(ROOT / "app.py", env=env, timeout=180) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS + MANY_CONTEXTS)
        pid = server_pid(int(url.rsplit(":", 1)[1]))
        # Warm the server and Ray: a class's server has served a page and a run before the lesson's peak.
        warm = start_training(browser, url, {"Epochs": 1})
        train_together([warm], work / "runs")
        warm.context.close()

        first = open_sliders(browser, url, args.model)
        rss_one = rss_mb(pid)
        drag_all([first], 2)  # warm-up: JIT, canvases
        cpu = cpu_seconds(pid)
        alone = drag_all([first], args.seconds)
        server_cpu = {"alone": cpu_seconds(pid) - cpu}
        print(f"1 session: {len(alone)} changes", flush=True)

        pages = [first] + [open_sliders(browser, url, args.model) for _ in range(args.sessions - 1)]
        rss_many = rss_mb(pid)
        drag_all(pages, 2)
        cpu = cpu_seconds(pid)
        together = drag_all(pages, args.seconds)
        server_cpu["together"] = cpu_seconds(pid) - cpu
        print(f"{args.sessions} sessions: {len(together)} changes", flush=True)

        trainers = [start_training(browser, url, {"Epochs": digits_epochs}) for _ in range(args.trainers)]
        rss_training = rss_mb(pid)
        in_app_total, while_training = train_together(trainers, work / "runs", lambda: drag_all(pages, args.seconds))
        print(f"{args.sessions} sessions while {args.trainers} train: {len(while_training)} changes; "
              f"the {args.trainers} runs took {in_app_total:.1f} s", flush=True)
        for page in trainers:
            page.context.close()
        for page in pages:
            page.evaluate(BARE)
        bare_alone = drag_all([first], args.seconds)
        bare_together = drag_all(pages, args.seconds)
        print(f"floor: 1 session {len(bare_alone)} changes, {args.sessions} sessions {len(bare_together)}", flush=True)
        for page in pages:
            page.context.close()

        trainers = [start_training(browser, url, {"Epochs": digits_epochs}) for _ in range(args.trainers)]
        in_app_quiet, _ = train_together(trainers, work / "runs")  # no one dragging
        for page in trainers:
            page.context.close()

        mnist = {"dataset": "mnist", "Hidden layer sizes": "400", "Latent dimensions": 20, "Epochs": MNIST_EPOCHS}
        mnist_args = ["--dataset", "mnist", "--data-dir", args.data_dir, "--hidden", "400", "--latent-dim", "20",
                      "--epochs", str(MNIST_EPOCHS)]
        in_app_epochs, cli_epochs = {True: [], False: []}, []
        for round_ in range(MNIST_ROUNDS):
            for watched in (True, False):  # the page drawing progress on this machine, or (as in a class) elsewhere
                page = start_training(browser, url, mnist)
                close = lambda: (page.wait_for_timeout(500), page.context.close())  # noqa: E731
                train_together([page], work / "runs", None if watched else close)
                newest = max((work / "runs").glob("*/metrics.json"), key=lambda f: f.stat().st_mtime)
                in_app_epochs[watched] += [r["seconds"] for r in json.loads(newest.read_text())["history"]][1:]
                if watched:
                    page.context.close()
            _, cli_mnist = cli_train(mnist_args, work / f"cli-mnist-{round_}")
            cli_epochs += [r["seconds"] for r in cli_mnist["history"]][1:]
        browser_version = browser.version
        browser.close()

    cli_wall = [cli_train(["--dataset", "digits", "--epochs", str(digits_epochs)], work / f"cli-{i}")[0]
                for i in range(args.trainers)]

    import streamlit
    print(f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; chromium "
          f"{browser_version} headless; streamlit {streamlit.__version__}; sliders on {args.model}, decoded in the "
          f"browser; load average after: {os.getloadavg()}\n")
    print("| sessions dragging a latent slider at once | changes | p50 input→drawn ms | p95 ms | p95 / alone |"
          " server CPU s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, values, cpu, alone_then in (
            ("1 alone", alone, server_cpu["alone"], alone),
            (f"{args.sessions}", together, server_cpu["together"], alone),
            (f"{args.sessions}, while {args.trainers} others train digits", while_training, None, alone),
            ("floor: 1 alone, nothing drawn", bare_alone, None, bare_alone),
            (f"floor: {args.sessions}, nothing drawn", bare_together, None, bare_alone)):
        print(f"| {name} | {len(values)} | {statistics.median(values):.1f} | {percentile(values, 0.95):.1f} | "
              f"{percentile(values, 0.95) / percentile(alone_then, 0.95):.2f}x | {'' if cpu is None else f'{cpu:.1f}'} |")
    print(f"\n(server CPU s: the Streamlit process's CPU time over the {args.seconds:g} s drag: a rerun per release, "
          "nothing per move; the rest of the machine's two cores went to the simulated browsers. The floor rows: the "
          "same pages with the digit and the strip not drawn, each input timed to the next animation frame; their "
          "ratio is against the floor's own session alone)")
    cli_total = sum(cli_wall)
    print(f"\n| {args.trainers} digits runs of {digits_epochs} epochs | wall s | ratio |\n| --- | --- | --- |")
    print(f"| one after another from the CLI (each its own process) | {cli_total:.1f} | 1.00x |")
    print(f"| submitted together from {args.trainers} app sessions (Ray, 1 CPU each) | {in_app_total:.1f} | "
          f"{in_app_total / cli_total:.2f}x |")
    print(f"| the same, with no session dragging (the {args.trainers} run pages open) | {in_app_quiet:.1f} | "
          f"{in_app_quiet / cli_total:.2f}x |")
    print(f"\nServer memory (RSS of the Streamlit process): {rss_one:.0f} MB with 1 session, {rss_many:.0f} MB with "
          f"{args.sessions}, {rss_training:.0f} MB with {args.sessions + args.trainers}: "
          f"{(rss_training - rss_one) / (args.sessions + args.trainers - 1):.1f} MB per further session")
    cli_epoch = statistics.median(cli_epochs)
    print(f"\n| MNIST 784-400-20, batch 128, one epoch (train + test pass; median of {len(cli_epochs)}, "
          f"{MNIST_ROUNDS} runs each, interleaved) | s | speed vs CLI |")
    print("| --- | --- | --- |")
    print(f"| CLI (`train`, its own process, 2 threads) | {cli_epoch:.2f} | 1.00x |")
    for watched, where in ((True, "its page open in a browser on this machine"),
                           (False, "its page closed after the start, as when the browser is a student's own")):
        app_epoch = statistics.median(in_app_epochs[watched])
        print(f"| in the app (a Ray job with 2 CPUs), {where} | {app_epoch:.2f} | {cli_epoch / app_epoch:.2f}x |")


if __name__ == "__main__":
    main()
