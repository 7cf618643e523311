"""Embedding map: the test images' penultimate-layer features in 2-D; drag a rectangle to see its images."""

import numpy as np
import pandas as pd
import streamlit as st

from core.runs import Run, RunError
from dashboard import charts
from dashboard.cached import run_embedding, run_model
from dashboard.chartview import draw_chart
from dashboard.inspect import inspect_image
from dashboard.text import plain
from dashboard.widgets import prediction_gallery, rows_in_brush, selected_run_with_images, show_details

METHODS = {"pca": "PCA: instant", "tsne": "t-SNE: about a minute the first time, then kept with the run"}
CHART_KEY = "embedding_chart"
GALLERY_LIMIT = 120


def page() -> None:
    st.title("Embedding map")
    found = selected_run_with_images()
    if found is None:
        return
    selected, data = found
    run, class_names, predictions = selected.run, selected.config.classes, selected.predictions
    probs, labels, indices = predictions.probs, predictions.labels, predictions.indices
    if len(labels) != len(data.test.labels) or not np.array_equal(indices, np.arange(len(labels))):
        st.warning(f"{run.id}'s predictions don't cover the test split in order: `python -m core evaluate {run.id}`.")
        return

    controls = st.columns([2, 5], vertical_alignment="bottom")
    method = controls[0].segmented_control(
        "Projection",
        list(METHODS),
        format_func=lambda m: m.upper() if m == "pca" else "t-SNE",
        default="pca",
        key="embedding_method",
        help=" ".join(f"{text}." for text in METHODS.values()),  # in the help: a caption beside it floated
    )
    method = method or "pca"
    errors_only = controls[1].toggle("Errors only", key="embedding_errors_only")
    try:
        xy = run_embedding(run, method)
    except RunError as error:
        st.warning(f"{run.id}: {plain(error)}")
        return

    predicted = probs.argmax(axis=1)
    points = pd.DataFrame(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "true": [class_names[c] for c in labels],
            "predicted": [class_names[c] for c in predicted],
            "error": predicted != labels,
            "index": indices,
        }
    )
    shown = points[points["error"]] if errors_only else points
    st.caption(
        f"{len(shown):,} test images, each a point placed by {_what_places_them(run)} "
        f"({method.upper() if method == 'pca' else 't-SNE'} to 2-D), coloured by true class; "
        f"black rings mark the {int(points['error'].sum())} errors. Drag a rectangle to see its images."
    )
    event = draw_chart(
        st,
        charts.embedding_scatter,
        shown,
        class_names,
        key=f"{CHART_KEY}-{method}-{errors_only}",
        selection_mode="brush",
    )
    rows = rows_in_brush(event, shown)  # positions in points (its index is 0…N−1)
    if len(rows) == 0:
        return
    total = len(rows)
    rows = rows[np.argsort(~points["error"].to_numpy()[rows], kind="stable")][:GALLERY_LIMIT]  # errors first
    st.subheader(f"Selected: {total:,} images" + (f", showing {len(rows)}, errors first" if total > len(rows) else ""))
    chosen = prediction_gallery(rows, data.test.images, predictions, class_names, key="embedding_gallery")
    if chosen is not None:
        image = data.test.images[indices[chosen]].numpy()
        inspect_image(run, chosen, image, predictions, class_names, "The image you clicked")
    with st.expander("Per-image details"):
        show_details(rows, predictions, class_names)


def _what_places_them(run: Run) -> str:
    """What the map is a projection of: the classifier layer's input, or for a model without a layer to read
    (an all-convolutional one, imported), its class scores."""
    try:
        model = run_model(run)
    except RunError:  # the map was kept from weights since damaged; the warning is another page's to give
        model = None
    if getattr(model, "features_are_scores", False):
        return f"its class scores ({plain(run.config.model)} has no linear classifier layer whose input could be read)"
    return f"the features {plain(run.config.model)}'s classifier layer reads"


page()
