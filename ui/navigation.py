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


PAGES = (
    Page("pages/home.py", "Home", ":material/home:", ""),
    Page("pages/latent_sliders.py", "Latent sliders", ":material/tune:", "Latent_sliders"),
    Page("pages/latent_map.py", "Latent map", ":material/scatter_plot:", "Latent_map"),
    Page("pages/interpolation.py", "Interpolation", ":material/swap_horiz:", "Interpolation"),
    Page("pages/train.py", "Train", ":material/model_training:", "Train"),
    Page("pages/latent_pad.py", "Latent pad", ":material/touch_app:", "Latent_pad"),
    Page("pages/kl_tradeoff.py", "KL trade-off", ":material/balance:", "KL_trade-off"),
    Page("pages/beta_sweep.py", "Beta sweep", ":material/show_chart:", "Beta_sweep"),
    Page("pages/warmup_free_bits.py", "Warm-up and free bits", ":material/local_fire_department:",
         "Warm-up_and_free_bits"),
)


def streamlit_pages() -> list[st.Page]:
    return [st.Page(p.script, title=p.title, icon=p.icon, url_path=p.url or None, default=not p.url)
            for p in PAGES]
