"""Writes that a Ctrl-C or a SIGTERM cannot cut in half, and the test hook that kills a process mid-write.

`deferred_interrupts()` holds back SIGINT (Ctrl-C) and SIGTERM while a block runs and delivers them
when it ends, so a checkpoint, its state.json and the clean-up after them are always complete.
Cluster schedulers preempt with SIGTERM: `terminate_as_interrupt()`, which the CLI wraps around
`kerasllm train` and `kerasllm bench` (the library installs no handler on import), turns it into
`Terminated`, a `KeyboardInterrupt`, so it stops a run exactly as Ctrl-C does. A signal whose exception
lands inside a garbage-collector callback or a `__del__` (JAX has one that runs often), where Python prints
"Exception ignored" and goes on, is sent again under `terminate_as_interrupt`, so no Ctrl-C or SIGTERM is lost.
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
import sys
import threading

# Test hook: tests/test_kill_resume.py sets this to a `kill_point` name ("before-rename:epoch-2.keras"),
# optionally with "@SIGINT" or "@SIGTERM", to stop a real training process at that exact point of a write.
KILL_AT_ENV = "KERASLLM_TEST_KILL_AT"

#: The signals `deferred_interrupts` holds back.
DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_deferring = False


class Terminated(KeyboardInterrupt):
    """SIGTERM under `terminate_as_interrupt`: stops like Ctrl-C (every `except KeyboardInterrupt` sees it)."""

    #: What the CLI exits with: 128 + SIGTERM, as a shell reports a process that SIGTERM ended.
    exit_status = 128 + signal.SIGTERM


def _raise_terminated(signum, frame):
    raise Terminated


#: How long after an interrupt was ignored it is sent again: long enough to be out of the gc callback or
#: `__del__` that ignored it, short beside any grace period a scheduler gives after SIGTERM.
RESEND_DELAY_SECONDS = 0.01


def _resend_swallowed_interrupts(previous_hook):
    """An `sys.unraisablehook` that sends a Ctrl-C or SIGTERM again when its exception was raised where Python
    cannot propagate it (a gc callback, a `__del__`), so it is raised in the code that runs next."""

    def hook(unraisable):
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            signum = signal.SIGTERM if issubclass(unraisable.exc_type, Terminated) else signal.SIGINT
            # From another thread, a moment later: sent from here, the handler would run inside this hook,
            # where its exception is ignored again.
            resend = threading.Timer(RESEND_DELAY_SECONDS, os.kill, (os.getpid(), signum))
            resend.daemon = True
            resend.start()
        else:
            previous_hook(unraisable)

    return hook


@contextlib.contextmanager
def terminate_as_interrupt():
    """Runs the block with SIGTERM raising `Terminated`, as Ctrl-C raises `KeyboardInterrupt`, and with an
    interrupt that Python would ignore (raised inside a gc callback or a `__del__`) sent again.

    For a program's entry point (the CLI), not for library code; the previous handler and
    `sys.unraisablehook` are back afterwards. Outside the main thread (which alone receives signals) it
    changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    previous_hook, sys.unraisablehook = sys.unraisablehook, _resend_swallowed_interrupts(sys.unraisablehook)
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@contextlib.contextmanager
def deferred_interrupts():
    """Runs the block with SIGINT and SIGTERM held back; one received meanwhile is delivered at the end.

    Delivered to the handler that was in place before: Ctrl-C raises `KeyboardInterrupt`, SIGTERM raises
    `Terminated` under `terminate_as_interrupt` and otherwise ends the process as it would have.
    """
    global _deferring
    if _deferring or threading.current_thread() is not threading.main_thread():
        yield  # nested, or not the thread that receives signals: the outer block defers
        return
    received = []
    previous = {signum: signal.signal(signum, lambda signum, frame: received.append(signum))
                for signum in DEFERRED_SIGNALS}
    _deferring = True
    try:
        yield
    finally:
        _deferring = False
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    # SIGTERM first: a preemption outranks a Ctrl-C that came with it.
    for signum in sorted(set(received), key=lambda signum: signum != signal.SIGTERM):
        signal.raise_signal(signum)  # runs the restored handler, which raises here


def kill_point(name):
    """Test hook: if $KERASLLM_TEST_KILL_AT is `name`, this process sends itself SIGKILL here
    (or SIGINT / SIGTERM, if the variable is `name@SIGINT` / `name@SIGTERM`). Does nothing when the
    variable is unset."""
    wanted = os.environ.get(KILL_AT_ENV)
    if wanted and wanted.split("@")[0] == name:
        kind = wanted.partition("@")[2]
        os.kill(os.getpid(), {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}.get(kind, signal.SIGKILL))
