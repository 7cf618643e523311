"""Run against run: accuracy and per-class deltas, the confusion difference, what B fixed and what it broke."""

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis import RunComparison, compare_run_predictions, same_predictions
from core.runs import Predictions, Run, RunError
from dashboard import charts
from dashboard.cached import run_predictions
from dashboard.chartview import draw_chart
from dashboard.sidebar import selected_dataset, selected_run_id
from dashboard.store import open_run, runs_table
from dashboard.text import plain
from dashboard.widgets import dataset_with_images, prediction_gallery, show_details

GALLERY_LIMIT = 60


def gallery(title: str, rows: np.ndarray, data, predictions: Predictions, class_names) -> None:
    """Images in rows, captioned with the true class and B's answer."""
    st.subheader(f"{title}: {len(rows):,}")
    if len(rows) == 0:
        st.caption("None.")
        return
    shown = rows[:GALLERY_LIMIT]
    if len(rows) > len(shown):
        st.caption(f"The {len(shown)} where B is most confident.")
    prediction_gallery(shown, data.test.images, predictions, class_names, key=f"compare_{title}", clickable=False)
    with st.expander("Per-image details (B's predictions)"):
        show_details(shown, predictions, class_names)


def headline(diff: RunComparison, run_a: Run, run_b: Run) -> None:
    metrics = st.columns(4)
    metrics[0].metric("Accuracy A", f"{diff.accuracy_a:.2%}", help=f"{run_a.id} · {plain(run_a.config.model)}")
    metrics[1].metric(
        "Accuracy B",
        f"{diff.accuracy_b:.2%}",
        # No arrow for no change: a green "↑ +0.00" reads as an improvement.
        delta=f"{(diff.accuracy_b - diff.accuracy_a) * 100:+.2f} points"
        if diff.accuracy_b != diff.accuracy_a
        else None,
        help=f"{run_b.id} · {plain(run_b.config.model)}",
    )
    metrics[2].metric("Fixed by B", f"{len(diff.fixed):,}", help="A wrong, B right")
    metrics[3].metric("Broken by B", f"{len(diff.broken):,}", help="A right, B wrong", delta_color="inverse")


def delta_charts(diff: RunComparison, class_names) -> None:
    left, right = st.columns([2, 3])
    with left:
        st.subheader("Recall per class, B − A")
        draw_chart(st, charts.recall_deltas, diff.per_class, class_names)
    with right:
        st.subheader("Confusion matrix, B − A")
        cells = pd.DataFrame(
            [
                {"true": class_names[t], "predicted": class_names[p], "delta": int(diff.confusion_delta[t, p])}
                for t in range(len(class_names))
                for p in range(len(class_names))
            ]
        )
        draw_chart(st, charts.diverging_matrix, cells, class_names)
        st.caption(
            "Each number: how many more (+) or fewer (−) images B puts in that cell than A. Green where that is "
            "better (more right answers on the diagonal, fewer errors off it), red where it is worse."
        )


def same_weights(run_a: Run, run_b: Run) -> str:
    """ ": they hold the same weights" when their model files are byte for byte the same, else ""."""
    try:
        return ": they hold the same weights" if run_a.weights_digest() == run_b.weights_digest() else ""
    except RunError:
        return ""


def page() -> None:
    st.title("Run against run")
    dataset = selected_dataset()
    table = runs_table()
    candidates = table[(table["dataset"] == dataset) & table["test_accuracy"].notna()]["id"].tolist()
    if len(candidates) < 2:
        st.info(
            f"Comparing needs two {dataset} runs with test predictions; there are {len(candidates)}. Train another:"
            f"\n\n```\npython -m core train --dataset {dataset} --preset quick --seed 1\n```"
        )
        return
    current = selected_run_id()
    second = candidates.index(current) if current in candidates else 0
    first = next(i for i in range(len(candidates)) if i != second)
    pick = st.columns(2)
    id_a = pick[0].selectbox("Run A (before)", candidates, index=first, key="compare_a")
    id_b = pick[1].selectbox("Run B (after)", candidates, index=second, key="compare_b")
    if id_a == id_b:
        st.info("Pick two different runs.")
        return
    run_a, run_b = open_run(id_a), open_run(id_b)
    if run_a is None or run_b is None:
        st.warning("One of the two runs is gone from the store.")
        return
    try:
        predictions_a, predictions_b = run_predictions(run_a), run_predictions(run_b)
        diff = compare_run_predictions(run_a.config, predictions_a, run_b.config, predictions_b)
    except RunError as error:
        st.warning(f"Can't compare: {plain(error)}")
        return
    class_names = run_a.config.classes
    headline(diff, run_a, run_b)
    if same_predictions(predictions_a, predictions_b):
        st.info(f"{id_a} and {id_b} give the same probabilities for every test image{same_weights(run_a, run_b)}.")
        return
    delta_charts(diff, class_names)
    data = dataset_with_images(dataset, {id_a: predictions_a, id_b: predictions_b})
    if data is None:
        return
    gallery("Fixed by B (A wrong, B right)", diff.fixed, data, predictions_b, class_names)
    gallery("Broken by B (A right, B wrong)", diff.broken, data, predictions_b, class_names)


page()
