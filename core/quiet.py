"""Keeping a library's progress prints off the terminal while it works."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator

# sys.stdout and sys.stderr belong to the whole process. Two threads (two dashboard sessions importing
# at once) swapping them in overlapping turns would each restore what the other had put there, and
# leave the terminal writing into a buffer for good: so callers take turns.
_TURN = threading.Lock()


@contextlib.contextmanager
def prints_caught() -> Iterator[io.StringIO]:
    """What is printed inside, to stdout or stderr, goes into the buffer yielded instead."""
    chatter = io.StringIO()
    with _TURN, contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
        yield chatter
