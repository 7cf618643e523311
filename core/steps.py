"""One batch's forward, loss and backward: eagerly, or replayed as a CUDA graph.

``make_passes`` picks. After a call the batch's gradients are in the parameters' ``.grad`` and it
returns the loss and the count of right answers as tensors; the optimiser step stays the caller's,
so that a loss that is no longer finite can be refused before it changes the weights.

Why a graph: the small models here are bound by launching kernels on a GPU, not by running them. A
quick-cnn step is about a hundred small kernels, each launched from Python; replaying them as one
graph does the same arithmetic in a fraction of the time (results/bench.md, "On a GPU"). Only the
passes are captured: the optimiser and its schedule (a learning rate and momentum that change every
batch), the batch's indexing and augmentation stay eager, so nothing the graph bakes in ever changes.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

WARMUP_BATCHES = 3  # eager batches (on a side stream) before the capture, as CUDA graphs need


class EagerPasses:
    """Forward, loss and backward as ordinary calls (the CPU, MPS, several processes)."""

    def __init__(self, model: torch.nn.Module, label_smoothing: float, device_type: str):
        self.model, self.label_smoothing, self.device_type = model, label_smoothing, device_type

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.zero_grad(set_to_none=True)
        return self.passes(inputs, targets)

    def passes(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # No autocast cache: a cached bf16 copy of a weight would be stale inside a replayed graph.
        cuda = self.device_type == "cuda"
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=cuda, cache_enabled=False):
            logits = self.model(inputs)
            loss = F.cross_entropy(logits.float(), targets, label_smoothing=self.label_smoothing)
        loss.backward()
        return loss.detach(), (logits.argmax(1) == targets).sum()


class GraphedPasses(EagerPasses):
    """Batches of ``batch_size`` replayed as one captured CUDA graph; any other size runs eagerly.

    The graph writes into the gradient tensors it allocated when captured, so they must never be
    replaced: eager batches after the capture zero them in place instead of setting them to None.
    A model that can't be captured (it reads a value back to the CPU in ``forward``, say) is trained
    eagerly, with a warning.
    """

    def __init__(self, model: torch.nn.Module, label_smoothing: float, batch_size: int):
        super().__init__(model, label_smoothing, "cuda")
        self.batch_size = batch_size
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_batches = 0
        self.failed = False

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        full = len(inputs) == self.batch_size
        if self.graph is None:  # before the capture: eager, the first full batches on a side stream
            if self.failed or not full:
                return super().__call__(inputs, targets)
            if self.eager_batches < WARMUP_BATCHES:
                self.eager_batches += 1
                return self._on_side_stream(inputs, targets)
            if not self._capture(inputs, targets):
                return super().__call__(inputs, targets)
        elif not full:  # the epoch's last, smaller batch: eager, into the graph's gradient tensors
            for parameter in self.model.parameters():
                if parameter.grad is not None:
                    parameter.grad.zero_()
            return self.passes(inputs, targets)
        self.inputs.copy_(inputs)
        self.targets.copy_(targets)
        self.graph.replay()
        return self.loss, self.correct

    def _on_side_stream(self, inputs, targets):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            result = super().__call__(inputs, targets)
        torch.cuda.current_stream().wait_stream(side)
        return result

    def _capture(self, inputs: torch.Tensor, targets: torch.Tensor) -> bool:
        self.inputs, self.targets = inputs.clone(), targets.clone()
        self.model.zero_grad(set_to_none=True)  # the graph allocates the gradients it will write
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self.loss, self.correct = self.passes(self.inputs, self.targets)
        except RuntimeError as error:
            self.failed = True
            torch.cuda.synchronize()
            self.model.zero_grad(set_to_none=True)
            warnings.warn(f"training without a CUDA graph: the model could not be captured ({error})", stacklevel=2)
            return False
        self.graph = graph
        return True


def make_passes(model: torch.nn.Module, label_smoothing: float, device: torch.device, batch_size: int, graphs: bool):
    """Graphs on CUDA where asked (``graphs``: one process, no DistributedDataParallel); eager elsewhere."""
    if device.type == "cuda" and graphs:
        return GraphedPasses(model, label_smoothing, batch_size)
    return EagerPasses(model, label_smoothing, device.type)
