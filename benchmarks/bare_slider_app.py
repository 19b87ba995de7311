"""Streamlit's floor for slider latency: one slider and one small image that follows it, nothing else.

The baseline that benchmarks/slider_latency.py compares the Latent sliders page against.

    streamlit run benchmarks/bare_slider_app.py
"""
import numpy as np
import streamlit as st

value = st.slider("z", -4.0, 4.0, 0.0, step=0.01, key="bare_z")
# Brightness follows the value, one grey level per 0.01 step (wrapping after 256), so every step is a new image.
level = round((value + 4.0) * 100) % 256
image = np.full((28, 28), level, dtype=np.uint8)
st.image(np.repeat(np.repeat(image, 10, 0), 10, 1), output_format="PNG")  # 280x280, like a digit
