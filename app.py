"""The VAE lab: st.navigation over the pages, with the model picker in the sidebar below the page list.

Run with `./run app` (or `streamlit run app.py`); every page in app_pages/ reads the model chosen here. (Not
pages/: Streamlit treats a folder of that name as an old-style page list, and a link straight to a page then
opens with a "page not found" dialog on a fresh session.)
"""
import streamlit as st

from ui import navigation, widgets

st.set_page_config(page_title="VAE lab", page_icon="🧪", layout="wide")
page = st.navigation(navigation.streamlit_pages())
widgets.model_picker()
page.run()
