"""Dataset: samples per class, class balance of each split, mean images, pixel intensities."""

import numpy as np
import streamlit as st

from core.analysis import has_stored_result
from core.data import DATASETS, get_dataset_info
from core.leaks import NEAREST_RESULT, LeakPair, near_duplicates
from core.runs import RunError
from dashboard import charts
from dashboard.cached import dataset_exact_duplicates, dataset_summary, get_dataset, run_nearest_training_images
from dashboard.chartview import draw_chart
from dashboard.gallery import THUMBNAIL_SIZES, Tile, image_grid, png_data_url, tile_png
from dashboard.sidebar import selected_dataset, selected_run_id
from dashboard.store import offered_datasets, open_run, unreadable_datasets
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
    class_balance(summary.counts, list(info.classes))
    left, right = st.columns(2)
    with left:
        st.subheader("Mean image of each class")
        columns = st.columns(5)
        for position, (mean, class_name) in enumerate(zip(summary.means, info.classes, strict=True)):
            columns[position % 5].image(tile_png(mean[None], columns=1, scale=3), caption=plain(class_name))
    with right:
        st.subheader("Pixel intensities")
        draw_chart(st, charts.pixel_histogram, summary.histogram)
    leaks(data)
    more_datasets()


def class_balance(counts, class_names: list[str]) -> None:
    """Each split's share per class: three charts side by side, or one a row where many classes need the width."""
    st.subheader("Class balance")
    splits = [split for split in charts.SPLIT_COLORS if split in set(counts["split"])]
    shares = counts["count"] / counts.groupby("split")["count"].transform("sum").clip(lower=1)
    top = float(shares.max()) * 1.05 if len(shares) else 1.0
    many = len(class_names) > charts.MANY_CLASSES
    places = [st.container() for _ in splits] if many else st.columns(len(splits) or 1)
    for number, (place, split) in enumerate(zip(places, splits, strict=False)):
        draw_chart(place, charts.class_distribution, counts, class_names, split, top, first=number == 0)


def samples(data) -> None:
    """Random training images, a row per class (or many of one class)."""
    info = data.info
    st.caption(
        f"{len(data.train):,} training, {len(data.val):,} validation (a fixed hold-out of the "
        f"{'training pictures' if info.user else 'official training file'}) and {len(data.test):,} test images "
        f"of {info.image_size[0]}×{info.image_size[1]} pixels, "
        f"{info.num_classes} classes. CLI: `python -m core dataset {info.name}`."
    )

    st.subheader("Samples")
    controls = st.columns([2, 2, 2, 4], vertical_alignment="bottom")  # the button whole in a 700-pixel window
    many = info.num_classes > charts.MANY_CLASSES
    per_class = controls[0].slider("Per class", 4, 24, 6 if many else 12, key="dataset_per_class")
    focus = controls[1].selectbox("Class", ["All classes", *info.classes], key="dataset_class")
    if controls[2].button("Reshuffle", icon=":material/shuffle:"):
        st.session_state[SAMPLES_KEY] = st.session_state.get(SAMPLES_KEY, 0) + 1
    rng = np.random.default_rng(st.session_state.get(SAMPLES_KEY, 0))
    labels = data.train.labels.numpy()
    if focus == "All classes":
        # Many classes (EMNIST's 47) sit three to a row, so the page isn't a column of 47 strips.
        rows_of = 3 if many else 1
        for first in range(0, info.num_classes, rows_of):
            cells = st.columns(rows_of)
            for cell, class_index in zip(cells, range(first, min(first + rows_of, info.num_classes)), strict=False):
                members = np.flatnonzero(labels == class_index)
                picks = rng.choice(members, min(per_class, len(members)), replace=False)
                left, right = cell.columns([1, 9 if rows_of == 1 else 5], vertical_alignment="center")
                left.markdown(f"**{plain(info.classes[class_index])}**")
                right.image(tile_png(data.train.images[picks].numpy(), columns=per_class))
    else:
        members = np.flatnonzero(labels == info.classes.index(focus))
        picks = rng.choice(members, min(per_class * 8, len(members)), replace=False)
        st.image(
            tile_png(data.train.images[picks].numpy(), columns=per_class * 2),
            caption=f"{len(picks)} random training images of {plain(focus)}",
        )


PAIRS_SHOWN = 48
NEAR_KEY = "leaks_near_for"


