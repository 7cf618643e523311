"""Images from outside (an upload, a drawing): decoded safely, then prepared the MNIST way.

Decoding accepts only a few formats, refuses anything larger than ``MAX_UPLOAD_BYTES`` or
``MAX_PIXELS`` before a pixel is decoded, and turns every other problem into ImageError with a
sentence a user can act on. Preparation follows how MNIST itself was made: grayscale, light
ink on a dark background, cropped to the ink, scaled to fit a 20×20 box (Fashion-MNIST: 28×28)
and placed so that its centre of mass is the centre of the 28×28 image.

    gray = decode_image(uploaded_bytes)          # H×W float32 in [0, 1]
    image = prepare_like_dataset(gray, "mnist")   # 28×28 uint8, what the model sees
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # also server.maxUploadSize in .streamlit/config.toml
MAX_PIXELS = 4096 * 4096  # checked on the header, before decoding (Pillow's own limit is 89 M)
MIN_SIDE = 8
SIZE = 28
# The box the ink is scaled to fit, and whether it is then centred by mass (MNIST) or by its box.
FIT_BOX = {"mnist": 20, "fashion-mnist": 28}
CENTRE_BY_MASS = {"mnist": True, "fashion-mnist": False}


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


def prepare_like_dataset(gray: np.ndarray, dataset: str = "mnist") -> np.ndarray:
    """A grayscale image in [0, 1] → the 28×28 uint8 image the dataset's models expect.

    A light background (judged on the border pixels) is inverted so that the ink is light.
    """
    if dataset not in FIT_BOX:
        raise ImageError(f"no preparation for dataset {dataset!r}")
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
    ink = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]

    box = FIT_BOX[dataset]
    height, width = ink.shape
    scale = box / max(height, width)
    new_height, new_width = max(1, round(height * scale)), max(1, round(width * scale))
    resized = Image.fromarray(ink, mode="F").resize((new_width, new_height), Image.Resampling.LANCZOS)
    ink = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)

    if CENTRE_BY_MASS[dataset]:
        total = ink.sum()
        centre_row = (ink.sum(axis=1) @ np.arange(new_height)) / total
        centre_col = (ink.sum(axis=0) @ np.arange(new_width)) / total
        top = round((SIZE - 1) / 2 - centre_row)
        left = round((SIZE - 1) / 2 - centre_col)
    else:
        top, left = (SIZE - new_height) // 2, (SIZE - new_width) // 2
    top = min(max(top, 0), SIZE - new_height)
    left = min(max(left, 0), SIZE - new_width)
    canvas = np.zeros((SIZE, SIZE), dtype=np.float32)
    canvas[top : top + new_height, left : left + new_width] = ink
    return np.round(canvas * 255).astype(np.uint8)
