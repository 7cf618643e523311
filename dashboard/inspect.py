"""One test image, understood: large, with its probabilities and where the model looked (attributions).

Every gallery that can be clicked opens the clicked image here; the image's test index is kept in
the URL (``?image=…``), so a link reopens it.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis import TooFewToCalibrate, label_check_problem, methods_for, similar_training_images, with_temperature
from core.data import DataError
from core.leaks import training_file
from core.pictures import attribution_picture, colour_bar
from core.runs import Predictions, Run, RunError
from dashboard import charts
from dashboard.cached import (
    get_dataset,
    run_explanation,
    run_model,
    run_temperature,
    run_test_label_issues,
    run_training_features,
)
from dashboard.chartview import draw_chart
from dashboard.gallery import THUMBNAIL_SIZES, Tile, image_grid, png_data_url, scroll_here, tile_png
from dashboard.numbers import tenth_percent
from dashboard.text import plain

IMAGE_PARAM = "image"
METHOD_KEY = "attribution"
LOOK_ALIKES_KEY = "inspect_look_alikes"
LOOK_ALIKES = 8
SCROLL_TOKEN_KEY = "inspect_scroll_token"
METHOD_LABELS = {"integrated-gradients": "Integrated Gradients", "saliency": "Saliency", "occlusion": "Occlusion"}
METHOD_HELP = {
    "integrated-gradients": "Integrated Gradients: each pixel's share of the change in the class score between a "
    "black image and this one (32 steps). Computed with captum.",
    "saliency": "Saliency: the gradient of the class score with respect to each pixel (signed). Computed with captum.",
    "occlusion": "Occlusion: how much the class score drops when a 4×4 patch is blacked out. Computed with captum.",
}


def selected_test_index() -> int | None:
    """The test index in the URL's ``image``, or None when there is none (or it isn't a whole number)."""
    value = st.query_params.get(IMAGE_PARAM, "")
    return int(value) if value.isdecimal() and len(value) < 10 else None


def select_test_index(index: int) -> None:
    """A click on a thumbnail: the image goes in the URL, and the inspector is brought into view."""
    st.query_params[IMAGE_PARAM] = str(index)
    st.session_state[SCROLL_TOKEN_KEY] = f"{index}-{time.time_ns()}"  # a new token for each click


def confidence_note(label_smoothing: float, num_classes: int) -> str:
    """What the percentages are: the model's raw softmax, and the ceiling label smoothing puts on them."""
    note = "The percentages are the model's raw softmax outputs, not calibrated probabilities."
    if label_smoothing > 0:
        target = 1 - label_smoothing + label_smoothing / num_classes
        note += (
            f" This run was trained with label smoothing {label_smoothing:g}: its target for the right class was "
            f"{target:.0%}, not 100%, so its raw figures are modest — read about {target:.0%} or more as sure."
        )
    return note


def inspect_image(
    run: Run, row: int, image: np.ndarray, predictions: Predictions, class_names, heading: str = "One image"
) -> None:
    """The image at ``row`` of ``predictions``: large, captioned, its probabilities, then its attributions."""
    probs, label = predictions.probs[row], int(predictions.labels[row])
    answer = int(probs.argmax())
    scroll_here("inspect_anchor", st.session_state.get(SCROLL_TOKEN_KEY))
    st.subheader(heading)
    left, right = st.columns([1, 3])
    left.image(tile_png(image[None], columns=1, scale=8))
    verdict = "right" if answer == label else "wrong"
    left.markdown(
        f"Test image **#{int(predictions.indices[row])}**  \n"
        f"true **{plain(class_names[label])}**, predicted **{plain(class_names[answer])}** "
        f"({tenth_percent(probs[answer])}, {verdict})"
    )
    left.markdown(label_verdict(run, predictions, row, class_names))
    probabilities = pd.DataFrame({"class": list(class_names), "probability": probs})
    draw_chart(right, charts.probability_bars, probabilities, list(class_names), class_names[label])
    right.caption(
        confidence_note(run.config.label_smoothing, len(class_names)) + calibrated_note(run, probs, class_names)
    )
    look_alikes(run, image, class_names)
    saliency(run, image, probs, label, class_names, int(predictions.indices[row]))


def label_verdict(run: Run, predictions: Predictions, row: int, class_names) -> str:
    """Whether cleanlab counts this test image's label among the split's likely label errors (Label issues page)."""
    problem = label_check_problem(predictions.labels)
    if problem:
        return f"**Label check:** not made on this test split: {plain(problem)}."
    try:
        ranking = run_test_label_issues(run)
    except RunError as error:
        return f"**Label check:** not available ({plain(error)})."
    position = int(np.flatnonzero(ranking["row"].to_numpy() == row)[0])
    entry, flagged = ranking.iloc[position], int(ranking["flagged"].sum())
    if entry["flagged"]:
        return (
            f"**Label check:** cleanlab counts this label among the split's likely label errors "
            f"(#{position + 1} of {flagged:,} flagged); it suggests **{plain(class_names[int(entry['suggested'])])}**. "
            "Review it on the Label issues page."
        )
    return unflagged_label_text(position, len(ranking), flagged, float(entry["score"]))


