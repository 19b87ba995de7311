"""The lesson page, run headless: every step links to a page, model and point that exist."""
import pytest

from headless import app_test as page
from headless import linked_page
from ui import navigation
from vae_core import load_checkpoint

pytestmark = pytest.mark.usefixtures("private_runs")


def test_every_lesson_step_links_to_a_page_model_and_point_that_exist():
    from ui.lesson import STEPS
    from ui.links import model_path

    scripts = {p.script for p in navigation.PAGES}
    assert 8 <= len(STEPS) <= 10 and sum(s.minutes for s in STEPS) == 90
    at = page("app_pages/lesson.py").run()
    assert not at.exception and len(at.get("page_link")) == len(STEPS)
    for step in STEPS:
        assert step.page.script in scripts and step.question.endswith("?")
        if "model" in step.link:
            assert load_checkpoint(model_path(step.link["model"]))  # a shipped model, opened by name
        opened, notices = linked_page(step.page.script, step.link)
        assert not opened.exception and not notices, (step.title, notices)
