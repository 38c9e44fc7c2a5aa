"""The opt-in SIGTERM flush (``SPANHIVE_FLUSH_ON_SIGTERM``): containers are stopped with SIGTERM, and Python
runs no ``atexit`` handler for an unhandled one, so spans still queued would be lost.

The handler flushes within a bounded time, then hands the signal to whatever handled it before: a callable
is called, the default action is restored and the signal re-raised, an ignored signal stays ignored.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any, Optional

from spanhive._flush import flush

_installed = False
_lock = threading.Lock()


def install_sigterm_flush(timeout_s: float) -> bool:
    """Install once per process, from the main thread only (where Python allows it); ``True`` if installed."""
    global _installed  # noqa: PLW0603 - one handler per process
    with _lock:
        if _installed or threading.current_thread() is not threading.main_thread():
            return _installed
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
            flush(timeout_s)
            _chain(previous, signum, frame)

        signal.signal(signal.SIGTERM, on_sigterm)
        _installed = True
        return True


def _chain(previous: Any, signum: int, frame: Optional[FrameType]) -> None:
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_IGN:
        return
    else:  # SIG_DFL (or unknown): do what the process would have done without us
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
