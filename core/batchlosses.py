"""An epoch's batch losses, kept to a bounded number of points however many batches there are.

A run with ``--batch-size 1 --log-every 1`` logs 54,000 points an epoch; a chart needs a few hundred,
and every point is written to status.json each second and to history.jsonl each epoch. When the
points pass ``cap``, neighbours are merged in pairs and each later point averages twice as many
batches (the stride doubles), so every point stands for the same number of batches and the curve
keeps its shape at half the resolution.
"""

from __future__ import annotations

MAX_POINTS = 200  # per epoch: about 8 kB of JSON, so 1,000 epochs of history stay under 10 MB


class BatchLosses:
    """``add(examples_seen, loss)`` per logged batch; ``points`` is a list of [examples seen, mean loss]."""

    def __init__(self, cap: int | None = None):
        cap = MAX_POINTS if cap is None else cap
        if cap < 2:
            raise ValueError("cap must be at least 2")
        self.cap = cap
        self.points: list[list[float]] = []
        self.stride = 1  # logged losses averaged into each new point
        self._pending: list[float] = []
        self._pending_examples = 0

    def add(self, examples_seen: int, loss: float) -> None:
        self._pending.append(loss)
        self._pending_examples = examples_seen
        if len(self._pending) >= self.stride:
            self.flush()

    def flush(self) -> None:
        """Turn the losses not yet in a point into one (the end of an epoch)."""
        if not self._pending:
            return
        self.points.append([self._pending_examples, sum(self._pending) / len(self._pending)])
        self._pending = []
        if len(self.points) > self.cap:
            self._halve()

    def _halve(self) -> None:
        pairs = [self.points[i : i + 2] for i in range(0, len(self.points), 2)]
        self.points = [[pair[-1][0], sum(point[1] for point in pair) / len(pair)] for pair in pairs]
        self.stride *= 2
