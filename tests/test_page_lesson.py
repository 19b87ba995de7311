"""The lesson page, run headless: every step links to a page, model and point that exist, at an address that opens
them in a new tab too."""
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest

from headless import app_test as page
from headless import browser_pictures, linked_page
from ui import navigation
from vae_core import load_checkpoint

pytestmark = pytest.mark.usefixtures("private_runs")


def test_the_sidebar_lists_the_pages_in_the_order_the_lesson_visits_them():
    """A lecturer found the sidebar's order another than the lesson's (Train eighth, its step the third)."""
    from ui.lesson import STEPS

    visited = list(dict.fromkeys(step.page for step in STEPS))
    assert [p for p in navigation.PAGES if p in visited] == visited


def test_every_lesson_step_links_to_a_page_model_and_point_that_exist():
    from ui.lesson import STEPS
    from ui.links import model_path

    scripts = {p.script for p in navigation.PAGES}
    assert 8 <= len(STEPS) <= 11 and sum(s.minutes for s in STEPS) == 90
    at = page("app_pages/lesson.py").run()
    links = {k: v for k, v in browser_pictures(at).items() if k.startswith("lesson_step_")}
    assert not at.exception and len(links) == len(STEPS)
    for number, step in enumerate(STEPS, 1):
        assert step.page.script in scripts and step.question.endswith("?")
        if "model" in step.link:
            assert load_checkpoint(model_path(step.link["model"]))  # a shipped model, opened by name
        opened, notices = linked_page(step.page.script, step.link)
        assert not opened.exception and not notices, (step.title, notices)
        # Opened in a new tab from the Lesson page (here served under a path of its own): the step's page, the
        # home page at the app's root, with the step's parameters
        href = links[f"lesson_step_{number}"]["href"]
        address = urlsplit(urljoin("http://lab.example/course/Lesson?model=digits-2d", href))
        assert address.path == "/course/" + step.page.url and dict(parse_qsl(address.query)) == step.link, step.title
