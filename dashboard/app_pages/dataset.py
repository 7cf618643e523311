"""Dataset: samples per class, class balance of each split, mean images, pixel intensities."""

import numpy as np
import streamlit as st

from core.data import DATASETS, get_dataset_info, is_present
from dashboard import charts
from dashboard.cached import dataset_summary, get_dataset, offered_datasets, unreadable_datasets
from dashboard.gallery import tile
from dashboard.sidebar import selected_dataset
from dashboard.text import plain

SAMPLES_KEY = "dataset_samples_seed"


def page() -> None:
    name = selected_dataset()
    info = get_dataset_info(name)
    st.title(f"Dataset · {plain(info.title)}")
    data = get_dataset(name)
    if data is None:
        verb = "data add NAME --from FOLDER" if info.user else f"data fetch --dataset {name}"
        st.info(f"{plain(info.title)} is not here yet. Get it with:\n\n```\npython -m core {verb}\n```")
        more_datasets()
        return
    samples(data)
    summary = dataset_summary(name)
    st.subheader("Class balance")
    st.altair_chart(charts.class_distribution(summary.counts, list(info.classes)))
    left, right = st.columns(2)
    with left:
        st.subheader("Mean image of each class")
        columns = st.columns(5)
        for position, (mean, class_name) in enumerate(zip(summary.means, info.classes, strict=True)):
            columns[position % 5].image(
                tile(mean[None], columns=1, scale=3), output_format="PNG", caption=plain(class_name)
            )
    with right:
        st.subheader("Pixel intensities")
        st.altair_chart(charts.pixel_histogram(summary.histogram))
    more_datasets()


def samples(data) -> None:
    """Random training images, a row per class (or many of one class)."""
    info = data.info
    st.caption(
        f"{len(data.train):,} training, {len(data.val):,} validation (a fixed hold-out of the official training "
        f"file) and {len(data.test):,} test images of {info.image_size[0]}×{info.image_size[1]} pixels, "
        f"{info.num_classes} classes. CLI: `python -m core dataset {info.name}`."
    )

    st.subheader("Samples")
    controls = st.columns([2, 2, 1.4, 4.6], vertical_alignment="bottom")
    per_class = controls[0].slider("Per class", 4, 24, 12, key="dataset_per_class")
    focus = controls[1].selectbox("Class", ["All classes", *info.classes], key="dataset_class")
    if controls[2].button("Reshuffle", icon=":material/shuffle:"):
        st.session_state[SAMPLES_KEY] = st.session_state.get(SAMPLES_KEY, 0) + 1
    rng = np.random.default_rng(st.session_state.get(SAMPLES_KEY, 0))
    labels = data.train.labels.numpy()
    if focus == "All classes":
        for class_index, class_name in enumerate(info.classes):
            members = np.flatnonzero(labels == class_index)
            picks = rng.choice(members, min(per_class, len(members)), replace=False)
            left, right = st.columns([1, 9], vertical_alignment="center")
            left.markdown(f"**{plain(class_name)}**")
            right.image(tile(data.train.images[picks].numpy(), columns=per_class), output_format="PNG")
    else:
        members = np.flatnonzero(labels == info.classes.index(focus))
        picks = rng.choice(members, min(per_class * 8, len(members)), replace=False)
        st.image(
            tile(data.train.images[picks].numpy(), columns=per_class * 2),
            output_format="PNG",
            caption=f"{len(picks)} random training images of {plain(focus)}",
        )


def more_datasets() -> None:
    """The rest of the family, with how to get each, and how to add your own."""
    st.subheader("More datasets")
    offered = set(offered_datasets())
    rows = [
        {"dataset": name, "title": info.title, "classes": info.num_classes, "fetched": is_present(name)}
        for name, info in DATASETS.items()
        if name not in offered
    ]
    if rows:
        st.dataframe(rows, hide_index=True)
        st.caption(
            "Get one with `python -m core data fetch --dataset NAME`; where its mirrors can't be reached, "
            "the command says which files to place where."
        )
    st.caption(
        "Your own pictures: `python -m core data add NAME --from FOLDER`, with `FOLDER/train/CLASS/*.png` "
        "and `FOLDER/test/CLASS/*.png` (or `--from arrays.npz`)."
    )
    for name, why in unreadable_datasets():
        st.warning(f"data/{plain(name)} can't be read: {plain(why)}")


page()
