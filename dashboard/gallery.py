"""Galleries: a grid of captioned, clickable thumbnails (``image_grid``), and images tiled into one picture.

``image_grid`` is one small component (Streamlit's components v2, no build step): the thumbnails are
PNG data URLs made here, the captions are set as text (``textContent``, never parsed as HTML), and a
click sends the tile's id back to Python. One element for a hundred images keeps the page as quick
as the single tiled picture it replaces. ``tile`` still draws single images and uncaptioned strips.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw, ImageFont

THUMBNAIL_SIZES = {"Small": 56, "Medium": 84, "Large": 128}  # pixels on screen, for a 28×28 image

_GRID_CSS = """
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(var(--width), 1fr)); gap: 10px 8px; }
.tile { all: unset; cursor: pointer; display: flex; flex-direction: column; min-width: 0;
        font: 12px/1.35 var(--st-font, sans-serif); color: var(--st-text-color, #31333f); }
.tile img { width: var(--width); height: var(--size); image-rendering: pixelated; border-radius: 3px;
            outline: 1px solid #dde1e6; }
.tile:hover img { outline: 2px solid #868e96; }
.tile:focus-visible img { outline: 2px solid #1c7ed6; }
.tile.selected img { outline: 3px solid #1c7ed6; outline-offset: 1px; }
.tile span { overflow: hidden; white-space: nowrap; text-overflow: ellipsis; max-width: var(--width); }
/* A class name longer than the thumbnail ("✗ 92% T-shirt/top") wraps to a second line, never more. */
.tile .truth, .tile .guess { white-space: normal; overflow-wrap: anywhere; display: -webkit-box;
                             -webkit-box-orient: vertical; -webkit-line-clamp: 2; }
.tile .truth { margin-top: 3px; }
.tile .guess { font-weight: 600; }
.tile.wrong .guess { color: #c92a2a; }
.tile.right .guess { color: #2b8a3e; }
.tile .index { color: #868e96; font-size: 11px; }
"""

# Builds the grid from ``data`` with DOM calls only: captions are text, whatever they say.
_GRID_JS = """
export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  let grid = parentElement.querySelector(".grid");
  if (!grid) {
    grid = document.createElement("div");
    grid.className = "grid";
    parentElement.appendChild(grid);
  }
  grid.style.setProperty("--size", data.size + "px");
  grid.style.setProperty("--width", Math.round(data.size * data.aspect) + "px");
  const tiles = data.tiles.map((t) => {
    const button = document.createElement("button");
    button.type = "button";
    const verdict = t.wrong === null ? "" : t.wrong ? "wrong" : "right";  // null: no true class known
    button.className = "tile " + verdict + (t.id === data.selected ? " selected" : "");
    button.dataset.testid = "galleryTile";
    button.title = t.title;
    const image = document.createElement("img");
    image.src = t.src;
    image.alt = t.title;
    const lines = [["truth", t.truth], ["guess", t.guess], ["index", t.index]].map(([name, text]) => {
      const line = document.createElement("span");
      line.className = name;
      line.textContent = text;
      return line;
    });
    button.append(image, ...lines);
    if (!data.clickable) button.style.cursor = "default";
    if (data.clickable) button.onclick = () => setTriggerValue("clicked", t.id);
    return button;
  });
  grid.replaceChildren(...tiles);
}
"""


@dataclass
class Tile:
    """One thumbnail and its three caption lines; ``id`` is what a click reports."""

    id: int
    src: str  # a PNG data URL
    truth: str
    guess: str
    index: str
    title: str  # the whole caption, for a tooltip and screen readers
    wrong: bool | None  # None where no true class is known (a user's own pictures): no red or green


def short_file_name(name: str, limit: int = 13) -> str:
    """A file name that fits one caption line: cut in the middle, its end kept ("up_2_l…l1.png"); the tile's
    tooltip has it whole. (Wrapped, it broke anywhere: "up_2_label1.pn" over "g".)"""
    return name if len(name) <= limit else f"{name[: limit - 7]}…{name[-6:]}"


@lru_cache(maxsize=1)
def _grid_component():
    return st.components.v2.component("mnist_lens_image_grid", css=_GRID_CSS, js=_GRID_JS)


def image_grid(
    tiles: list[Tile],
    key: str,
    size: int,
    selected: int | None = None,
    on_click: Callable[[int], None] | None = None,
    aspect: float = 1.0,
) -> None:
    """Draw the grid, the ``selected`` tile outlined; ``on_click(id)`` runs before the rerun a click starts.

    Each thumbnail is ``size`` pixels high and ``aspect`` times as wide (2 for a pair side by side)."""

    def clicked() -> None:
        value = (st.session_state.get(key) or {}).get("clicked")
        if on_click is not None and isinstance(value, int):
            on_click(value)

    data = {
        "tiles": [asdict(t) for t in tiles],
        "size": size,
        "aspect": aspect,
        "selected": selected,
        "clickable": on_click is not None,
    }
    _grid_component()(key=key, data=data, on_clicked_change=clicked)


def png_data_url(image: np.ndarray) -> str:
    """A uint8 H×W image as a PNG data URL (a few hundred bytes for 28×28)."""
    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    return _png_data_url(pixels.tobytes(), pixels.shape)


@lru_cache(maxsize=4096)  # a gallery redraws the same images on every rerun: encode each once (~4 MB at most)
def _png_data_url(pixels: bytes, shape: tuple[int, ...]) -> str:
    buffer = io.BytesIO()
    image = np.frombuffer(pixels, dtype=np.uint8).reshape(shape)
    Image.fromarray(image, mode="L").save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


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


def tile_png(images: np.ndarray, columns: int, scale: int = 2) -> bytes:
    """``tile`` as PNG bytes for ``st.image``, kept: pages draw the same strips again on every rerun,
    and Streamlit would otherwise encode each picture again each time."""
    pixels = np.ascontiguousarray(images, dtype=np.uint8)
    return _tile_png(pixels.tobytes(), pixels.shape, columns, scale)


@lru_cache(maxsize=512)  # a Dataset page's strips and means: a few kB each
def _tile_png(pixels: bytes, shape: tuple[int, ...], columns: int, scale: int) -> bytes:
    buffer = io.BytesIO()
    images = np.frombuffer(pixels, dtype=np.uint8).reshape(shape)
    tile(images, columns=columns, scale=scale).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """Shorten text with an ellipsis until it fits the cell."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


# A window narrower than this starts with the sidebar folded away (Streamlit itself folds it below 768 px).
NARROW_WINDOW_PX = 900
# Below this width Streamlit lays the open sidebar over the page rather than beside it.
OVERLAY_WINDOW_PX = 768

# In a narrow window, the sidebar's own collapse button is pressed once per browser tab, so the pages get
# the width; the reader opens it again with the arrow as usual, and it then stays open, but where it
# covers the page, picking another page in it folds it again (as Streamlit does on a phone). Nothing
# happens if the button isn't found or the sidebar is folded already.
_NARROW_JS = """
export default function (component) {
  const { width, overlay, page } = component.data;
  const lastPage = sessionStorage.getItem("mnist-lens-page");
  sessionStorage.setItem("mnist-lens-page", page);
  const firstFold = window.innerWidth < width && !sessionStorage.getItem("mnist-lens-sidebar-folded");
  const pagePicked = window.innerWidth < overlay && lastPage !== null && lastPage !== page;
  if (!firstFold && !pagePicked) return;
  const sidebar = document.querySelector('[data-testid="stSidebar"]');
  const button = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
  if (!sidebar || !button || sidebar.getBoundingClientRect().width === 0) return;
  if (button.getAttribute("aria-expanded") === "false") return;
  sessionStorage.setItem("mnist-lens-sidebar-folded", "1");
  button.click();
}
"""


@lru_cache(maxsize=1)
def _narrow_window_component():
    return st.components.v2.component("mnist_lens_narrow_window", js=_NARROW_JS)


def fold_sidebar_in_narrow_windows(page: str) -> None:
    """Start with the sidebar folded in a window narrower than ``NARROW_WINDOW_PX``, and fold it when the
    reader picks another ``page`` where it covers the page (call it in the sidebar)."""
    data = {"width": NARROW_WINDOW_PX, "overlay": OVERLAY_WINDOW_PX, "page": page}
    _narrow_window_component()(key="narrow_window", data=data)


# Scrolls its own (empty) element into view when ``data.token`` is one it hasn't scrolled to: a click in a
# long gallery opens the inspector far below it, out of sight. The tokens seen live in the module, loaded
# once per browser tab, so a rerun with the same token (a filter changed) never moves the page.
_SCROLL_JS = """
const scrolledTo = new Set();
export default function (component) {
  const { data, parentElement } = component;  // a shadow root, not an element: scroll a mark inside it
  let mark = parentElement.querySelector("div");
  if (!mark) {
    mark = document.createElement("div");
    mark.style.scrollMarginTop = "4rem";  // below Streamlit's fixed header
    parentElement.appendChild(mark);
  }
  if (!data.token || scrolledTo.has(data.token)) return;
  scrolledTo.add(data.token);
  requestAnimationFrame(() => mark.scrollIntoView({ behavior: "smooth", block: "start" }));
}
"""


@lru_cache(maxsize=1)
def _scroll_component():
    return st.components.v2.component("mnist_lens_scroll_here", js=_SCROLL_JS)


def scroll_here(key: str, token: str | None) -> None:
    """An anchor that brings itself into view once per new ``token`` (None: never)."""
    _scroll_component()(key=key, data={"token": token})
