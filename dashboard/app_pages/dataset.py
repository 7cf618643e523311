"""Dataset: samples per class, class balance of each split, mean images, pixel intensities."""

import numpy as np
import streamlit as st

from core.data import DATASETS
from dashboard import charts
from dashboard.cached import dataset_summary, get_dataset
from dashboard.gallery import tile
from dashboard.sidebar import selected_dataset

SAMPLES_KEY = "dataset_samples_seed"


def page() -> None:
    name = selected_dataset()
    info = DATASETS[name]
    st.title(f"Dataset · {info.title}")
    data = get_dataset(name)
    if data is None:
        st.info(
            f"{info.title} is not fetched yet. Get it with:\n\n```\npython -m core data fetch --dataset {name}\n```"
        )
        return
    summary = dataset_summary(name)
    st.caption(
        f"{len(data.train):,} training, {len(data.val):,} validation (a fixed hold-out of the official training "
        f"file) and {len(data.test):,} test images of {info.image_size[0]}×{info.image_size[1]} pixels, "
        f"{info.num_classes} classes. CLI: `python -m core dataset {name}`."
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
            picks = rng.choice(np.flatnonzero(labels == class_index), per_class, replace=False)
            left, right = st.columns([1, 9], vertical_alignment="center")
            left.markdown(f"**{class_name}**")
            right.image(tile(data.train.images[picks].numpy(), columns=per_class), output_format="PNG")
    else:
        class_index = info.classes.index(focus)
        picks = rng.choice(np.flatnonzero(labels == class_index), per_class * 8, replace=False)
        st.image(
            tile(data.train.images[picks].numpy(), columns=per_class * 2),
            output_format="PNG",
            caption=f"{len(picks)} random training images of {focus}",
        )

    st.subheader("Class balance")
    st.altair_chart(charts.class_distribution(summary.counts, list(info.classes)))

    left, right = st.columns(2)
    with left:
        st.subheader("Mean image of each class")
        columns = st.columns(5)
        for position, (mean, class_name) in enumerate(zip(summary.means, info.classes, strict=True)):
            columns[position % 5].image(tile(mean[None], columns=1, scale=3), output_format="PNG", caption=class_name)
    with right:
        st.subheader("Pixel intensities")
        st.altair_chart(charts.pixel_histogram(summary.histogram))


page()
