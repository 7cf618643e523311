"""Pictures of what the model saw, as PIL images: what a page shows and the CLI writes as PNG."""

from __future__ import annotations

import numpy as np
from PIL import Image

FOR_CLASS = np.array([201, 42, 42], dtype=np.float32)  # red: evidence for the class
AGAINST_CLASS = np.array([28, 126, 214], dtype=np.float32)  # blue: evidence against it


def attribution_picture(
    values: np.ndarray, image: np.ndarray, limit: float, scale: int = 8, opacity: float = 1.0
) -> Image.Image:
    """An H×W attribution map laid over its image: the stronger a pixel's attribution, the more it is
    coloured (red for the class, blue against); where it is near 0 the faint picture shows through.
    ``opacity`` (0–1) fades the colours, to see the image under them."""
    ink = np.asarray(image, dtype=np.float32)[..., None] / 255.0
    picture = 255.0 - ink * 110.0  # white paper, light grey garment or digit
    strength = np.clip(np.abs(values) / (limit or 1.0), 0.0, 1.0)[..., None] * float(np.clip(opacity, 0.0, 1.0))
    colour = np.where(values[..., None] >= 0, FOR_CLASS, AGAINST_CLASS)
    blended = picture * (1 - strength) + colour * strength
    pixels = np.kron(blended.round().astype(np.uint8), np.ones((scale, scale, 1), dtype=np.uint8))
    return Image.fromarray(pixels, mode="RGB")


def colour_bar(width: int = 256, height: int = 14) -> Image.Image:
    """The attribution colours from "against" (blue, left) through 0 (white) to "for" (red, right)."""
    position = np.linspace(-1.0, 1.0, width, dtype=np.float32)[:, None]
    strength = np.abs(position)
    colour = np.where(position >= 0, FOR_CLASS, AGAINST_CLASS)
    row = 255.0 * (1 - strength) + colour * strength
    return Image.fromarray(np.repeat(row[None].round().astype(np.uint8), height, axis=0), mode="RGB")


def side_by_side(pictures: list[Image.Image], gap: int = 8) -> Image.Image:
    """Pictures of one height in a row on white, ``gap`` pixels apart."""
    width = sum(p.width for p in pictures) + gap * (len(pictures) - 1)
    row = Image.new("RGB", (width, max(p.height for p in pictures)), "white")
    left = 0
    for picture in pictures:
        row.paste(picture, (left, 0))
        left += picture.width + gap
    return row
