"""Writes that a Ctrl-C cannot cut in half, and the test hook that kills a process mid-write.

`deferred_interrupts()` holds back SIGINT (Ctrl-C) while a block runs and raises `KeyboardInterrupt`
when it ends, so a checkpoint, its state.json and the clean-up after them are always complete.
A SIGKILL cannot be held back: atomic writes (temporary file + rename) and the clean-up on resume
(`RunDirectory.remove_leftovers`) cover it.

Example:
>>> with deferred_interrupts():
...     done = True  # a Ctrl-C here would be raised only after this line
>>> done
True
"""

import contextlib
import os
import signal
import threading

# Test hook: tests/test_kill_resume.py sets this to a `kill_point` name ("before-rename:epoch-2.keras"),
# optionally with "@SIGINT", to stop a real training process at that exact point of a write.
KILL_AT_ENV = "KERASLLM_TEST_KILL_AT"

_deferring = False


@contextlib.contextmanager
def deferred_interrupts():
    """Runs the block with SIGINT held back; a Ctrl-C received meanwhile is raised at the end."""
    global _deferring
    if _deferring or threading.current_thread() is not threading.main_thread():
        yield  # nested, or not the thread that receives signals: the outer block defers
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    _deferring = True
    try:
        yield
    finally:
        _deferring = False
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
    if received:
        raise KeyboardInterrupt


def kill_point(name):
    """Test hook: if $KERASLLM_TEST_KILL_AT is `name`, this process sends itself SIGKILL here
    (or SIGINT, if the variable is `name@SIGINT`). Does nothing when the variable is unset."""
    wanted = os.environ.get(KILL_AT_ENV)
    if wanted and wanted.split("@")[0] == name:
        os.kill(os.getpid(), signal.SIGINT if wanted.endswith("@SIGINT") else signal.SIGKILL)
