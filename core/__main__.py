"""``python -m core``: the command line (``core.cli``).

The process ends without Python's teardown of its modules: with torch loaded, that teardown frees
thousands of modules one by one, 0.7–1.2 s after the command's work is done (measured here; a tenth
of a quick training run). Everything else about exiting stays: threads are joined, every other exit
handler runs, stdout and stderr are flushed, and the exit code is the command's. Files the command
wrote were closed by the command itself.
"""

import atexit
import contextlib
import os
import sys

_exit_code: int | str | None = 1  # the command's, once known; 1 for an exception nothing caught


def _end_process() -> None:
    """The last exit handler (registered first; they run last registered, first run)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader that went away, a stream already closed
            stream.flush()
    code = _exit_code
    os._exit(0 if code is None else code if isinstance(code, int) else 1)


def _no_exit_handlers_yet() -> bool:
    """True when nothing (coverage, a debugger's hook) registered an exit handler before this module:
    one registered earlier would run after ``_end_process`` and so never. Unknown counts as no."""
    count = getattr(atexit, "_ncallbacks", None)
    return count is not None and count() == 0


def run_and_exit() -> None:
    global _exit_code
    if _no_exit_handlers_yet():
        atexit.register(_end_process)
    from core.cli import main  # torch and the rest register their exit handlers after ours

    try:
        _exit_code = main()
    except SystemExit as stop:  # argparse's --help and usage errors
        _exit_code = stop.code
        raise
    except KeyboardInterrupt:
        _exit_code = 130
        raise
    sys.exit(_exit_code)


if __name__ == "__main__":
    run_and_exit()
