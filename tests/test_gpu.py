"""The CUDA path: a training step replayed as a CUDA graph computes what the eager step computes.

Skipped where there is no GPU (CI has none); ``REQUIRE_GPU=1`` turns the skip into a failure, for a
machine that has one.
"""

from __future__ import annotations

import copy
import os

import pytest
import torch

import core.train
from core.models import create_model
from core.steps import WARMUP_BATCHES, EagerPasses, GraphedPasses, make_passes
from core.train import fit
from tests.conftest import small_config

if not torch.cuda.is_available():
    if os.environ.get("REQUIRE_GPU") == "1":
        raise RuntimeError("REQUIRE_GPU=1 but torch sees no CUDA device")
    pytest.skip("no CUDA device", allow_module_level=True)

pytestmark = pytest.mark.gpu


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12)).item()


def batch(size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator(device="cuda").manual_seed(seed)
    images = torch.randn(size, 1, 28, 28, device="cuda", generator=generator)
    labels = torch.randint(0, 10, (size,), device="cuda", generator=generator)
    return images.contiguous(memory_format=torch.channels_last), labels


def test_a_replayed_graph_gives_the_loss_and_gradients_of_an_eager_pass():
    torch.manual_seed(0)
    model = create_model("quick-cnn").cuda().to(memory_format=torch.channels_last)
    twin = copy.deepcopy(model)
    graphed, eager = GraphedPasses(model, 0.1, batch_size=32), EagerPasses(twin, 0.1, "cuda")
    # Full batches through the warm-up and the capture, then a smaller one (eager, in the graph's
    # gradient tensors), then full ones again: every batch new data, every step moving the weights.
    sizes = [32] * (WARMUP_BATCHES + 3) + [10, 32, 32, 10, 32]
    for seed, size in enumerate(sizes):
        images, labels = batch(size, seed)
        loss, correct = graphed(images, labels)
        twin_loss, twin_correct = eager(images, labels)
        assert abs(loss.item() - twin_loss.item()) < 1e-3 * twin_loss.item(), f"batch {seed}"
        assert correct.item() == twin_correct.item()
        for (name, p), q in zip(model.named_parameters(), twin.parameters(), strict=True):
            assert relative_difference(p.grad, q.grad) < 1e-2, f"batch {seed}, {name}"
        with torch.no_grad():  # in place: the graph keeps reading the same parameter tensors
            for p, q in zip(model.parameters(), twin.parameters(), strict=True):
                p -= 0.05 * p.grad
                q -= 0.05 * q.grad
    assert graphed.graph is not None


def test_training_on_cuda_with_a_graph_follows_eager_training(synthetic_data, monkeypatch):
    # 600 images in batches of 64: nine full batches (replayed) and a last one of 24 (eager) per epoch.
    config = small_config(model="quick-cnn", device="cuda", batch_size=64, epochs=3, lr=0.02)
    captures = []
    capture = GraphedPasses._capture
    monkeypatch.setattr(GraphedPasses, "_capture", lambda self, *a: captures.append(1) or capture(self, *a))
    graphed = fit(config, data=synthetic_data)
    assert captures == [1]

    monkeypatch.setattr(core.train, "make_passes", lambda *args, graphs: make_passes(*args, graphs=False))
    eager = fit(config, data=synthetic_data)
    assert captures == [1]  # the second fit ran eagerly
    for with_graph, without in zip(graphed.history, eager.history, strict=True):
        assert with_graph["train_loss"] == pytest.approx(without["train_loss"], rel=0.02)
        assert with_graph["val_accuracy"] == pytest.approx(without["val_accuracy"], abs=0.03)
    assert graphed.history[-1]["val_accuracy"] > 0.9


class ReadsBack(torch.nn.Module):
    """A forward that asks the CPU for a value: it can't be captured as a graph."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(28 * 28, 10)

    def forward(self, x):
        if x.abs().max().item() > 1e6:
            raise ValueError("huge input")
        return self.linear(x.flatten(1))


def test_a_model_that_cannot_be_captured_is_trained_eagerly_with_a_warning():
    model = ReadsBack().cuda()
    passes = GraphedPasses(model, 0.0, batch_size=16)
    with pytest.warns(UserWarning, match="without a CUDA graph"):
        for seed in range(WARMUP_BATCHES + 3):
            loss, _ = passes(*batch(16, seed))
            assert torch.isfinite(loss) and model.linear.weight.grad is not None
    assert passes.graph is None and passes.failed
