"""Confusion matrix: counts or rates, per-class scores, the most-confused pairs, and each cell's images."""

import numpy as np
import pandas as pd
import streamlit as st

from core.evaluate import cell_predictions, normalize_rows
from dashboard import charts
from dashboard.cached import get_dataset, run_evaluation
from dashboard.inspect import inspect_image
from dashboard.pages import page_entry
from dashboard.text import plain
from dashboard.widgets import prediction_gallery, selected_run_predictions, show_details

# The cell's classes are in the URL (?cell_true=…&cell_predicted=…), so a link reopens the cell's images.
TRUE_KEY, PREDICTED_KEY, CHART_KEY, APPLIED_KEY = "cell_true", "cell_predicted", "confusion_chart", "confusion_applied"
GALLERY_LIMIT = 96


def cells_frame(matrix: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    rates = normalize_rows(matrix)
    return pd.DataFrame(
        [
            {"true": class_names[t], "predicted": class_names[p], "count": int(matrix[t, p]), "rate": rates[t, p]}
            for t in range(len(class_names))
            for p in range(len(class_names))
        ]
    )


def apply_clicked_cell(event, class_names: list[str]) -> None:
    """A newly clicked cell sets the pair pickers (drawn after the chart, so this is allowed)."""
    cells = (event or {}).get("selection", {}).get("cell") or []
    clicked = (cells[0].get("true"), cells[0].get("predicted")) if cells else None
    if clicked and clicked != st.session_state.get(APPLIED_KEY) and all(c in class_names for c in clicked):
        st.session_state[TRUE_KEY], st.session_state[PREDICTED_KEY] = clicked
    st.session_state[APPLIED_KEY] = clicked


def page() -> None:
    st.title("Confusion matrix")
    selected = selected_run_predictions()
    if selected is None:
        return
    run, class_names, predictions = selected.run, list(selected.config.classes), selected.predictions
    evaluation = run_evaluation(run)

    st.caption(
        f"{run.id} · {plain(run.config.model)} · {len(predictions.labels):,} test images · "
        f"accuracy {evaluation.accuracy:.2%}. "
        "Click a cell to see its images below."
    )
    normalized = st.toggle("Rates per true class", value=False, key="confusion_rates")
    chart = charts.confusion_heatmap(cells_frame(evaluation.confusion, class_names), class_names, normalized)
    event = st.altair_chart(chart, on_select="rerun", key=CHART_KEY, selection_mode="cell")
    apply_clicked_cell(event, class_names)

    cell_gallery(run, predictions, evaluation, class_names)  # right under the matrix: a click shows its images
    scores(evaluation)


def scores(evaluation) -> None:
    """Per-class precision, recall and F1 beside the most-confused pairs."""
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Per class")
        st.dataframe(
            evaluation.report,
            hide_index=True,
            column_config={
                "class": "Class",
                "precision": st.column_config.ProgressColumn("Precision", format="percent", min_value=0, max_value=1),
                "recall": st.column_config.ProgressColumn("Recall", format="percent", min_value=0, max_value=1),
                "f1": st.column_config.ProgressColumn("F1", format="percent", min_value=0, max_value=1),
                "support": st.column_config.NumberColumn("Images", format="localized"),
            },
        )
    with right:
        st.subheader("Most confused")
        pairs = evaluation.pairs.head(10)[["true_name", "predicted_name", "count", "rate"]]
        st.dataframe(
            pairs,
            hide_index=True,
            column_config={
                "true_name": "True",
                "predicted_name": "Predicted as",
                "count": "Images",
                "rate": st.column_config.NumberColumn("Share of true", format="percent"),
            },
        )


def cell_gallery(run, predictions, evaluation, class_names: list[str]) -> None:
    """The images of the picked cell (true class, predicted class), most confident first."""
    st.subheader("Images of one cell")
    if TRUE_KEY not in st.session_state and len(evaluation.pairs):
        top = evaluation.pairs.iloc[0]
        st.session_state[TRUE_KEY], st.session_state[PREDICTED_KEY] = top.true_name, top.predicted_name
    pick_true, pick_predicted, link = st.columns([3, 3, 2], vertical_alignment="bottom")
    true_name = pick_true.selectbox("True class", class_names, key=TRUE_KEY, bind="query-params")
    predicted_name = pick_predicted.selectbox("Predicted as", class_names, key=PREDICTED_KEY, bind="query-params")
    errors_page = page_entry("errors.py")
    link.page_link(
        errors_page.script,
        label="Open in Errors",
        icon=errors_page.icon,
        query_params={
            "dataset": run.config.dataset,
            "run": run.id,
            "true": true_name,
            "predicted": predicted_name,
            **({"correct": "true"} if true_name == predicted_name else {}),
        },
    )
    probs, labels = predictions.probs, predictions.labels
    rows = cell_predictions(probs, labels, class_names.index(true_name), class_names.index(predicted_name))
    if len(rows) == 0:
        st.info(f"No test image of {true_name} was predicted as {predicted_name}. Click another cell of the matrix.")
        return
    shown = rows[:GALLERY_LIMIT]
    verb = "correctly classified" if true_name == predicted_name else f"predicted as {predicted_name}"
    st.markdown(
        f"**{len(rows):,}** test images of **{true_name}** {verb}"
        + (f" — the {len(shown)} most confident shown" if len(rows) > len(shown) else "")
        + ", most confident first. Click an image to inspect it."
    )
    data = get_dataset(run.config.dataset)
    if data is None:
        st.info("The dataset isn't fetched here, so the images can't be shown: `python -m core data fetch`.")
        return
    chosen = prediction_gallery(shown, data.test.images, predictions, class_names, key="cell_gallery")
    if chosen is not None:
        image = data.test.images[predictions.indices[chosen]].numpy()
        inspect_image(run, chosen, image, predictions, class_names, "The image you clicked")
    with st.expander("Per-image details (in gallery order, left to right, top to bottom)"):
        show_details(shown, predictions, class_names)


page()
