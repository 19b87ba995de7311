"""The code beside the formulas in Debian's chromium: a term's link lights its lines while hovered and, clicked,
scrolls them into view and keeps them lit; the reduction lesson's two loss lines side by side. Screenshots in
test-artifacts/screenshots/ (source-*.png)."""
import pytest

import browser
from browser import SCREENSHOTS

pytestmark = browser.MARKS
LIT = "(selector) => [...document.querySelectorAll(selector)].map(e => getComputedStyle(e).backgroundColor)"
UNLIT = "rgba(0, 0, 0, 0)"


@pytest.fixture(scope="module")
def app(shared_app):
    with browser.page_on(shared_app) as (url, page):
        yield url, page


def test_a_terms_link_lights_and_shows_the_lines_that_compute_it(app):
    url, page = app
    browser.open_page(page, url, "")
    page.get_by_text("The code beside the formulas").click()
    code = page.locator(".vae-src .code")
    code.wait_for()
    assert "return mu + eps * torch.exp(0.5 * logvar)" in code.inner_text()
    assert set(page.evaluate(LIT, ".vae-src .line")) == {UNLIT}  # nothing lit before a term is chosen
    page.screenshot(path=str(SCREENSHOTS / "source-home.png"))

    page.hover(".vae-src .term-kl")
    kl, others = page.evaluate(LIT, ".vae-src .t-kl"), page.evaluate(LIT, ".vae-src .line:not(.t-kl)")
    assert len(kl) == 4 and UNLIT not in kl and set(others) == {UNLIT}
    assert all("logvar.exp()" in text or "kl" in text for text in page.locator(".vae-src .t-kl").all_inner_texts())
    assert "vae_core/objective.py lines" in page.get_attribute(".vae-src .term-kl", "title")
    page.evaluate("""() => {  // the box scrolled to the closed form, the mouse still on the link
        const box = document.querySelector('.vae-src .code'), line = document.querySelectorAll('.vae-src .t-kl')[1];
        box.scrollTop += line.getBoundingClientRect().top - box.getBoundingClientRect().top - 60; }""")
    page.screenshot(path=str(SCREENSHOTS / "source-hover-kl.png"))

    page.click(".vae-src .term-z")
    page.mouse.move(5, 5)  # off the links: what stays lit is the clicked term's
    assert page.evaluate("() => location.hash") == "#vae-src-z"
    assert set(page.evaluate(LIT, ".vae-src .t-z")) != {UNLIT} and set(page.evaluate(LIT, ".vae-src .t-kl")) == {UNLIT}
    # The draw's line scrolled into the box, and on screen below the links, which stay in view (waited for: the
    # scroll may be smooth)
    page.wait_for_function("""() => {
        const rect = s => document.querySelector(s).getBoundingClientRect();
        const line = rect('.vae-src .t-z'), box = rect('.vae-src .code'), links = rect('.vae-src .terms');
        return box.top <= line.top && line.bottom <= box.bottom && links.bottom <= line.top
            && line.bottom <= window.innerHeight; }""", timeout=5_000)
    assert "eps = torch.randn(" in page.locator(".vae-src .t-z").first.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "source-clicked-z.png"))


def test_the_reduction_lesson_shows_the_two_loss_lines_side_by_side(app):
    url, page = app
    browser.open_page(page, url, "KL_trade-off")
    summed = page.locator(".t-loss", has_text='reduction="none"')
    averaged = page.locator(".t-loss", has_text='reduction="mean"')
    summed.scroll_into_view_if_needed()
    left = page.locator(".vae-src .code", has=summed).bounding_box()
    right = page.locator(".vae-src .code", has=averaged).bounding_box()
    assert left["x"] + left["width"] <= right["x"]  # side by side: one left of the other, at the same height
    assert left["y"] < right["y"] + right["height"] and right["y"] < left["y"] + left["height"]
    assert UNLIT not in page.evaluate(LIT, ".vae-src .t-loss")
    # every wrapped line within its box (a chain of calls with no space in it ran past the edge)
    past = page.evaluate("""() => [...document.querySelectorAll('.vae-src.wrap .code')].flatMap(box => {
        const edge = box.getBoundingClientRect().right;
        return [...box.querySelectorAll('.line')].filter(l => l.scrollWidth > l.clientWidth + 1
            || l.getBoundingClientRect().right > edge + 1).map(l => l.textContent); })""")
    assert page.locator(".vae-src.wrap .code").count() >= 1 and past == [], past
    page.screenshot(path=str(SCREENSHOTS / "source-reduction.png"))
