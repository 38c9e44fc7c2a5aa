"""The pack stage's arithmetic, exactly: bodies as full as the size limit allows and never fuller, sessions
cut into runs that each carry their session, lone events cut rather than dropped, partial successes sent
again without what was stored. On real spans from a real SDK provider, encoded by the real stages."""

from __future__ import annotations

import gzip
import itertools
import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanhive import _gzip
from spanhive._pipeline import prepare
from spanhive._pipeline.encode import length
from spanhive._pipeline.map import Defaults
from spanhive._pipeline.pack import _WRAPPER, Body, compress, pack, remainder, smaller, split
from tests.test_mapping_properties import sdk  # noqa: F401 - a fixture

Sdk = tuple[TracerProvider, InMemorySpanExporter]


T0 = 1_767_225_600_000_000_000  # fixed times: a body's size depends on nothing but its spans


def spans_of(sdk: Sdk, sessions: Sequence[Sequence[dict[str, Any]]]) -> Sequence[ReadableSpan]:  # noqa: F811
    """One trace per session (each trace its own session), its spans the attribute maps given (the first one
    the root)."""
    provider, memory = sdk
    memory.clear()
    tracer = provider.get_tracer("pack")
    for number, spans in enumerate(sessions):
        start = T0 + number * 10_000_000_000
        with tracer.start_as_current_span("root", attributes=spans[0], start_time=start, end_on_exit=False) as root:
            for index, attributes in enumerate(spans[1:], 1):
                child = tracer.start_span("child", attributes=attributes, start_time=start + index * 1_000_000)
                child.end(end_time=start + index * 1_000_000 + 500_000)
        root.end(end_time=start + 5_000_000_000)
    return memory.get_finished_spans()


def body_of(sdk: Sdk, sessions: Sequence[Sequence[dict[str, Any]]]) -> Body:  # noqa: F811
    (body,) = prepare(spans_of(sdk, sessions), Defaults(), 1 << 40).bodies
    return body


def span_events(body: Body) -> list[dict[str, Any]]:
    return [e for e in json.loads(body.payload)["events"] if e["event_type"] != "session"]


def session_ids(body: Body) -> list[str]:
    """The body's sessions, in the order of its parts."""
    return [part.properties["session_id"] for part in body.parts if part.properties is not None]


def sessions_in(body: Body) -> list[str]:
    return sorted({e["session_id"] for e in span_events(body)})


def test_a_body_exactly_at_the_limit_goes_whole(sdk: Sdk) -> None:  # noqa: F811
    body = body_of(sdk, [[{"n": 1}, {"n": 2}], [{"n": 3}]])
    assert len(pack(body.parts, body.size)) == 1
    assert len(pack(body.parts, body.size - 1)) == 2


def test_bodies_are_filled_to_the_limit_and_no_further(sdk: Sdk) -> None:  # noqa: F811
    body = body_of(sdk, [[{"n": 1}], [{"n": 2}], [{"n": 3}]])
    first, second, _ = body.parts
    room_for_two = _WRAPPER + first.size() + second.size()
    parts = split(body, room_for_two)
    assert parts is not None
    assert [len(b.parts) for b in parts] == [2, 1]  # the first two sessions just fit together
    assert all(b.size <= room_for_two for b in parts)
    parts = split(body, room_for_two - 1)
    assert parts is not None
    assert [len(b.parts) for b in parts] == [1, 1, 1]


def test_a_session_too_large_for_one_body_goes_in_runs_that_each_carry_it(sdk: Sdk) -> None:  # noqa: F811
    body = body_of(sdk, [[{"n": i} for i in range(6)], [{"small": True}]])
    large = body.parts[0]
    own = large.session_event()
    assert own is not None
    limit = _WRAPPER + length(own) + 1 + sum(length(e) + 1 for e in large.events[:3])  # three events' worth
    parts = split(body, limit)
    assert parts is not None
    assert all(b.size <= limit for b in parts)
    first = session_ids(body)[0]
    runs = [
        p.events for b in parts for p in b.parts if p.properties is not None and p.properties["session_id"] == first
    ]
    assert len(runs[0]) == 3  # exactly what the limit leaves room for
    room = limit - _WRAPPER - (length(own) + 1)
    for run, after in itertools.pairwise(runs):  # each run as long as it can be: the next one's first event did not fit
        used = sum(length(e) + 1 for e in run)
        assert used <= room < used + length(after[0]) + 1
    for alone in (b for b in parts if len(b.parts) == 1):  # a run alone goes as its session's single-session body
        sent = json.loads(alone.payload)
        assert sent["single_session"] is True
        assert sent["session_properties"]["session_id"] == span_events(alone)[0]["session_id"]
    assert sorted(e["event_id"] for b in parts for e in span_events(b)) == sorted(
        e["event_id"] for e in span_events(body)
    )


