"""Augmentation a batch at a time: shifts, rotations and mirror images of N×1×H×W pixel tensors.

Every step draws from the training loop's seeded generator, so a run is the same each time.
``augmentation_steps(config)`` is the one list both training and the model card read.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from core.config import TrainConfig


def random_shift_rotate(
    pixels: torch.Tensor, generator: torch.Generator, max_shift_px: float = 2.0, max_degrees: float = 10.0
) -> torch.Tensor:
    """Each image of a N×1×H×W batch moved by up to ``max_shift_px`` and turned by up to ``max_degrees``."""
    n, _, height, width = pixels.shape
    draws = torch.rand(n, 3, generator=generator).to(pixels.device) * 2 - 1
    angle = draws[:, 0] * math.radians(max_degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid works in [-1, 1] coordinates: one pixel is 2 / size.
    shift_x = draws[:, 1] * max_shift_px * 2 / width
    shift_y = draws[:, 2] * max_shift_px * 2 / height
    theta = torch.stack([torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1)
    grid = F.affine_grid(theta.to(pixels.dtype), list(pixels.shape), align_corners=False)
    return F.grid_sample(pixels, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_whole_pixel_shift(pixels: torch.Tensor, generator: torch.Generator, max_shift_px: int = 2) -> torch.Tensor:
    """Each image of a N×1×H×W batch moved by up to ``max_shift_px`` whole pixels, filled with black.

    A crop of the zero-padded batch: every pixel is copied, none interpolated.
    """
    n, _, height, width = pixels.shape
    padded = F.pad(pixels, (max_shift_px,) * 4)
    offsets = torch.randint(0, 2 * max_shift_px + 1, (n, 2), generator=generator).to(pixels.device)
    rows = (offsets[:, :1] + torch.arange(height, device=pixels.device))[:, :, None]
    cols = (offsets[:, 1:] + torch.arange(width, device=pixels.device))[:, None, :]
    return padded[torch.arange(n, device=pixels.device)[:, None, None], 0, rows, cols].unsqueeze(1)


def random_hflip(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image of a N×1×H×W batch mirrored left-right with probability 1/2."""
    flip = (torch.rand(len(pixels), generator=generator) < 0.5).to(pixels.device).view(-1, 1, 1, 1)
    return torch.where(flip, pixels.flip(-1), pixels)


def augmentation_steps(config: TrainConfig) -> list[tuple[str, Callable]]:
    """The steps ``config`` asks for, in order, each with its description ("" for one that changes nothing)."""
    steps = [("mirror images", random_hflip)] if config.hflip else []
    if config.augment and config.max_rotation > 0:
        steps.append(
            (
                f"shifts up to {config.max_shift} px and turns up to {config.max_rotation:g}°",
                functools.partial(random_shift_rotate, max_shift_px=config.max_shift, max_degrees=config.max_rotation),
            )
        )
    elif config.augment:
        # Kept even with max_shift 0: it still draws from the generator, so the run's shuffles stay as they were.
        words = f"whole-pixel shifts up to {config.max_shift} px" if config.max_shift else ""
        steps.append((words, functools.partial(random_whole_pixel_shift, max_shift_px=config.max_shift)))
    return steps


def describe_augmentation(config: TrainConfig) -> str:
    """The augmentation ``make_augmentation`` builds for ``config``, in words."""
    return ", ".join(words for words, _ in augmentation_steps(config) if words) or "none"


def make_augmentation(config: TrainConfig, generator: torch.Generator) -> Callable | None:
    steps = [step for _, step in augmentation_steps(config)]
    if not steps:
        return None

    def augment(pixels: torch.Tensor) -> torch.Tensor:
        for step in steps:
            pixels = step(pixels, generator)
        return pixels

    return augment
