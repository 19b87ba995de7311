"""Runs started in the app in a real browser (Debian's chromium through Playwright), on the session's Ray
(conftest's ray_node): a training run started and stopped, and a worker killed mid-run.

Screenshots land in test-artifacts/screenshots/.
"""
import os
import re
import signal

import pytest
from playwright.sync_api import expect

import browser
from browser import SCREENSHOTS, running_app, wait_idle

pytestmark = browser.MARKS


@pytest.fixture(scope="module")
def app(tmp_path_factory, ray_node):
    with running_app(tmp_path_factory.mktemp("runs"), ray=ray_node) as (url, page):
        yield url, page


def open_page(app, path):
    url, page = app
    return browser.open_page(page, url, path)


def test_start_and_stop_a_training_run_on_digits(app):
    page = open_page(app, "Train")
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("400")
    epochs.press("Tab")
    page.get_by_role("button", name="Start training").click()
    page.get_by_role("button", name="Stop").wait_for(timeout=30_000)
    page.wait_for_selector("text=/epoch [2-9]\\d* of 400/", timeout=60_000)  # at least one epoch finished
    page.get_by_role("button", name="Stop").click()
    message = page.locator("text=/stopped after \\d+ epochs; saved/")
    message.wait_for(timeout=30_000)
    epochs_done = re.search(r"stopped after (\d+) epochs", message.inner_text()).group(1)
    # The message, the progress line and the saved checkpoint (the sidebar's caption, now that it is the chosen
    # model) all count the same finished epochs.
    expect(page.locator("[data-testid='stMain']")).to_contain_text(f"stopped: {epochs_done} of 400 epochs")
    expect(page.locator("[data-testid='stSidebar']")).to_contain_text(f"{epochs_done} epochs on", timeout=20_000)
    wait_idle(page)
    page.screenshot(path=str(SCREENSHOTS / "train-stopped.png"), full_page=True)


def test_a_worker_that_dies_fails_its_run_and_the_app_serves_everyone_else(app):
    url, page = app
    page = open_page(app, "Train")
    page.get_by_role("textbox", name="Hidden layer sizes").fill("1024,1024")  # a run long enough to be killed mid-way
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("500")
    epochs.press("Tab")
    page.get_by_role("button", name="Start training").click()
    running = page.get_by_text(re.compile(r"Ray worker (\d+) on node"))
    running.wait_for(timeout=60_000)
    pid = int(re.search(r"Ray worker (\d+) on node", running.inner_text()).group(1))
    os.kill(pid, signal.SIGKILL)  # as an out-of-memory kill would
    expect(page.locator("[data-testid='stMain']")).to_contain_text("the worker training this run died",
                                                                   timeout=30_000)
    page.screenshot(path=str(SCREENSHOTS / "train-worker-died.png"), full_page=True)
    other = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        other.goto(f"{url}/Latent_map")
        other.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
        wait_idle(other)
        other.wait_for_selector(".js-plotly-plot", timeout=30_000)  # the server still serves everyone
        assert other.locator("[data-testid='stException']").count() == 0
    finally:
        other.context.close()
