"""The exporters alive in this process, for ``spanhive.flush()``, the SIGTERM flush and the fork hook.

A module of its own so that those three reach the exporters without importing the exporter module (which
imports them), and so that the fork hook is registered once per process, whatever creates exporters.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol

from spanhive._stats import Stats


class Live(Protocol):
    """What the registry's users need of an exporter."""

    stats: Stats

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Replay what is waiting; ``True`` when nothing is left."""
        ...

    def after_fork(self) -> None:
        """Re-create locks, threads and connections in a forked child."""
        ...


_live: weakref.WeakSet[Live] = weakref.WeakSet()


def register(exporter: Live) -> None:
    _live.add(exporter)


def unregister(exporter: Live) -> None:
    _live.discard(exporter)


def live() -> list[Live]:
    """Every registered exporter still alive."""
    return list(_live)


def _after_fork_in_child() -> None:
    for exporter in live():
        exporter.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
