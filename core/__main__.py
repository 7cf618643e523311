"""``python -m core``: the command line (``core.cli``).

The process ends without Python's teardown of its modules: with torch loaded, that teardown frees
thousands of modules one by one, 0.7–1.2 s after the command's work is done (measured here; a tenth
of a quick training run). Everything else about exiting stays: threads are joined, every other exit
handler runs, stdout and stderr are flushed (output that can't be written makes the exit code 120,
as Python's own exit does), the exit code is the command's, and a Ctrl-C that nothing caught ends the
process by SIGINT. Files the command wrote were closed by the command itself.
"""

import atexit
import os
import signal
import sys

_exit_code: int | str | None = 1  # the command's, once known; 1 for an exception nothing caught
_interrupted = False  # Ctrl-C that nothing caught: the process ends by SIGINT, as Python's own exit does
FLUSH_FAILED = 120  # Python's exit code when stdout can't be flushed at exit (a full disk, a closed pipe)


def _end_process() -> None:
    """The last exit handler (registered first; they run last registered, first run)."""
    flushed = _flush(sys.stdout) & _flush(sys.stderr)
    if _interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    code = _exit_code
    code = 0 if code is None else code if isinstance(code, int) else 1
    os._exit(FLUSH_FAILED if code == 0 and not flushed else code)


def _flush(stream) -> bool:
    """False when what the command printed could not all be written."""
    try:
        stream.flush()
    except ValueError:  # closed by the command: nothing left in it
        return True
    except OSError:
        return False
    return True


def _no_exit_handlers_yet() -> bool:
    """True when nothing (coverage, a debugger's hook) registered an exit handler before this module:
    one registered earlier would run after ``_end_process`` and so never. Unknown counts as no."""
    count = getattr(atexit, "_ncallbacks", None)
    return count is not None and count() == 0


def run_and_exit() -> None:
    global _exit_code, _interrupted
    if _no_exit_handlers_yet():
        atexit.register(_end_process)
    try:
        from core.cli import main  # torch and the rest register their exit handlers after ours

        _exit_code = main()
    except SystemExit as stop:  # argparse's --help and usage errors
        _exit_code = stop.code
        raise
    except KeyboardInterrupt:
        _interrupted = True
        raise
    sys.exit(_exit_code)


if __name__ == "__main__":
    run_and_exit()
