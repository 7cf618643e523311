"""Confusion matrix: counts or rates, per-class scores, the most-confused pairs, and each cell's images."""

import numpy as np
import pandas as pd
import streamlit as st

from core.evaluate import cell_predictions, confusion_order, most_confused_classes, normalize_rows
from dashboard import charts
from dashboard.cached import run_evaluation
from dashboard.chartview import draw_chart
from dashboard.inspect import inspect_image
from dashboard.pages import page_entry
from dashboard.text import plain
from dashboard.widgets import dataset_with_images, prediction_gallery, selected_run_predictions, show_details

# The cell's classes are in the URL (?cell_true=…&cell_predicted=…), so a link reopens the cell's images.
TRUE_KEY, PREDICTED_KEY, CHART_KEY, APPLIED_KEY = "cell_true", "cell_predicted", "confusion_chart", "confusion_applied"
GALLERY_LIMIT = 96
ZOOM_DEFAULT = 20
PER_CLASS_PX, MOST_CONFUSED_PX = 570, 330  # side by side from a main area of about 930 pixels
SCORES = {"precision": "Precision", "recall": "Recall", "f1": "F1"}
SCORE_PX = 125  # three bars and their figures, with room for the class and its image count


def cells_frame(matrix: np.ndarray, class_names: list[str], shown: list[int] | None = None) -> pd.DataFrame:
    """One row per cell of the ``shown`` classes (all by default); rates are shares of the whole true class."""
    rates = normalize_rows(matrix)
    shown = list(range(len(class_names))) if shown is None else shown
    return pd.DataFrame(
        [
            {"true": class_names[t], "predicted": class_names[p], "count": int(matrix[t, p]), "rate": rates[t, p]}
            for t in shown
            for p in shown
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
    # Many classes: the matrix is ordered by confusion and narrowed to the classes with the most errors;
    # fewer keep their own order (digits read best as 0–9).
    many = len(class_names) > charts.MANY_CLASSES
    if many:
        most_confused(evaluation, top=ZOOM_DEFAULT)  # with many classes, the pairs first: the matrix is large
    # The class pickers beside the toggle only with many classes: empty columns would cut its label short.
    controls = st.columns([2, 3, 3], vertical_alignment="bottom") if many else [st.container()]
    normalized = controls[0].toggle("Rates per true class", value=False, key="confusion_rates")
    shown = shown_classes(evaluation.confusion, class_names, controls) if many else list(range(len(class_names)))
    cells = cells_frame(evaluation.confusion, class_names, shown)
    shown_names = [class_names[i] for i in shown]
    event = draw_chart(
        st, charts.confusion_heatmap, cells, shown_names, normalized, key=CHART_KEY, selection_mode="cell"
    )
    apply_clicked_cell(event, class_names)

    cell_gallery(run, predictions, evaluation, class_names)  # right under the matrix: a click shows its images
    scores(evaluation, pairs=not many)


def shown_classes(confusion: np.ndarray, class_names: list[str], controls) -> list[int]:
    """For a large matrix: how many classes to show (those with the most errors) and in which order."""
    count = controls[1].slider(
        "Classes shown",
        2,
        len(class_names),
        min(ZOOM_DEFAULT, len(class_names)),
        key="confusion_zoom",
        help="The classes with the most errors, made or suffered; all of them at the right end.",
    )
    order = controls[2].segmented_control(
        "Order", ["by confusion", "as numbered"], default="by confusion", key="confusion_order"
    )
    chosen = most_confused_classes(confusion, count)
    if order != "as numbered":  # None (the control cleared) keeps the default
        chosen = chosen[confusion_order(confusion[np.ix_(chosen, chosen)])]
    return [int(i) for i in chosen]


def scores(evaluation, pairs: bool = True) -> None:
    """Per-class precision, recall and F1 beside the most-confused pairs (unless they were shown first); side by
    side where the window has room for both, one under the other where it hasn't."""
    row = st.container(horizontal=True, gap="medium")
    left = row.container(width=PER_CLASS_PX)
    right = row.container(width=MOST_CONFUSED_PX) if pairs else None
    with left:
        st.subheader("Per class")
        report = evaluation.report.copy()
        for score in SCORES:
            report[score] = report[score] * 100  # shown as "88.5%" in every row (Streamlit's percent drops zeros)
        st.dataframe(
            report,
            hide_index=True,
            column_config={
                "class": "Class",
                **{
                    score: st.column_config.ProgressColumn(
                        title, format="%.1f%%", min_value=0, max_value=100, width=SCORE_PX
                    )
                    for score, title in SCORES.items()
                },
                "support": st.column_config.NumberColumn("Images", format="localized"),
            },
        )
    if right is not None:
        with right:
            most_confused(evaluation, top=10)


def most_confused(evaluation, top: int) -> None:
    st.subheader("Most confused")
    pairs = evaluation.pairs.head(top)[["true_name", "predicted_name", "count", "rate"]].copy()
    pairs["rate"] = pairs["rate"] * 100
    st.dataframe(
        pairs,
        hide_index=True,
        column_config={
            "true_name": "True",
            "predicted_name": "Predicted as",
            "count": "Images",
            "rate": st.column_config.NumberColumn("Share of true", format="%.1f%%"),
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
        st.info(
            f"No test image of {plain(true_name)} was predicted as {plain(predicted_name)}. "
            "Click another cell of the matrix."
        )
        return
    shown = rows[:GALLERY_LIMIT]
    verb = "correctly classified" if true_name == predicted_name else f"predicted as {plain(predicted_name)}"
    st.markdown(
        f"**{len(rows):,}** test images of **{plain(true_name)}** {verb}"
        + (f" — the {len(shown)} most confident shown" if len(rows) > len(shown) else "")
        + ", most confident first. Click an image to inspect it."
    )
    data = dataset_with_images(run.config.dataset, {run.id: predictions})
    if data is None:
        return
    chosen = prediction_gallery(shown, data.test.images, predictions, class_names, key="cell_gallery")
    if chosen is not None:
        image = data.test.images[predictions.indices[chosen]].numpy()
        inspect_image(run, chosen, image, predictions, class_names, "The image you clicked")
    with st.expander("Per-image details (in gallery order, left to right, top to bottom)"):
        show_details(shown, predictions, class_names)


page()
