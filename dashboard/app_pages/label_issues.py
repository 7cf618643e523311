"""Likely label errors: cleanlab's ranking of out-of-sample predictions, with a verdict per image."""

import math

import numpy as np
import streamlit as st

from core.analysis import REVIEW_VERDICTS, ReviewsUnreadable, label_check_problem, label_reviews
from core.data import default_data_dir, get_dataset_info
from core.runs import RunError
from dashboard.cached import get_dataset, label_issue_ranking, run_split_predictions
from dashboard.gallery import tile_png
from dashboard.text import plain
from dashboard.widgets import dataset_with_images, selected_run

SPLITS = {"test": "Test (stored predictions)", "val": "Validation (computed from the weights)"}
SPLIT_NOUNS = {"test": "test images", "val": "validation images"}
MORE = 48  # unflagged candidates shown on request
PER_PAGE = 24
CARD_PX = 168  # room for both verdict buttons side by side


def save_verdict(split: str, index: int, widget_key: str, dataset: str) -> None:
    moved = label_reviews(default_data_dir(), get_dataset_info(dataset)).mark(
        split, index, st.session_state[widget_key]
    )
    if moved is not None:
        st.toast(f"The old verdicts file could not be read; it is kept as {moved.name}.")


def issue_grid(shown, rank: int, image_of, class_names, indices, marks: dict, where: tuple[str, str]) -> None:
    """The page's suspicious images as cards of a fixed width that wrap to the window: image, rank, given
    and suggested label, score, verdict buttons (fixed columns cut the buttons to "l…" in a narrow window)."""
    dataset, split = where
    cards = st.container(horizontal=True, gap="small")
    for issue in shown.itertuples():
        rank += 1
        index = int(indices[issue.row])
        with cards.container(border=True, width=CARD_PX):
            st.image(tile_png(image_of(issue.row), columns=1, scale=4))
            st.markdown(
                f"**#{rank}** · index {index}{'' if issue.flagged else ' · not flagged'}  \n"
                f"given **{plain(class_names[issue.given])}** → **{plain(class_names[issue.suggested])}**  \n"
                f"label quality {issue.score:.4f}"
            )
            widget_key = f"verdict_{dataset}_{split}_{index}"
            st.session_state.setdefault(widget_key, marks.get(str(index)))
            st.segmented_control(
                "The given label is",  # the label is judged, not the flag
                list(REVIEW_VERDICTS),
                key=widget_key,
                on_change=save_verdict,
                args=(split, index, widget_key, dataset),
                help="Mark the given label: wrong or fine (click again to clear).",
            )


def page() -> None:
    st.title("Likely label errors")
    run = selected_run()
    if run is None:
        return
    dataset = run.config.dataset
    data = get_dataset(dataset)
    if data is None:
        st.info("The dataset isn't fetched here, so the images can't be shown: `python -m core data fetch`.")
        return
    class_names = list(run.config.classes)
    split = st.segmented_control("Split", list(SPLITS), format_func=SPLITS.get, default="test", key="issues_split")
    split = split or "test"
    try:
        predictions = run_split_predictions(run, split)
    except RunError as error:
        st.warning(f"{run.id} has no usable predictions for this split: {plain(error)}")
        return
    if split == "test" and dataset_with_images(dataset, {run.id: predictions}) is None:
        return

    probs, labels, indices = predictions.probs, predictions.labels, predictions.indices
    problem = label_check_problem(labels)
    if problem:
        st.info(f"No label check on the {SPLIT_NOUNS[split]}: {problem}.")
        return
    ranking = label_issue_ranking(probs, labels)
    flagged = int(ranking["flagged"].sum())
    reviews = label_reviews(default_data_dir(), get_dataset_info(dataset))
    try:
        marks = reviews.load().get(split, {})
    except ReviewsUnreadable as error:
        st.warning(f"{plain(error)}. It is left as it is; your next verdict starts a new file and keeps it aside.")
        marks = {}
    st.caption(
        f"cleanlab's confident learning flags **{flagged:,}** of {len(labels):,} {SPLIT_NOUNS[split]} whose given "
        f"label disagrees with what {run.id} is confident of (its probabilities first calibrated with one "
        "temperature), most suspicious first: lowest label quality (0 to 1, low where the model doubts the label). "
        f"Your verdicts are saved in `{reviews.path}` and shown on later visits. "
        f"CLI: `python -m core label-issues {run.id} --split {split}`."
    )
    more = st.toggle(
        "Also show the next most suspicious images (not flagged)",
        key="issues_more",
        help="The ranking goes on past cleanlab's estimate of how many labels are wrong.",
    )
    issues = ranking.head(flagged + (MORE if more else 0))
    if issues.empty:
        st.success("cleanlab finds no likely label errors here; switch on the toggle to see the next candidates.")
        return
    counts = {verdict: sum(v == verdict for v in marks.values()) for verdict in REVIEW_VERDICTS}
    st.caption(f"Reviewed so far in this split: {counts['wrong']} wrong, {counts['fine']} fine.")

    pages = math.ceil(len(issues) / PER_PAGE)
    page_number = 1
    if pages > 1:
        page_number = st.columns([1, 4])[0].number_input(f"Page (of {pages})", 1, pages, 1, key="issues_page")
    shown = issues.iloc[(page_number - 1) * PER_PAGE : page_number * PER_PAGE]

    def image_of(row: int) -> np.ndarray:
        # Test predictions are stored with their positions in the test file; validation ones are in split order.
        image = data.test.images[indices[row]] if split == "test" else data.val.images[row]
        return image.numpy()[None]

    issue_grid(shown, (page_number - 1) * PER_PAGE, image_of, class_names, indices, marks, (dataset, split))


page()
