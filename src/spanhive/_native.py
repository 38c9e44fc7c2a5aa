"""What the compiled build (mypyc) is told about a class, which the pure-Python source ignores.

``@mypyc_attr(acyclic=True)`` marks a class whose objects never sit on a reference cycle: compiled, they are
not tracked by the garbage collector. The export path makes several per span or per session (what grouping
keeps, a session's share of a batch, a released trace) that live for the whole batch; tracked, they survive
two young collections, count towards the next full one, and that full collection walks the host
application's whole heap. ``mypy_extensions`` is only needed to compile: the source imports nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr
else:

    def mypyc_attr(*_args: Any, **_kwargs: Any) -> Callable[[type], type]:
        """Interpreted, the class as it is."""
        return _same


def _same(cls: type) -> type:
    return cls


__all__ = ["mypyc_attr"]
