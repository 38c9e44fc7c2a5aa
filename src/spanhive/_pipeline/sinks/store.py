"""Writes into the embedded SQLite store: whole records as the pipeline handed them, or a spooled body's
JSON when one is replayed. The store is opened on first use, and again in a forked child."""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any, Optional

from spanhive._config import Settings
from spanhive._log import limited
from spanhive._pipeline.pack import decompress
from spanhive._pipeline.sinks import Request
from spanhive._retry import Attempt, Verdict
from spanhive.store import Store


class StoreSink:
    encoding = "identity"
    retries = False
    takes_records = True

    def __init__(self, settings: Settings) -> None:
        path = settings.store_path
        assert path is not None
        self.path = path
        self.target = str(path)
        self._store: Optional[Store] = None
        self._lock = threading.Lock()
        self._pid = 0

    def send(self, request: Request, timeout_s: float) -> Attempt:
        try:
            groups = request.records
            body: Any = json.loads(decompress(request.wire, request.encoding)) if groups is None else None
            with self._lock:
                if self._store is None or self._pid != os.getpid():  # SQLite connections must not cross fork
                    self._store, self._pid = Store(self.path), os.getpid()
                if groups is not None:
                    self._store.ingest_records((group.properties, group.events) for group in groups)
                else:
                    self._store.ingest_batch(body)
        except Exception as exc:  # noqa: BLE001 - a store failure must never reach the application
            limited.log(logging.WARNING, "store", "spanhive: could not write to %s: %s", self.path, exc)
            return Attempt(Verdict.RETRY, str(exc))
        return Attempt(Verdict.SUCCESS)

    def close(self) -> None:
        with self._lock:
            if self._store is not None and self._pid == os.getpid():
                self._store.close()
            self._store = None
