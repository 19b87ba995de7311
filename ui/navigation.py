"""The app's pages in the order a course visits them, for st.navigation and for links between pages."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class Page:
    script: str   # relative to app.py
    title: str
    icon: str     # a Material icon, shipped with Streamlit
    url: str      # the page's path in the address bar ("" for the home page)


HOME = Page("app_pages/home.py", "Home", ":material/home:", "")
LESSON = Page("app_pages/lesson.py", "Lesson", ":material/school:", "Lesson")
SLIDERS = Page("app_pages/latent_sliders.py", "Latent sliders", ":material/tune:", "Latent_sliders")
MAP = Page("app_pages/latent_map.py", "Latent map", ":material/scatter_plot:", "Latent_map")
INTERPOLATION = Page("app_pages/interpolation.py", "Interpolation", ":material/swap_horiz:", "Interpolation")
YOUR_DIGIT = Page("app_pages/your_digit.py", "Your digit", ":material/draw:", "Your_digit")
COMPARE = Page("app_pages/compare.py", "Compare two models", ":material/compare:", "Compare")
TRAIN = Page("app_pages/train.py", "Train", ":material/model_training:", "Train")
PAD = Page("app_pages/latent_pad.py", "Latent pad", ":material/touch_app:", "Latent_pad")
KL_TRADEOFF = Page("app_pages/kl_tradeoff.py", "KL trade-off", ":material/balance:", "KL_trade-off")
BETA_SWEEP = Page("app_pages/beta_sweep.py", "Beta sweep", ":material/show_chart:", "Beta_sweep")
WARMUP = Page("app_pages/warmup_free_bits.py", "Warm-up and free bits", ":material/local_fire_department:",
              "Warm-up_and_free_bits")

# the lesson's order (a lecturer found the sidebar's order another: sliders, map, interpolation, …, Train eighth), then
# Compare, which no step visits
PAGES = (HOME, LESSON, SLIDERS, TRAIN, MAP, PAD, INTERPOLATION, KL_TRADEOFF, BETA_SWEEP, WARMUP, YOUR_DIGIT, COMPARE)


# Each page's address in lower case, and its sidebar title as an address (/Compare_two_models, /Home), where they
# differ from it: Streamlit matches an address exactly, and a typed /train opened Home under a "Page not found"
# dialog; these hidden pages send the browser on to the page (follow_alias). (Home's file name gave it /home in
# Streamlit's books, unreachable at the root's address, and an alias of it stopped every page with an exception: it
# is named HOME_PATH there instead.)
ALIASES = {alias: p for p in PAGES
           for alias in (p.url.lower(), p.title.replace(" ", "_"), p.title.replace(" ", "_").lower())
           if alias and alias != p.url}
HOME_PATH = "welcome"  # the home page's url_path in Streamlit's books (its address is the root's, "")


def streamlit_pages() -> list[st.Page]:
    pages = [st.Page(p.script, title=p.title, icon=p.icon, url_path=p.url or HOME_PATH, default=not p.url)
             for p in PAGES]
    return pages + [st.Page(_alias, title=p.title, url_path=alias, visibility="hidden") for alias, p in ALIASES.items()]


def follow_alias(page: st.Page) -> None:
    """Where the address named a page in another case (/latent_map), that page, the link's parameters kept."""
    target = ALIASES.get(page.url_path)
    if target is not None:
        st.switch_page(target.script, query_params=st.query_params.to_dict())


def _alias() -> None:  # (follow_alias leaves before an alias page runs)
    pass
