"""Run against run: accuracy and per-class deltas, the confusion difference, what B fixed and what it broke."""

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis import compare_runs
from core.runs import RunError
from dashboard import charts
from dashboard.gallery import details_frame
from dashboard.sidebar import selected_dataset, selected_run_id
from dashboard.state import get_dataset, open_run, run_predictions, runs_table
from dashboard.widgets import prediction_gallery, show_details

GALLERY_LIMIT = 60


def gallery(title: str, rows: np.ndarray, data, indices, probs, labels, class_names) -> None:
    """Images in rows, captioned with the true class and B's answer."""
    st.subheader(f"{title}: {len(rows):,}")
    if len(rows) == 0:
        st.caption("None.")
        return
    shown = rows[:GALLERY_LIMIT]
    if len(rows) > len(shown):
        st.caption(f"The {len(shown)} where B is most confident.")
    prediction_gallery(shown, data.test.images, probs, labels, indices, class_names, columns=10)
    with st.expander("Per-image details (B's predictions)"):
        show_details(details_frame(shown, indices, probs, labels, class_names))


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
        probs_a, labels_a, indices_a = run_predictions(run_a)
        probs_b, labels_b, indices_b = run_predictions(run_b)
    except RunError as error:
        st.warning(f"Can't compare: {error}")
        return
    if not (np.array_equal(indices_a, indices_b) and np.array_equal(labels_a, labels_b)):
        st.warning("These two runs predicted different test images (a test subset?), so they can't be compared.")
        return
    class_names = list(run_a.config["classes"])
    diff = compare_runs(probs_a, probs_b, labels_a, class_names)

    metrics = st.columns(4)
    metrics[0].metric("Accuracy A", f"{diff.accuracy_a:.2%}", help=f"{id_a} · {run_a.config['model']}")
    metrics[1].metric(
        "Accuracy B",
        f"{diff.accuracy_b:.2%}",
        delta=f"{(diff.accuracy_b - diff.accuracy_a) * 100:+.2f} points",
        help=f"{id_b} · {run_b.config['model']}",
    )
    metrics[2].metric("Fixed by B", f"{len(diff.fixed):,}", help="A wrong, B right")
    metrics[3].metric("Broken by B", f"{len(diff.broken):,}", help="A right, B wrong", delta_color="inverse")

    left, right = st.columns([2, 3])
    with left:
        st.subheader("Recall per class, B − A")
        st.altair_chart(charts.recall_deltas(diff.per_class, class_names))
    with right:
        st.subheader("Confusion matrix, B − A")
        cells = pd.DataFrame(
            [
                {"true": class_names[t], "predicted": class_names[p], "delta": int(diff.confusion_delta[t, p])}
                for t in range(len(class_names))
                for p in range(len(class_names))
            ]
        )
        st.altair_chart(charts.diverging_matrix(cells, class_names))
        st.caption("Red: B puts more images in that cell than A; blue: fewer. On the diagonal, more is better.")

    data = get_dataset(dataset)
    if data is None:
        st.info("The dataset isn't fetched here, so the images can't be shown: `python -m core data fetch`.")
        return
    gallery("Fixed by B (A wrong, B right)", diff.fixed, data, indices_b, probs_b, labels_b, class_names)
    gallery("Broken by B (A right, B wrong)", diff.broken, data, indices_b, probs_b, labels_b, class_names)


page()
