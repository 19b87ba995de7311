"""The VAE lab: st.navigation over the pages, with the model picker in the sidebar below the page list.

Run with `./run app` (or `streamlit run app.py`); every page in app_pages/ reads the model chosen here. (Not
pages/: Streamlit treats a folder of that name as an old-style page list, and a link straight to a page then
opens with a "page not found" dialog on a fresh session.)
"""
import streamlit as st

from ui import links, navigation, state, widgets

st.set_page_config(page_title="VAE lab", page_icon="🧪", layout="wide")
page = st.navigation(navigation.streamlit_pages())
links.restore(page.url_path)  # a link opened: its model, point and page settings first
checkpoint = widgets.model_picker()
links.write("model", links.model_ref(st.session_state[state.MODEL]))
links.write("z", state.latent_point(checkpoint.config.latent_dim))
page.run()
