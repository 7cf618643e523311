"""``python -m core predict RUN IMAGE``: classify a picture, prepared as the run's dataset was."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.cli.common import add_json, add_run, print_json
from core.config import ConfigError
from core.runs import load_run


def register(commands) -> None:
    classify = commands.add_parser("predict", help="classify an image file (prepared the MNIST way)")
    add_run(classify)
    classify.add_argument("image", type=Path, help="PNG, JPEG, GIF, BMP or WebP")
    add_json(classify)
    classify.set_defaults(handler=run)


def run(args) -> int:
    from core.analysis import classify_image
    from core.data import get_dataset_info
    from core.images import ImageError, decode_image, prepare_like_dataset

    run_folder = load_run(args.run, args.checkpoints)
    config = run_folder.config
    try:
        image = prepare_like_dataset(decode_image(args.image.read_bytes()), get_dataset_info(config.dataset))
    except (OSError, ImageError) as error:
        raise ConfigError(f"{args.image}: {error}") from None
    probs = classify_image(run_folder.load_model(), image, config.mean, config.std)
    ranked = [{"class": config.classes[i], "probability": float(probs[i])} for i in np.argsort(-probs)]
    if args.json:
        print_json(ranked)
        return 0
    for row in ranked[:3]:
        print(f"{row['class']:>14}  {row['probability']:.2%}")
    return 0