def test_a_lone_event_too_large_is_cut_and_the_others_packed_whole(sdk: Sdk) -> None:  # noqa: F811
    body = body_of(sdk, [[{"prompt": "x" * 20_000}, {"n": 1}, {"n": 2}, {"n": 3}]])
    bodies = pack(body.parts, 8000)
    assert all(b.size <= 8000 for b in bodies)
    assert sum(b.events for b in bodies) == 4
    assert [b.cut for b in bodies].count(1) == 1
    assert sum(b.cut for b in bodies) == 1
    cut = next(e for b in bodies for e in span_events(b) if "prompt" in e["inputs"] or "prompt" in e["metadata"])
    assert "[truncated" in json.dumps(cut)


def lone_event_of_size(sdk: Sdk, size: int) -> Body:  # noqa: F811
    """A one-event body of exactly ``size`` bytes (its one attribute padded)."""
    probe = body_of(sdk, [[{"pad": "x" * 100}]])
    body = body_of(sdk, [[{"pad": "x" * (100 + size - probe.size)}]])
    assert body.size == size
    return body


def test_a_413_halves_a_body_and_cuts_a_lone_event_over_a_kibibyte(sdk: Sdk) -> None:  # noqa: F811
    two = body_of(sdk, [[{"n": 1}, {"n": 2}]])
    halves = smaller(two)
    assert halves is not None
    assert [h.events for h in halves] == [1, 1]
    assert smaller(lone_event_of_size(sdk, 1024)) is None  # too small to be worth cutting
    large = lone_event_of_size(sdk, 6000)
    (cut,) = smaller(large) or []
    assert cut.events == 1
    assert cut.cut >= 1
    assert large.size // 3 < cut.size <= large.size // 2  # cut to half, not further
    (barely,) = smaller(lone_event_of_size(sdk, 1025)) or []
    assert barely.events == 1


def test_a_partial_success_leaves_what_was_not_stored_and_every_session_record(sdk: Sdk) -> None:  # noqa: F811
    body = body_of(sdk, [[{"n": 1}, {"n": 2}], [{"n": 3}]])
    events = span_events(body)
    ids = session_ids(body)
    first = {e["event_id"] for e in events if e["session_id"] == ids[0]}
    rest = remainder(body.wire("gzip"), "gzip", first)
    assert rest is not None
    assert [e["session_id"] for e in span_events(rest)] == [ids[1]]
    sent = json.loads(rest.payload)
    assert sorted(e["session_id"] for e in sent["events"] if e["event_type"] == "session") == sorted(ids)
    assert remainder(body.wire("identity"), "identity", {e["event_id"] for e in events}) is None


def test_the_same_body_compresses_to_the_same_bytes() -> None:
    """No timestamp in the gzip header: a body spooled and sent again is byte for byte the one first sent."""
    wire = compress(b'{"events":[]}')
    assert wire[4:8] == b"\0\0\0\0"  # MTIME
    assert gzip.decompress(wire) == b'{"events":[]}'
    assert compress(b'{"events":[]}') == wire


def test_the_fast_deflate_is_used_when_installed_and_zlib_is_the_fallback() -> None:
    """Both compressors write standard gzip that any server's gunzip reads back whole, with no timestamp; the
    tests install the ``fast`` extra, so libdeflate is the one in use."""
    assert _gzip.BACKEND == "deflate"
    assert sorted(_gzip.WRITERS) == ["deflate", "zlib"]
    body = json.dumps({"events": [{"event_id": str(i), "inputs": {"q": "é" * i}} for i in range(300)]}).encode()
    wires = {}
    for backend in ("zlib", "deflate"):
        previous = _gzip.use(backend)
        try:
            wires[backend] = wire = Body(None, body).wire("gzip")
        finally:
            _gzip.use(previous)
        assert wire[:3] == b"\x1f\x8b\x08"  # gzip, deflate
        assert wire[4:8] == b"\0\0\0\0"  # no timestamp
        assert gzip.decompress(wire) == body
        assert len(wire) < len(body) / 5
    assert wires["zlib"] != wires["deflate"]  # two implementations, truly
    with pytest.raises(ValueError, match="installed: deflate, zlib"):
        _gzip.use("brotli")


def test_without_the_extra_zlib_compresses() -> None:
    """An install without ``deflate`` (here: a fresh interpreter where importing it fails) sends zlib's gzip."""
    script = """
import sys
sys.modules["deflate"] = None  # what an install without the fast extra looks like to an import
from spanhive import _gzip
from spanhive._pipeline.pack import Body
assert _gzip.BACKEND == "zlib" and list(_gzip.WRITERS) == ["zlib"]
sys.stdout.buffer.write(Body(None, b'{"events":[]}').wire("gzip"))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert gzip.decompress(done.stdout) == b'{"events":[]}'
