"""``python -m core dataset``: a dataset's splits, classes, balance and pixel intensities (the Dataset page)."""

from __future__ import annotations

from core.cli.common import DATASET_HELP, add_data_dir, add_json, print_json, text_table


def register(commands) -> None:
    dataset = commands.add_parser("dataset", help="a dataset's splits, class balance and pixel intensities")
    dataset.add_argument("name", help=DATASET_HELP)
    add_json(dataset)
    add_data_dir(dataset)
    dataset.set_defaults(handler=run)


def run(args) -> int:
    from core.data import load_dataset, summarize_dataset

    data = load_dataset(args.name, args.data_dir)
    summary = summarize_dataset(data)
    info = data.info
    counts = summary.counts.pivot(index="class", columns="split", values="count").loc[list(info.classes)]
    if args.json:
        print_json(
            {
                "dataset": info.name,
                "title": info.title,
                "image_size": list(info.image_size),
                "channels": info.channels,
                "classes": list(info.classes),
                "mean": info.mean,
                "std": info.std,
                "sizes": {"train": len(data.train), "validation": len(data.val), "test": len(data.test)},
                "counts": summary.counts.to_dict(orient="records"),
                "histogram": summary.histogram.to_dict(orient="records"),
            }
        )
        return 0
    height, width = info.image_size
    print(
        f"{info.title}: {len(data.train):,} train, {len(data.val):,} validation, {len(data.test):,} test images "
        f"of {height}×{width} pixels, {info.num_classes} classes; pixel mean {info.mean:g}, std {info.std:g}"
    )
    splits = ("train", "validation", "test")
    rows = [(name, *(f"{int(counts.loc[name, split]):,}" for split in splits)) for name in info.classes]
    print(text_table(rows, ("class", *splits)))
    print("pixel intensities (share of the training pixels):")
    for row in summary.histogram.itertuples():
        print(f"  {int(row.intensity):>3}–{int(row.intensity_end) - 1:<3} {row.fraction:8.2%}")
    return 0
