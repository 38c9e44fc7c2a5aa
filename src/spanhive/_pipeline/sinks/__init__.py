"""Where delivery sends a request: one module per sink, each one attempt at a time (the policy of retries,
pauses and the spool is :mod:`spanhive._pipeline.deliver`'s).

- :class:`~spanhive._pipeline.sinks.http.HttpSink`: ``POST {endpoint}/events/batch``.
- :class:`~spanhive._pipeline.sinks.store.StoreSink`: the embedded SQLite store, handed whole records.
- :class:`~spanhive._pipeline.sinks.memory.MemorySink`: a scripted sink in memory, for tests and benchmarks.
"""

from __future__ import annotations

from typing import Optional, Protocol

from spanhive._pipeline.assemble import SessionGroup
from spanhive._pipeline.pack import Body
from spanhive._retry import Attempt

BATCH_PATH = "/events/batch"


class Request:
    """One request for a sink: a body just packed, or one read back from the spool as its wire bytes."""

    __slots__ = ("_wire", "body", "encoding", "events", "path")

    def __init__(
        self,
        encoding: str,
        *,
        body: Optional[Body] = None,
        wire: Optional[bytes] = None,
        events: int = 0,
        path: Optional[str] = None,
    ):
        self.encoding = encoding
        self.path = path or BATCH_PATH
        """The API path the request is for (a spooled one keeps the path it was written for)."""
        """``gzip`` or ``identity``: the ``Content-Encoding`` of :attr:`wire`."""
        self.body = body
        self._wire = wire
        self.events = body.events if body is not None else events
        """Span events in the request."""

    @property
    def wire(self) -> bytes:
        """The request's bytes as sent (joined and compressed on first use)."""
        if self._wire is None:
            assert self.body is not None
            self._wire = self.body.wire(self.encoding)
        return self._wire

    @property
    def records(self) -> Optional[list[SessionGroup]]:
        """The whole records, when the request was packed for a sink that takes them."""
        return self.body.records if self.body is not None else None


class Sink(Protocol):
    encoding: str
    """``gzip`` or ``identity``: how bodies are encoded for this sink."""
    target: str
    """Where it sends, for log lines (never with credentials)."""
    retries: bool
    """Whether a failed attempt is worth retrying within one export (a network is; a local store that just
    failed is not, and the spool takes the batch at once)."""
    takes_records: bool
    """Whether it is best handed whole records (:meth:`Body.of_records`) rather than bytes."""

    def send(self, request: Request, timeout_s: float) -> Attempt:
        """One attempt at delivering ``request`` within ``timeout_s`` seconds; never raises."""
        ...

    def close(self) -> None: ...
