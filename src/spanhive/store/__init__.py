"""The embedded SQLite store behind the local default, the CLI, and ``spanhive serve``."""

from spanhive.store._store import Store, StoreError

__all__ = ["Store", "StoreError"]
