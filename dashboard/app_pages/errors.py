"""Errors: the misclassified test images, filtered by true and predicted class, worst first; click one to inspect it.

Every filter, the page and the selected image are in the URL (``?true=Pullover&predicted=Coat&image=…``),
so a link reopens the same view.
"""

import math
import time

import numpy as np
import streamlit as st

from core.evaluate import select_predictions
from dashboard.gallery import scroll_here
from dashboard.inspect import inspect_image, selected_test_index
from dashboard.widgets import prediction_gallery, selected_run_with_images, show_details

ANY = "Any"
PAGE_SIZE = 100
TURNED_KEY = "errors_turned_page"  # set by a turn of the page under the gallery, read once
SORT_LABELS = {
    "wrong_confidence": "Surest answers first",
    "true_probability": "True class least likely first",
}
SORT_HELP = (
    "Surest answers first: by the model's probability for its own answer, highest first. "
    "True class least likely first: by the probability it gave the true class, lowest first."
)


def page() -> None:
    st.title("Errors")
    found = selected_run_with_images()
    if found is None:
        return
    selected, data = found
    run, class_names, predictions = selected.run, selected.config.classes, selected.predictions
    probs, labels, indices = predictions.probs, predictions.labels, predictions.indices

    # Three filters to a row, the toggle and (when there is more than one page) the page number below, the
    # toggle under the first filter: four columns cut their labels short in a window of 700 px.
    filters = st.columns([2, 2, 3], vertical_alignment="bottom")
    toggle_column, paging, _ = st.columns([2, 2, 3], vertical_alignment="bottom")
    classes = [ANY, *class_names]
    true_name = filters[0].selectbox("True class", classes, key="true", bind="query-params")
    predicted_name = filters[1].selectbox("Predicted as", classes, key="predicted", bind="query-params")
    sort = filters[2].selectbox(
        "Sort by", list(SORT_LABELS), format_func=SORT_LABELS.get, key="sort", bind="query-params", help=SORT_HELP
    )
    include_correct = toggle_column.toggle("Show correct too", key="correct", bind="query-params")

    rows = select_predictions(
        probs,
        labels,
        None if true_name == ANY else class_names.index(true_name),
        None if predicted_name == ANY else class_names.index(predicted_name),
        include_correct=include_correct,
        sort=sort,
    )
    what = "predictions" if include_correct else "errors"
    if len(rows) == 0:
        st.info(f"No {what} match these filters. Set a filter back to “{ANY}”, or turn on “Show correct too”.")
        return
    pages = math.ceil(len(rows) / PAGE_SIZE)
    page_number = 1
    if pages > 1:
        page_number = paging.number_input(f"Page (of {pages})", 1, pages, 1, key="page", bind="query-params")
    shown = rows[(page_number - 1) * PAGE_SIZE : page_number * PAGE_SIZE]
    st.caption(
        f"{len(rows):,} {what} of {len(labels):,} test images; showing {len(shown)} "
        f"(#{(page_number - 1) * PAGE_SIZE + 1}–{(page_number - 1) * PAGE_SIZE + len(shown)}). "
        "Under each image: its true class, then how sure the model was of its answer, and the answer "
        "(red ✗ when wrong, green ✓ when right), then its test index. Click an image to inspect it."
    )
    scroll_here("errors_gallery_top", st.session_state.pop(TURNED_KEY, None))
    chosen = prediction_gallery(shown, data.test.images, predictions, class_names, key="errors_gallery")
    if pages > 1:
        page_turner(page_number, pages)
    row, heading = (shown[0], "The first image") if chosen is None else (chosen, "The image you clicked")
    linked = selected_test_index()
    if chosen is None and linked is not None:  # the URL's image may be on another page (a link, another run)
        position = np.flatnonzero(indices[rows] == linked)
        if len(position):
            row = int(rows[position[0]])
            heading = f"The image in the link (on page {position[0] // PAGE_SIZE + 1})"
    inspect_image(run, row, data.test.images[indices[row]].numpy(), predictions, class_names, heading)
    with st.expander("Per-image details (in gallery order)"):
        show_details(shown, predictions, class_names)


def page_turner(page_number: int, pages: int) -> None:
    """The previous and next pages under the gallery, where a reader who scrolled through 100 images is;
    a turn brings the new page's first images into view."""
    row = st.container(horizontal=True, horizontal_alignment="center", vertical_alignment="center", gap="medium")
    row.button(
        "Previous page", icon=":material/arrow_back:", disabled=page_number <= 1,
        on_click=turn_page, args=(page_number - 1,), key="errors_page_back",
    )  # fmt: skip
    row.caption(f"Page {page_number} of {pages}", width="content")
    row.button(
        "Next page", icon=":material/arrow_forward:", icon_position="right", disabled=page_number >= pages,
        on_click=turn_page, args=(page_number + 1,), key="errors_page_forward",
    )  # fmt: skip


def turn_page(to: int) -> None:
    st.session_state["page"] = to
    st.session_state[TURNED_KEY] = f"{to}-{time.monotonic()}"  # a new token each turn: each one scrolls


page()
