"""The suggested 90-minute lesson: steps a lecturer walks a class through, each opening the right page with the
right model and point (a link of ui.links)."""
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
    link: dict      # its query parameters: model, z, image, beta, axes


STEPS = (
    Step("The model of the notes", 10,
         "Read the objective on the home page, then compare the reconstructions of test images with the samples "
         "decoded from the prior.",
         "Why are the prior samples blurrier and stranger than the reconstructions?",
         navigation.HOME, {"model": "digits-2d"}),
    Step("Two numbers make a digit", 10,
         "Drag each slider of the 2-D digits model from the origin and watch the digit and the traversal strips.",
         "Which direction changes which digit it is, and which only its style?",
         navigation.SLIDERS, {"model": "digits-2d", "z": "0,0"}),
    Step("Where the encoder puts the data", 10,
         "On the MNIST 2-D map, find each class; click a point to see its posterior and turn on the ellipses.",
         "Why do 4s and 9s share a region, and how wide is one image's posterior compared with the clusters?",
         navigation.MAP, {"model": "mnist-2d"}),
    Step("Drag through the gaps", 10,
         "Drag the pad's handle from one cluster to another, slowly through the empty space between them.",
         "What does the decoder draw where no training image was encoded, and why is it still a plausible digit?",
         navigation.PAD, {"model": "mnist-2d", "z": "0,0"}),
    Step("Straight or round", 10,
         "Interpolate between two test images of the 16-D MNIST model; compare the two paths and their norms.",
         "Why does the middle of the straight path look washed out in 16 dimensions, and what does the spherical "
         "path keep constant?",
         navigation.INTERPOLATION, {"model": "mnist-16d", "image": "0"}),
    Step("The objective, term by term", 10,
         "Read one image's reconstruction and KL in nats; move β from 1 to 10 and back.",
         "At β = 10, which term would training shrink first, and what would the digits look like?",
         navigation.KL_TRADEOFF, {"model": "digits-2d", "image": "3", "beta": "1"}),
    Step("Rate against distortion", 10,
         "On the shipped digits sweep, click the points from β = 0.1 to β = 10; look at the KL bars and the samples.",
         "Why do units collapse one by one as β grows, and which β gives the best samples?",
         navigation.BETA_SWEEP, {"model": "sweeps/digits/beta-1"}),
    Step("The bug in half the code on GitHub", 5,
         "Scroll to \"Summed or averaged\": the same model trained with the reconstruction averaged over pixels.",
         "These digits have 64 pixels: what β does averaging imply here, and on MNIST's 784? What do the averaged "
         "model's samples and active units show?",
         navigation.KL_TRADEOFF, {"model": "sweeps/digits/beta-1", "image": "3", "beta": "1"}),
    Step("Fighting collapse", 10,
         "Train the three runs (plain, warm-up, free bits) with the page's defaults and watch the KL curves.",
         "Free bits keep every unit, yet which run has the best test −ELBO, and why need those two not agree?",
         navigation.WARMUP, {}),
    Step("Your own digit", 5,
         "Draw a 4, keep it, draw a 9, then interpolate between your two drawings.",
         "Did your digits land among their classes on the map? What does the path between them pass through?",
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