def unflagged_label_text(position: int, total: int, flagged: int, score: float) -> str:
    """Why a label that ranks high by suspicion may still not be flagged: cleanlab flags as many as it
    estimates are wrong, which can be fewer than those ranked above it."""
    flags = f"only the {flagged:,} it estimates are mislabelled" if flagged else "none of them"
    return (
        f"**Label check:** cleanlab does not flag this label as a likely error. Its label quality is "
        f"{score:.2f} of 1 (low where the model doubts the label), the {ordinal(position + 1)} lowest of the "
        f"split's {total:,}; cleanlab flags {flags}."
    )


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, 21st: with thousands separators."""
    suffix = "th" if number % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number:,}{suffix}"


def calibrated_note(run: Run, probs: np.ndarray, class_names) -> str:
    """The top probability calibrated on the validation split (one temperature), as a sentence."""
    try:
        temperature = run_temperature(run)
    except TooFewToCalibrate as error:
        return f" Not calibrated: {plain(error)}."
    except (RunError, DataError, OSError):  # no validation split to calibrate on: the raw figures stand
        return ""
    calibrated = with_temperature(probs[None], temperature)[0]
    answer = int(calibrated.argmax())
    if tenth_percent(calibrated[answer]) == tenth_percent(probs[answer]):
        why = "the raw figure, to this precision"
    elif temperature < 1:
        why = "higher than the raw figure: the raw ones are too modest"
    else:
        why = "lower than the raw figure: the raw ones are over-confident"
    return (
        f" Calibrated on the validation split, where one temperature ({temperature:.2f}) makes the figures match "
        f"how often the model is right: {plain(class_names[answer])} at {tenth_percent(calibrated[answer])} ({why})."
    )


def look_alikes(run: Run, image: np.ndarray, class_names) -> None:
    """The training images nearest this one in the run's feature space: what it resembles, to the model."""
    st.markdown(
        "**What does it look like, to the model?** The training images whose features (what the last layer "
        "separates) are nearest this one's, by cosine similarity."
    )
    if not st.toggle("Show the nearest training images", key=LOOK_ALIKES_KEY, help=_LOOK_ALIKES_HELP):
        return
    data = get_dataset(run.config.dataset)
    if data is None:
        st.info(f"The training images of {run.config.dataset} are not here: fetch them to compare.")
        return
    try:
        features = run_training_features(run)
        nearest, similarity = similar_training_images(run, run_model(run), image, features, LOOK_ALIKES)
    except RunError as error:
        st.warning(f"{run.id}: {plain(error)}")
        return
    images, labels, indices = training_file(data)
    tiles = [
        Tile(
            id=int(position),
            src=png_data_url(images[position]),
            truth=str(class_names[int(labels[position])]),
            guess=f"similarity {score:.2f}",
            index=f"training #{int(indices[position])}",
            title=f"{class_names[int(labels[position])]}, training image #{int(indices[position])}, "
            f"similarity {score:.2f}",
            wrong=None,
        )
        for position, score in zip(nearest, similarity, strict=True)
    ]
    image_grid(tiles, key="look_alike_grid", size=THUMBNAIL_SIZES["Medium"])
    st.caption(look_alike_summary([tile.truth for tile in tiles]))


def look_alike_summary(classes: list[str]) -> str:
    """ "Of the 8 nearest: 6 Shirt, 2 T-shirt/top." — the classes the model sees this image among."""
    counts = pd.Series(classes).value_counts()
    shares = ", ".join(f"{n} labelled “{plain(name)}”" for name, n in counts.items())
    return f"Of the {len(classes)} nearest: {shares}."


_LOOK_ALIKES_HELP = (
    "The first time for a run, its features of every training image are computed (a few seconds for a small "
    "model, about 10 s for the strong one on two cores) and kept in memory."
)


def saliency(run: Run, image, probs, label: int, class_names, test_index: int) -> None:
    """Attribution maps (captum) of one image for the predicted class and for the true class, side by side."""
    st.markdown(
        "**Where did it look?** Each picture is the image with the pixels that pushed the model towards the "
        "class in red and away from it in blue; the stronger the push, the deeper the colour. Compare the two: "
        "what made it answer, and what its true class lacked."
    )
    try:
        methods = methods_for(run_model(run))
    except RunError as error:
        st.warning(f"{run.id}: {plain(error)}")
        return
    if st.session_state.get(METHOD_KEY) not in methods:
        st.session_state.pop(METHOD_KEY, None)
    default = methods[0]  # core's default (Occlusion), or the only method an ONNX run offers
    controls = st.columns([3, 2], vertical_alignment="bottom")
    method = (
        controls[0].segmented_control(
            "Attribution", methods, format_func=METHOD_LABELS.get, default=default, key=METHOD_KEY
        )
        or default
    )
    opacity = controls[1].slider("Colour strength", 0.0, 1.0, 1.0, 0.1, key="attribution_opacity")
    try:
        explanation = run_explanation(run, image, probs, label, method)
    except RunError as error:
        st.warning(f"{run.id}: {plain(error)}")
        return
    columns = st.columns([1, 1, 2])
    for column, values, target, role in zip(
        columns[:2], explanation.maps, explanation.targets, explanation.roles, strict=True
    ):
        title = f"for {role}: {class_names[target]} ({tenth_percent(probs[target])})"  # as the probability chart says
        picture = attribution_picture(values, image, explanation.limit, scale=10, opacity=opacity)
        column.image(picture, caption=title, output_format="PNG")
    columns[2].image(colour_bar(), caption="blue: away from the class · white: no effect · red: towards it")
    note = (
        ""
        if len(methods) > 1
        else " This run is an ONNX graph (its code isn't ours), so only Occlusion can explain it."
    )
    columns[2].caption(
        METHOD_HELP[method] + note + f"  CLI: `python -m core saliency {run.id} {test_index} --method {method}`."
    )
