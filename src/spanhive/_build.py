"""Which build is running: the hot path compiled by mypyc (``pyproject.toml``), or the pure-Python source."""

from __future__ import annotations

from spanhive.mapping import _span

COMPILED = not str(_span.__file__).endswith(".py")
"""A compiled module's file is a shared library, not its source."""
NAME = "compiled (mypyc)" if COMPILED else "pure Python"
