"""Errors: the misclassified test images, filtered by true and predicted class, worst first."""

import math

import pandas as pd
import streamlit as st

from core.analysis import methods_for
from core.evaluate import select_predictions
from core.pictures import attribution_picture
from core.runs import RunError
from dashboard import charts
from dashboard.cached import run_explanation, run_model
from dashboard.gallery import tile
from dashboard.text import plain
from dashboard.widgets import prediction_gallery, selected_run_with_images, show_details

ANY = "Any"
COLUMNS = 10
PAGE_SIZE = 100
METHOD_LABELS = {"integrated-gradients": "Integrated Gradients", "saliency": "Saliency", "occlusion": "Occlusion"}
METHOD_HELP = {
    "integrated-gradients": "Integrated Gradients: each pixel's share of the change in the class score between a "
    "black image and this one (32 steps). Computed with captum.",
    "saliency": "Saliency: the gradient of the class score with respect to each pixel (signed). Computed with captum.",
    "occlusion": "Occlusion: how much the class score drops when a 4×4 patch is blacked out. Computed with captum.",
}
SORT_LABELS = {
    "wrong_confidence": "Confidence in its answer (highest first)",
    "true_probability": "Probability of the true class (lowest first)",
}


def saliency(run, image, probs, label: int, class_names) -> None:
    """Attribution maps (captum) of one image for the predicted class and for the true class, side by side."""
    st.markdown("**Where did it look?** Red pixels pushed towards the class, blue ones away from it.")
    try:
        methods = methods_for(run_model(run))
    except RunError as error:
        st.warning(f"{run.id}: {plain(error)}")
        return
    if st.session_state.get("errors_attribution") not in methods:
        st.session_state.pop("errors_attribution", None)
    method = (
        st.segmented_control(
            "Attribution", methods, format_func=METHOD_LABELS.get, default=methods[0], key="errors_attribution"
        )
        or methods[0]
    )
    try:
        explanation = run_explanation(run, image, probs, label, method)
    except RunError as error:
        st.warning(f"{run.id}: {plain(error)}")
        return
    columns = st.columns([1, 1, 2])
    for column, values, target, role in zip(
        columns[:2], explanation.maps, explanation.targets, explanation.roles, strict=True
    ):
        title = f"for {role}: {class_names[target]} ({probs[target]:.0%})"
        column.image(attribution_picture(values, image, explanation.limit), caption=title, output_format="PNG")
    note = (
        ""
        if len(methods) > 1
        else " This run is an ONNX graph (its code isn't ours), so only Occlusion can explain it."
    )
    columns[2].caption(
        METHOD_HELP[method] + note + f"  CLI: `python -m core saliency {run.id} INDEX --method {method}`."
    )


def page() -> None:
    st.title("Errors")
    found = selected_run_with_images()
    if found is None:
        return
    selected, data = found
    run, class_names, predictions = selected.run, selected.config.classes, selected.predictions
    probs, labels, indices = predictions.probs, predictions.labels, predictions.indices

    filters = st.columns([2, 2, 3, 2], vertical_alignment="bottom")
    true_name = filters[0].selectbox("True class", [ANY, *class_names], key="errors_true")
    predicted_name = filters[1].selectbox("Predicted as", [ANY, *class_names], key="errors_predicted")
    sort = filters[2].selectbox("Sort by", list(SORT_LABELS), format_func=SORT_LABELS.get, key="errors_sort")
    include_correct = filters[3].toggle("Show correct too", key="errors_correct")

    rows = select_predictions(
        probs,
        labels,
        None if true_name == ANY else class_names.index(true_name),
        None if predicted_name == ANY else class_names.index(predicted_name),
        include_correct=include_correct,
        sort=sort,
    )
    predicted = probs.argmax(axis=1)
    what = "predictions" if include_correct else "errors"
    if len(rows) == 0:
        st.info(f"No {what} match these filters.")
        return
    pages = math.ceil(len(rows) / PAGE_SIZE)
    page_number = 1
    if pages > 1:
        page_number = st.columns([1, 4])[0].number_input(f"Page (of {pages})", 1, pages, 1, key="errors_page")
    shown = rows[(page_number - 1) * PAGE_SIZE : page_number * PAGE_SIZE]
    st.caption(
        f"{len(rows):,} {what} of {len(labels):,} test images; showing {len(shown)} "
        f"(#{(page_number - 1) * PAGE_SIZE + 1}–{(page_number - 1) * PAGE_SIZE + len(shown)}). "
        "Above each image: its true class, then the predicted class and the model's confidence "
        "(red when wrong, green when right)."
    )
    images = prediction_gallery(shown, data.test.images, predictions, class_names, COLUMNS, scale=3)

    st.subheader("One image")
    position = st.columns([1, 4])[0].number_input(
        "Image on this page (1 = top left)", 1, len(shown), 1, key="errors_pick", help="Numbered left to right."
    )
    row = shown[position - 1]
    left, right = st.columns([1, 3])
    left.image(tile(images[position - 1 : position], columns=1, scale=8), output_format="PNG")
    left.markdown(
        f"Test image **#{indices[row]}**  \ntrue **{class_names[labels[row]]}**, "
        f"predicted **{class_names[predicted[row]]}** ({probs[row, predicted[row]]:.1%})"
    )
    probabilities = pd.DataFrame({"class": class_names, "probability": probs[row]})
    right.altair_chart(charts.probability_bars(probabilities, class_names, class_names[labels[row]]))
    saliency(run, images[position - 1], probs[row], int(labels[row]), class_names)
    with st.expander("Per-image details (in gallery order)"):
        show_details(shown, predictions, class_names)


page()
