"""Stage 0, hold: a trace's spans wait for its local root, so that the whole trace is mapped and joins one
session together.

A batch processor exports spans as they end, so a trace's children usually arrive in a batch before their
root, which is often the only span that says which session and user the trace belongs to. Spans whose trace
has a local root still open here are held, and released together with that root. The local root is the span
with no parent or with a remote parent. Anything the root never comes for is released by a bound. This is
the Collector's ``groupbytrace`` processor, in process, with the same bounds: a wait per trace and a cap on
what is held. Where ``groupbytrace`` drops the oldest trace when it is full, here the oldest trace is
released. Nothing held is ever lost.

- **Time**: a trace held for ``max_age_s`` (10 s by default, ``SPANHIVE_TRACE_HOLD_SECONDS``) is released
  with what has arrived. A chat server's root span that is open for minutes therefore does not hold its
  children longer than that. They take the session the trace has so far (see
  :func:`spanhive._pipeline.assemble.resolve_trace`), and the spans that end later join it.
- **Count and bytes**: past ``max_spans`` held spans, or ``max_bytes`` of their attribute strings (an
  estimate), the oldest traces are released until the hold is under both again.
- A trace whose local root was released is remembered (the last :data:`REMEMBERED` of them), with its
  resolved session. Its late spans (a child that ends after its root) are released at once, into the same
  session.

Spans are held as they are, never copied. The hold needs no lock because its owner (the exporter) calls it
under its own lock.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, Optional

from opentelemetry.sdk.trace import ReadableSpan

from spanhive._internals import span_attributes, span_trace
from spanhive._native import mypyc_attr

DEFAULT_MAX_AGE_S = 10.0
"""Long enough for an agent run or a streamed LLM call to end; short enough that a trace whose root never
ends (a crashed task, a root ended in another process) still goes out promptly."""
DEFAULT_MAX_SPANS = 16_384
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
REMEMBERED = 8192
"""Released traces remembered for their late spans, and sessions for their names: at a thousand traces a
second, the last eight seconds' worth, in about a MiB each (65,536 of each grew the 200k-span benchmark's
peak RSS by 24 MiB)."""
_SPAN_OVERHEAD = 512  # bytes a held span costs beyond its attribute strings (the span object, its context)


class TraceSession(NamedTuple):
    """The session a released trace joined: its spans that end later join it too."""

    session_id: str
    external_session_id: Optional[str]
    user_properties: Optional[dict[str, Any]]
    stated: bool
    """A span of the trace stated the session (else it is the trace-derived one)."""


@mypyc_attr(acyclic=True)
class Released:
    """One trace's spans, released together (in the order they arrived); slots, not a ``NamedTuple``: one is
    made per trace (see ``SpanFacts``)."""

    __slots__ = ("known", "spans", "trace_id")

    def __init__(self, trace_id: int, spans: list[ReadableSpan], known: Optional[TraceSession]) -> None:
        self.trace_id = trace_id
        self.spans = spans
        self.known = known
        """The session this trace joined when it was last released, if it was."""


@mypyc_attr(acyclic=True)
class _Held:
    __slots__ = ("bytes", "since", "spans")

    def __init__(self, since: float) -> None:
        self.spans: list[ReadableSpan] = []
        self.since = since
        self.bytes = 0


def _size(span: ReadableSpan) -> int:
    """An estimate of what holding ``span`` keeps alive: its attribute strings, plus a fixed overhead."""
    size = _SPAN_OVERHEAD
    for value in span_attributes(span).values():
        if type(value) is str:
            size += len(value)
        elif type(value) is tuple:
            size += 16 * len(value)
    return size


class Hold:
    """Spans in, whole traces out: :meth:`add` each exported batch, :meth:`due` for traces past their wait,
    :meth:`release_all` at flush and shutdown."""

    def __init__(
        self,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        max_spans: int = DEFAULT_MAX_SPANS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age_s = max_age_s
        self.max_spans = max_spans
        self.max_bytes = max_bytes
        self._clock = clock
        # OrderedDicts, as each is read or trimmed from its oldest end: a plain dict finds its first key by
        # stepping over the slots of every key deleted before it, 2 µs per trace once full (every trace is new).
        self._held: OrderedDict[int, _Held] = OrderedDict()
        """Traces waiting for their local root, oldest first."""
        self._released: OrderedDict[int, Optional[TraceSession]] = OrderedDict()
        """Released traces, in the order they were first released, with their session."""
        self.session_names: OrderedDict[str, str] = OrderedDict()
        """The name each session went out with (the last :data:`REMEMBERED`), so that a later batch of the
        same session, whose earliest root is another, does not rename it."""
        self.enabled = max_age_s > 0 and max_spans > 0
        self.spans = 0
        """Spans held now."""
        self.bytes = 0
        """The estimated bytes of the spans held now."""
        self.waited = 0
        """Spans that had to wait for their root, since the last :meth:`take_counts`."""
        self.bounded = 0
        """Spans released by a bound (time, count or bytes) or a flush rather than by their root, since the
        last :meth:`take_counts`."""

    def add(self, spans: Sequence[ReadableSpan]) -> list[Released]:
        """Take one exported batch; return the traces it completes (and any a bound pushes out)."""
        groups, rooted = _grouped(spans)
        if not self.enabled:
            return [Released(trace_id, group, None) for trace_id, group in groups.items()]
        out: list[Released] = []
        now = self._clock()
        held, released = self._held, self._released
        for trace_id, group in groups.items():
            if trace_id in rooted or trace_id in released or trace_id == 0:
                waiting = held.pop(trace_id, None) if held else None
                if waiting is not None:
                    self.spans -= len(waiting.spans)
                    self.bytes -= waiting.bytes
                    waiting.spans += group
                out.append(Released(trace_id, waiting.spans if waiting else group, released.get(trace_id)))
                continue
            waiting = held.get(trace_id)
            if waiting is None:
                held[trace_id] = waiting = _Held(now)
            size = sum(map(_size, group))
            waiting.spans += group
            waiting.bytes += size
            self.waited += len(group)
            self.spans += len(group)
            self.bytes += size
        out += self.due(now)
        return out

    def due(self, now: Optional[float] = None) -> list[Released]:
        """Traces past their wait, and the oldest ones while a bound on count or bytes is exceeded."""
        if not self._held:
            return []
        now = self._clock() if now is None else now
        held = self._held
        out = []
        while held:
            trace_id, waiting = next(iter(held.items()))  # the oldest: the rest are younger
            over = self.spans > self.max_spans or self.bytes > self.max_bytes
            if not over and now - waiting.since < self.max_age_s:
                break
            out.append(self._pop(trace_id))
            self.bounded += len(out[-1].spans)
        return out

    def next_due(self) -> Optional[float]:
        """When the oldest held trace is due (the clock's time), ``None`` when nothing is held."""
        for waiting in self._held.values():
            return waiting.since + self.max_age_s
        return None

    def release_all(self) -> list[Released]:
        """Every held trace, as it stands (flush, shutdown)."""
        out = [self._pop(trace_id) for trace_id in list(self._held)]
        self.bounded += sum(len(trace.spans) for trace in out)
        return out

    def _pop(self, trace_id: int) -> Released:
        waiting = self._held.pop(trace_id)
        self.spans -= len(waiting.spans)
        self.bytes -= waiting.bytes
        return Released(trace_id, waiting.spans, self._released.get(trace_id))

    def remember(self, trace_id: int, session: Optional[TraceSession]) -> None:
        """The session a released trace joined: its later spans are released at once, into it."""
        if not self.enabled:
            return
        released = self._released
        released[trace_id] = session
        if len(released) > REMEMBERED:
            released.popitem(last=False)

    def name_session(self, session_id: str, name: Optional[str], stated: bool) -> Optional[str]:
        """The name a session goes out with: a stated one (which replaces what was remembered), else the one
        it first went out with, else ``name`` (its earliest root's in this batch)."""
        names = self.session_names
        if not stated:
            known = names.get(session_id)
            if known is not None:
                return known
        if name is not None:
            names[session_id] = name
            if len(names) > REMEMBERED:
                names.popitem(last=False)
        return name

    def take_counts(self) -> tuple[int, int]:
        """Spans that waited, and spans released by a bound or a flush, since the last call."""
        counts = self.waited, self.bounded
        self.waited = self.bounded = 0
        return counts


class HoldTimer:
    """Keeps a hold's wait when no batch comes: one daemon thread, started (:meth:`ensure`, under ``lock``)
    while something is held, that hands each trace whose wait is over to ``release`` (outside the lock) and
    ends when nothing is held or ``stop`` is set. The exporter and ``spanhive serve`` each own one."""

    def __init__(
        self,
        hold: Hold,
        lock: threading.Lock,
        release: Callable[[list[Released]], object],
        stop: threading.Event,
        name: str,
    ) -> None:
        self._hold, self._lock, self._release, self._stop, self._name = hold, lock, release, stop, name
        self._worker: Optional[threading.Thread] = None

    def ensure(self) -> None:
        """Start the thread if spans are held and it is not running (called under the lock)."""
        if self._worker is None and self._hold.spans:
            self._worker = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._worker.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                due_at = self._hold.next_due()
                if due_at is None:
                    self._worker = None
                    return
                wait = due_at - time.monotonic()
                traces = self._hold.due() if wait <= 0 else []
            if traces:
                self._release(traces)
            elif wait > 0:
                self._stop.wait(min(wait, 1.0))


def by_trace(spans: Iterable[ReadableSpan]) -> list[Released]:
    """A batch's spans by trace, none held: what a batch without a hold is (tests, benchmarks, replay)."""
    return [Released(trace_id, group, None) for trace_id, group in _grouped(spans)[0].items()]


def _grouped(spans: Iterable[ReadableSpan]) -> tuple[dict[int, list[ReadableSpan]], set[int]]:
    """Spans by trace id, in the order they came, and the traces whose local root is among them."""
    groups: dict[int, list[ReadableSpan]] = {}
    rooted: set[int] = set()
    for span in spans:
        trace_id, root = span_trace(span)
        group = groups.get(trace_id)
        if group is None:
            groups[trace_id] = group = [span]
        else:
            group.append(span)
        if root:
            rooted.add(trace_id)
    return groups, rooted
