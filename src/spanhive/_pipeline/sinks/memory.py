"""A sink in memory: it keeps what it was sent and answers as scripted, so that every branch of the delivery
policy can be driven, step by step, without a server or a clock."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any, Union

from spanhive._pipeline.pack import decompress
from spanhive._pipeline.sinks import Request
from spanhive._retry import Attempt, Verdict, for_status

Answer = Union[int, Attempt]
"""A scripted answer: an HTTP status (read as the HTTP sink reads it), or an :class:`Attempt` as it stands."""


class MemorySink:
    """Answers each request with the next scripted answer (then ``200`` for good); keeps every request."""

    def __init__(
        self,
        answers: Iterable[Answer] = (),
        *,
        encoding: str = "identity",
        retries: bool = True,
        takes_records: bool = False,
    ) -> None:
        self.encoding = encoding
        self.target = "memory"
        self.retries = retries
        self.takes_records = takes_records
        self.answers: deque[Answer] = deque(answers)
        self.requests: list[Request] = []
        """Every request, answered or not, in order."""
        self.delivered: list[Request] = []
        """The requests answered with success."""
        self.closed = False
        self._lock = threading.Lock()

    def send(self, request: Request, timeout_s: float) -> Attempt:
        with self._lock:
            self.requests.append(request)
            answer = self.answers.popleft() if self.answers else 200
            attempt = for_status(answer, f"HTTP {answer} from memory") if isinstance(answer, int) else answer
            if attempt.verdict is Verdict.SUCCESS:
                self.delivered.append(request)
            return attempt

    def bodies(self) -> list[dict[str, Any]]:
        """The delivered requests as decoded JSON bodies."""
        return [json.loads(decompress(r.wire, r.encoding)) for r in self.delivered]

    def event_ids(self) -> list[str]:
        """The ids of every span event delivered, in order (session records left out)."""
        return [e["event_id"] for body in self.bodies() for e in body["events"] if e.get("event_type") != "session"]

    def close(self) -> None:
        self.closed = True
