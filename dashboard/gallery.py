"""Galleries as one picture: N small images tiled (with captions drawn in) instead of N ``st.image`` calls."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
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
    """uint8 N×H×W images as one picture, ``columns`` wide, each scaled ``scale`` times.

    ``captions`` gives two short lines per image, drawn above it (``caption_colors`` per image).
    """
    count = len(images)
    rows = max(1, -(-count // columns))
    height, width = (side * scale for side in np.shape(images)[1:3])
    band = 2 * CAPTION_LINE_PX + 2 if captions else 0
    cell_w, cell_h = width + gap, height + band + gap
    canvas = np.full((rows * cell_h - gap, columns * cell_w - gap), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        top, left = r * cell_h + band, c * cell_w
        canvas[top : top + height, left : left + width] = np.kron(
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
        draw.text((x, y), _fit(draw, first, font, width), fill="#222222", font=font)
        draw.text((x, y + CAPTION_LINE_PX), _fit(draw, second, font, width), fill=color, font=font)
    return picture


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """Shorten text with an ellipsis until it fits the cell."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
