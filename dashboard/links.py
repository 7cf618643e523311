"""Links from one page to the others that study the same run (no torch: the first page uses them)."""

from __future__ import annotations

import streamlit as st

from dashboard.pages import page_entry
from dashboard.text import plain


def open_links(run_id: str, dataset: str) -> None:
    """A labelled row of links that open the selected run on the pages that study it."""
    row = st.container(horizontal=True, wrap=True, vertical_alignment="center")  # wraps, never cuts a label
    row.markdown(f"**Open {plain(run_id)} in**")
    for file in ("curves.py", "confusion.py", "errors.py", "model_card.py"):
        entry = page_entry(file)
        row.page_link(
            entry.script, label=entry.title, icon=entry.icon, query_params={"dataset": dataset, "run": run_id}
        )
