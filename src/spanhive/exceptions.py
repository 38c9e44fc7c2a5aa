"""Errors spanhive raises into the caller's code.

Only configuration given in code raises; everything that happens while exporting is logged and counted
instead, because an exporter must never break the application it observes.
"""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A setting passed in code is invalid; the message names the argument, the value and what is expected."""
