"""Images from outside (an upload, a drawing): decoded safely, then prepared the MNIST way.

Decoding accepts only a few formats, refuses anything larger than ``MAX_UPLOAD_BYTES`` or
``MAX_PIXELS`` before a pixel is decoded, and turns every other problem into ImageError with a
sentence a user can act on. Preparation follows how MNIST itself was made: grayscale, light
ink on a dark background, cropped to the ink, scaled to fit a box and centred, as the dataset
record's ``Preparation`` says (MNIST: a 20×20 box, centred by mass in 28×28).

    gray = decode_image(uploaded_bytes)                       # H×W float32 in [0, 1]
    image = prepare_like_dataset(gray, DATASETS["mnist"])     # 28×28 uint8, what the model sees
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.data import DatasetInfo, Preparation

ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")  # the file names of those formats
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # also server.maxUploadSize in .streamlit/config.toml
MAX_PIXELS = 4096 * 4096  # checked on the header, before decoding (Pillow's own limit is 89 M)
MIN_SIDE = 8


class ImageError(ValueError):
    """An image that cannot be used; the message says why."""


def decode_image(data: bytes) -> np.ndarray:
    """Bytes of a PNG/JPEG/GIF/BMP/WebP file → H×W float32 grayscale in [0, 1].

    Transparency is laid over white (a drawing on a transparent canvas reads as ink on paper);
    16-bit and 32-bit images keep their full range; an animation gives its first frame.
    """
    if not data:
        raise ImageError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(f"the file is {len(data) / 2**20:.1f} MiB; the limit is {MAX_UPLOAD_BYTES // 2**20} MiB")
    with warnings.catch_warnings():
        # Pillow warns of a decompression bomb above its limit; here any warning of it is an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except UnidentifiedImageError:
            raise ImageError(f"not an image in an accepted format ({', '.join(ACCEPTED_FORMATS)})") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"the image has too many pixels; the limit is {MAX_PIXELS:,} pixels") from None
        except (OSError, ValueError, SyntaxError) as error:
            raise ImageError(f"the image header is unreadable ({error})") from None
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ImageError(f"the image is {width}×{height} pixels; the limit is {MAX_PIXELS:,} pixels")
        if min(width, height) < MIN_SIDE:
            raise ImageError(f"the image is {width}×{height} pixels; it needs at least {MIN_SIDE} on each side")
        try:
            image.seek(0)  # the first frame of an animation
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"the image has too many pixels; the limit is {MAX_PIXELS:,} pixels") from None
        except (OSError, ValueError, SyntaxError, EOFError) as error:
            raise ImageError(f"the image data is truncated or corrupt ({error})") from None
    return _to_gray(image)


def _to_gray(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(image, dtype=np.float32) / 65535.0
    if mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        return ((values - low) / (high - low) if high > low else np.zeros_like(values)).astype(np.float32)
    if mode == "P" or "A" in mode or "transparency" in image.info:
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    gray = image.convert("L")
    return np.asarray(gray, dtype=np.float32) / 255.0


def prepare_like_dataset(gray: np.ndarray, info: DatasetInfo) -> np.ndarray:
    """A grayscale image in [0, 1] → the uint8 image (the dataset's size) its models expect."""
    return prepare_picture(gray, info.preparation, info.image_size)


def prepare_picture(gray: np.ndarray, preparation: Preparation, size: tuple[int, int]) -> np.ndarray:
    """A grayscale image in [0, 1] → a uint8 image of ``size``, as ``preparation`` says.

    The MNIST way: a light background (judged on the border pixels) is inverted so that the ink is
    light, then the ink is cropped, fitted to the box and centred. A plain resize keeps the picture.
    """
    if preparation.plain_resize:
        picture = Image.fromarray(np.asarray(gray, dtype=np.float32), mode="F")
        resized = picture.resize(size[::-1], Image.Resampling.LANCZOS)
        return np.round(np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0) * 255).astype(np.uint8)
    ink = _ink(gray)
    height, width = ink.shape
    scale = preparation.fit_box / max(height, width)
    new_height, new_width = max(1, round(height * scale)), max(1, round(width * scale))
    resized = Image.fromarray(ink, mode="F").resize((new_width, new_height), Image.Resampling.LANCZOS)
    ink = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
    canvas = np.zeros(size, dtype=np.float32)
    top, left = _placement(ink, size, preparation.centre_by_mass)
    canvas[top : top + new_height, left : left + new_width] = ink
    return np.round(canvas * 255).astype(np.uint8)


def _ink(gray: np.ndarray) -> np.ndarray:
    """Light ink on black in [0, 1], cropped to where the ink is."""
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2:
        raise ImageError(f"expected a 2-D grayscale image, got shape {gray.shape}")
    background = float(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])))
    if background > 0.5:  # dark ink on light paper: invert
        gray, background = 1.0 - gray, 1.0 - background
    ink = np.clip(gray - background, 0.0, 1.0)  # a grey background becomes black
    peak = float(ink.max())
    if peak < 0.1:
        raise ImageError("the image is blank: no ink stands out from the background")
    ink = ink / peak
    rows, cols = np.nonzero(ink > 0.1)
    return ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def _placement(ink: np.ndarray, size: tuple[int, int], centre_by_mass: bool) -> tuple[int, int]:
    """Top-left corner for the ink in a canvas of ``size``: its centre of mass (or its box) at the centre."""
    (height, width), (canvas_height, canvas_width) = ink.shape, size
    if centre_by_mass:
        total = ink.sum()
        centre_row = (ink.sum(axis=1) @ np.arange(height)) / total
        centre_col = (ink.sum(axis=0) @ np.arange(width)) / total
        top, left = round((canvas_height - 1) / 2 - centre_row), round((canvas_width - 1) / 2 - centre_col)
    else:
        top, left = (canvas_height - height) // 2, (canvas_width - width) // 2
    return min(max(top, 0), canvas_height - height), min(max(left, 0), canvas_width - width)
