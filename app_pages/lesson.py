"""Lesson: a suggested 90-minute path through the lab, each step a link to the right page, model and point."""
import streamlit as st

from ui.lesson import STEPS, step_link

st.title("A 90-minute lesson")
st.caption(f"{len(STEPS)} steps, {sum(s.minutes for s in STEPS)} minutes. Each link opens the page with the model and "
           "point the step needs (it changes your chosen model and point); the sidebar brings you back here. "
           "Copy a link from the address bar to share exactly what you see.")
for number, step in enumerate(STEPS, 1):
    with st.container(border=True):
        st.markdown(f"**{number}. {step.title}** · {step.minutes} min")
        st.markdown(step.look)
        st.markdown(f"*Question:* {step.question}")
        step_link(step, key=f"lesson_step_{number}")
