"""Streamlit helpers shared by the pages: session keys, cached resources, the model picker, image display."""
