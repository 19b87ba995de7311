"""The suggested 90-minute lesson: steps a lecturer walks a class through, each opening the right page with the
right model and point (a link of ui.links). Every question is checked against the numbers its page shows by
tests/test_lesson_numbers.py."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import streamlit as st

from . import links, navigation
from .navigation import Page


@dataclass(frozen=True)
class Step:
    title: str
    minutes: int
    look: str       # what to look at
    question: str   # for the learners
    page: Page      # the page it opens (ui.navigation)
    link: dict      # its query parameters: model, z, image, beta, axes, section


REDUCTION_SECTION = "summed-or-averaged"  # the anchor of the KL trade-off page's header of that name

STEPS = (
    Step("The model of the notes", 10,
         "Read the objective on the home page, then compare the 16-D MNIST model's reconstructions of test images "
         "with the samples it decodes from the prior.",
         "Why are the prior samples blurrier and stranger than the reconstructions, when the same decoder draws "
         "both?",
         navigation.HOME, {"model": "mnist-16d"}),
    Step("Two numbers make a digit", 10,
         "Drag each slider of the 2-D digits model from the origin and watch the digit and the traversal strips.",
         "Which digits does each slider pass through from −3 to 3, and why can two numbers not keep a digit's "
         "identity on one slider and its style on the other?",
         navigation.SLIDERS, {"model": "digits-2d", "z": "0,0"}),
    Step("How the map formed", 10,  # (a replay, a run of one's own, pause, steps, β and speed: 5 was too short)
         "The 2-D digits model's training, replayed on the Train page: drag the scrubber to the first snapshot (the "
         "initial weights), then play it, watching the map, the KL bars, the aggregate posterior and the decoded "
         "manifold. Then start a run of your own there with the default settings (120 steps at 3 a second, 40 s) "
         "and watch the map open up from about step 70; pause it near step 80 (it stops a few steps after the click), "
         "take a few single steps, then raise β to 5 and resume: the 30 to 40 steps left take 10 to 15 s.",
         "At the initial weights every code lies within 0.3 of the origin, every digit mixed with every other: what "
         "can the decoder draw from such codes? In the replay, does the model use both dimensions from the start, "
         "or one before the other (the KL bars and the map up to about epoch 5)? How close does the aggregate "
         "posterior come to N(0, 1) by the end? In your own run, what does β = 5 do to the map that had opened, and "
         "to the KL bars?",
         navigation.TRAIN, {"model": "digits-2d"}),
    Step("Where the encoder puts the data", 10,
         "On the MNIST 2-D map, find each class (click a label in the legend to hide it: the 9s lie over the 4s). "
         "Test image 2307, a 4, is chosen: compare it with its reconstruction, turn on its ellipses and zoom in.",
         "Why do 4s and 9s share a region, and why does this 4 come back as a 9? How wide is one image's posterior "
         "compared with the clusters?",
         navigation.MAP, {"model": "mnist-2d", "image": "2307"}),
    Step("Where no image was encoded", 5,
         "The pad's handle starts in an empty corner, far from every test image's code. Drag it into the cloud and "
         "along its edge from one cluster to the next: inside the cloud the clusters touch; outside it there is "
         "nothing. Then visit the corners (−3.5, −3.5) and (3.5, 3.5), and drag from the 1s at (3, 0) straight "
         "down to (3, −3).",
         "What does the decoder draw where no test image was encoded? Why do some empty corners show a clear digit "
         "and the handle's start a ragged, broken ring, and why does the 1 tilt, then thin and fade as it leaves the "
         "cloud?",
         navigation.PAD, {"model": "mnist-2d", "z": "-3,3"}),
    Step("Straight or round", 10,
         "Interpolate with the 16-D MNIST model from test image 5371 (a 7) to test image 1 (a 2), two codes that "
         "point almost opposite ways; compare the two paths' middle pictures (the sixth of eleven), and their norms "
         "below them.",
         "Neither middle is a clean digit: why is the straight path's a greyer, dimmer blur while the spherical "
         "path's keeps bright (if broken) strokes, and what does each path do to the norm of z?",
         navigation.INTERPOLATION, {"model": "mnist-16d", "image": "5371", "to": "1"}),
    Step("The objective, term by term", 5,
         "Read one image's reconstruction and KL in nats; move β from 1 to 10 and back. (Step 8 shows a model "
         "trained at β = 10.)",
         "At β = 10 the KL part outweighs the reconstruction: which term would training shrink, and what would the "
         "digits look like?",
         navigation.KL_TRADEOFF, {"model": "digits-2d", "image": "3", "beta": "1"}),
    Step("Rate against distortion", 10,
         "On the shipped digits sweep, click the points from β = 0.1 to β = 10 and look at the KL bars; then at low, "
         "medium and high β side by side, their reconstructions and samples.",
         "How many units stay active as β grows, and how much do the last ones carry (the caption under the bars)? "
         "Why does a larger β switch them off? Of β = 0.1, 1 and 10, "
         "whose samples look most like digits, and what goes wrong on either side?",
         navigation.BETA_SWEEP, {"model": "sweeps/digits/beta-1"}),
    Step("The bug in half the code on GitHub", 5,
         "Scroll to \"Summed or averaged\": the same model trained with the reconstruction averaged over pixels.",
         "These digits have 64 pixels: what β does averaging imply here, and on MNIST's 784? What do the averaged "
         "model's samples and active units show?",
         navigation.KL_TRADEOFF, {"model": "sweeps/digits/beta-1", "image": "3", "beta": "1",
                                  "section": REDUCTION_SECTION}),
    Step("Fighting collapse", 10,
         "Train the three runs (plain, warm-up, free bits) with the page's defaults (a few seconds), compare their KL "
         "curves, then read the table and each unit's KL below it.",
         "Which run keeps the most active units, and which gets the best test −ELBO? Free bits pay more KL than the "
         "others: why can that lower the −ELBO of a run trained at β = 2?",
         navigation.WARMUP, {}),
    Step("Your own digit", 5,
         "Draw a 4, keep it, draw a 9, then interpolate between your two drawings. (An open-topped 4 can land "
         "among the 9s, beside your 9: then the path has nowhere to go, so draw the 4 again, slanted or closed.)",
         "Did your 4 land among the 4s, or among the 9s as on step 4's map (click 9 in this map's legend to hide the "
         "9s, as on step 4: they are drawn over the 4s), and does it come back as a 4? What does the path between "
         "your two drawings pass through?",
         navigation.YOUR_DIGIT, {"model": "mnist-2d"}),
)


def href(step: Step) -> str:
    """The step's link relative to the Lesson page's URL, as a new tab opens it: "./" and the page's path ("" for
    the home page), then the query string. (st.page_link writes the home page's link as a bare "?model=...", which
    a browser resolves against the page it is on: a new tab opened the Lesson page again.)"""
    return f"./{step.page.url}" + (f"?{urlencode(step.link)}" if step.link else "")


_link = st.components.v2.component(
    "lesson_link",
    css="""a { color: var(--st-primary-color); font-family: var(--st-font); text-decoration: none; }
a:hover { text-decoration: underline; }""",
    js="""export default function ({ data, parentElement, setTriggerValue }) {
  let link = parentElement.querySelector("a");
  if (!link) link = parentElement.appendChild(document.createElement("a"));
  link.href = data.href;
  link.textContent = "→ " + data.label;
  link.onclick = event => {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();  // in this tab: switch page within the session; a new tab or window opens href
    setTriggerValue("open", true);
  };
}""")


def step_link(step: Step, key: str) -> None:
    """A link that opens the step's page with its parameters: in this tab within the session (as st.page_link
    does), and at the same address in a new tab (which st.page_link gets wrong for the home page)."""
    data = {"key": key, "href": href(step), "label": "Open this step"}
    if _link(key=key, data=data, on_open_change=lambda: None).open:
        links.apply(step.link)  # before app.py writes this session's model and point into the address bar
        st.switch_page(step.page.script, query_params=step.link)