def leaks(data) -> None:
    """Test images that are also in the training file: exact copies, and (with the sidebar's run) near ones."""
    st.subheader("Leaks between splits")
    name = data.info.name
    exact = dataset_exact_duplicates(name)
    st.markdown(
        f"**{len(exact):,}** {images(len(exact))} exact copies of training images, byte for byte "
        f"(`python -m core leaks {name}`)."
    )
    near = near_pairs(data)
    pairs = exact + (near or [])
    if pairs:
        training = training_images_by_index(data)
        tiles = [pair_tile(n, pair, training, data) for n, pair in enumerate(pairs[:PAIRS_SHOWN])]
        st.caption("Each pair: the training image, then the test image; red where their labels disagree.")
        image_grid(tiles, key="leak_pairs", size=THUMBNAIL_SIZES["Medium"], aspect=2.1)


def near_pairs(data) -> list[LeakPair] | None:
    """Near duplicates found with the sidebar's run of this dataset (on request the first time), or None."""
    run = open_run(selected_run_id())
    if run is None or run.config.dataset != data.info.name:
        st.caption("Pick a run of this dataset in the sidebar to look for near duplicates in its features.")
        return None
    if st.session_state.get(NEAR_KEY) != run.id and not has_stored_result(run, NEAREST_RESULT):
        if not st.button(
            f"Find near duplicates with {run.id}",
            help="Each test image's nearest training image in the run's features, confirmed by their pixels.",
        ):
            return None
        st.session_state[NEAR_KEY] = run.id
    try:
        nearest, distances = run_nearest_training_images(run)
    except RunError as error:
        st.warning(f"{run.id} can't look for near duplicates: {plain(error)}")
        return None
    least = st.slider("Least pixel correlation of a near pair", 0.90, 1.0, 0.99, 0.005, key="leaks_correlation")
    near = near_duplicates(nearest, distances, data, min_correlation=least)
    count = len({p.test_index for p in near})
    st.markdown(
        f"**{count:,}** {images(count, verb='nearly copies', verbs='nearly copy')} a training image: "
        f"{run.id}'s nearest training image, with pixels correlating at least {least:g} "
        f"(`python -m core leaks {data.info.name} --run {run.id} --min-correlation {least:g}`)."
    )
    return near


def images(count: int, verb: str = "is", verbs: str = "are") -> str:
    """ "1 test image is" / "3 test images are": the noun and its verb agreeing with the count."""
    return f"test image {verb}" if count == 1 else f"test images {verbs}"


def _correlation(value: float) -> str:
    return "> 0.9995" if value >= 0.9995 else f"{value:.3f}"


def training_images_by_index(data) -> dict[int, tuple[np.ndarray, int]]:
    """(image, label) of the whole training file (train and validation together) by official index."""
    from core.leaks import training_file

    images, labels, indices = training_file(data)
    return {int(i): (image, int(label)) for i, image, label in zip(indices, images, labels, strict=True)}


def pair_tile(position: int, pair: LeakPair, training: dict, data) -> Tile:
    """The training image and the test image side by side, captioned with their indices and labels."""
    classes = data.info.classes
    train, train_label = training[pair.train_index]
    test, test_label = data.test.images[pair.test_index].numpy(), int(data.test.labels[pair.test_index])
    gap = np.full((train.shape[0], 2), 255, dtype=np.uint8)
    labels = classes[test_label] if pair.same_label else f"{classes[train_label]} ≠ {classes[test_label]}"
    # A near copy is not byte for byte the same, even where its correlation rounds to 1.000.
    how = (
        "identical" if pair.distance == 0 and pair.correlation == 1 else f"pixels r = {_correlation(pair.correlation)}"
    )
    return Tile(
        id=position,
        src=png_data_url(np.hstack([train, gap, test])),
        truth=f"train #{pair.train_index} · test #{pair.test_index}",
        guess=labels,
        index=how,
        title=f"training image #{pair.train_index} and test image #{pair.test_index}: {how}",
        wrong=not pair.same_label,
    )


def more_datasets() -> None:
    """The rest of the family, with how to get each, and how to add your own."""
    st.subheader("More datasets")
    offered = set(offered_datasets())
    rows = [
        {"dataset": name, "title": info.title, "classes": info.num_classes}
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
        "Your own pictures: `python -m core data add NAME --from FOLDER`, with `FOLDER/CLASS/*.png` (a fifth of "
        "each class kept for testing), or `FOLDER/train/CLASS/*.png` and `FOLDER/test/CLASS/*.png` "
        "(or `--from arrays.npz`)."
    )
    for name, why in unreadable_datasets():
        st.warning(f"data/{plain(name)} can't be read: {plain(why)}")


page()
