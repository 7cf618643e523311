"""Galleries as one picture: N small images tiled (with captions drawn in) instead of N ``st.image`` calls."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

CAPTION_LINE_PX = 13


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def tile(
    images: np.ndarray,
    columns: int,
    scale: int = 2,
    gap: int = 2,
    captions: list[tuple[str, str]] | None = None,
    caption_colors: list[str] | None = None,
) -> Image.Image:
    """uint8 N×28×28 images as one picture, ``columns`` wide, each scaled ``scale`` times.

    ``captions`` gives two short lines per image, drawn above it (``caption_colors`` per image).
    """
    count = len(images)
    rows = max(1, -(-count // columns))
    size = 28 * scale
    band = 2 * CAPTION_LINE_PX + 2 if captions else 0
    cell_w, cell_h = size + gap, size + band + gap
    canvas = np.full((rows * cell_h - gap, columns * cell_w - gap), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        top, left = r * cell_h + band, c * cell_w
        canvas[top : top + size, left : left + size] = np.kron(
            np.asarray(image, dtype=np.uint8), np.ones((scale, scale), dtype=np.uint8)
        )
    picture = Image.fromarray(canvas, mode="L")
    if not captions:
        return picture
    picture = picture.convert("RGB")
    draw = ImageDraw.Draw(picture)
    font = _font(CAPTION_LINE_PX - 2)
    for i, (first, second) in enumerate(captions):
        r, c = divmod(i, columns)
        x, y = c * cell_w, r * cell_h
        color = caption_colors[i] if caption_colors else "#222222"
        draw.text((x, y), _fit(draw, first, font, size), fill="#222222", font=font)
        draw.text((x, y + CAPTION_LINE_PX), _fit(draw, second, font, size), fill=color, font=font)
    return picture


FOR_CLASS = np.array([201, 42, 42], dtype=np.float32)  # red: evidence for the class
AGAINST_CLASS = np.array([28, 126, 214], dtype=np.float32)  # blue: evidence against it


def attribution_picture(values: np.ndarray, image: np.ndarray, limit: float, scale: int = 8) -> Image.Image:
    """A 28×28 attribution map laid over its image: the stronger a pixel's attribution, the more it is
    coloured (red for the class, blue against); where it is near 0 the faint picture shows through."""
    ink = np.asarray(image, dtype=np.float32)[..., None] / 255.0
    picture = 255.0 - ink * 110.0  # white paper, light grey garment or digit
    strength = np.clip(np.abs(values) / (limit or 1.0), 0.0, 1.0)[..., None]
    colour = np.where(values[..., None] >= 0, FOR_CLASS, AGAINST_CLASS)
    blended = picture * (1 - strength) + colour * strength
    pixels = np.kron(blended.round().astype(np.uint8), np.ones((scale, scale, 1), dtype=np.uint8))
    return Image.fromarray(pixels, mode="RGB")


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """Shorten text with an ellipsis until it fits the cell."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def details_frame(
    rows: np.ndarray, indices: np.ndarray, probs: np.ndarray, labels: np.ndarray, class_names
) -> pd.DataFrame:
    """One line per shown image, in gallery order: test index, true and predicted class, probabilities."""
    predicted = probs[rows].argmax(axis=1)
    return pd.DataFrame(
        {
            "test index": indices[rows],
            "true": [class_names[c] for c in labels[rows]],
            "predicted": [class_names[c] for c in predicted],
            "confidence": probs[rows, predicted],
            "p(true)": probs[rows, labels[rows]],
        }
    )
