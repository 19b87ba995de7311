"""The VAE lab: st.navigation over the pages, with the model picker in the sidebar below the page list.

Run with `./run app` (or `streamlit run app.py`); every page in app_pages/ reads the model chosen here. (Not
pages/: Streamlit treats a folder of that name as an old-style page list, and a link straight to a page then
opens with a "page not found" dialog on a fresh session.)
"""
import streamlit as st

from ui import links, my_runs, navigation, resources, sidebar, state
from ui.formulas import fit_formulas

# (a sidebar of 340 px shows a model's name whole in the picker: a run's is 31 characters, ui.sidebar.short_label)
st.set_page_config(page_title="VAE lab", page_icon="🧪", layout="wide", initial_sidebar_state=340)
page = st.navigation(navigation.streamlit_pages())
navigation.follow_alias(page)  # /train: the Train page (Streamlit's addresses are case-sensitive)
my_runs.welcome()  # a new session: this browser's runs from before
links.restore(page.url_path)  # a link opened: its model, point and page settings first
if page.url_path == navigation.TRAIN.url:  # a run that ended since the last rerun: its model in the picker drawn
    my_runs.adopt_ended(state.JOB)         # next (the page adopting it said "saved as" over the old one for 2 s)
my_runs.list_ended_groups()
sidebar.model_picker()
fit_formulas()


def write_links() -> None:
    model = st.session_state[state.MODEL]
    links.write("model", links.model_ref(model))
    z = state.latent_point(resources.summary(model).config.latent_dim)
    if any(z):
        links.write("z", z)
    else:  # the origin, where a new session starts: a 50-D model's link had carried fifty zeros on every page
        links.drop("z")


write_links()  # before the page too: after a page's st.stop() nothing more reaches the browser (Your digit's link,
try:           # before a drawing, had no model)
    page.run()
finally:  # after the page, so that a model or point the page itself set (a button, a finished run) is in the link
    write_links()
