"""The pipeline's streamed encoding against the whole records it stands for.

The streamed path maps, assembles, redacts and encodes record by record, splicing pieces of JSON together;
the reference is the straightforward one: whole records grouped by ``whole_sessions``, redacted, put in a
body by this file's own :func:`batch_body` and encoded in one go. Both must decode to the same body, for
random spans too, and every split of a body must carry the same events, each part within the size limit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext

from spanhive import _build, _json
from spanhive._pipeline import prepare, privacy
from spanhive._pipeline.assemble import SessionGroup, extent, resolve_trace, session_event, whole_sessions
from spanhive._pipeline.encode import to_json
from spanhive._pipeline.hold import by_trace
from spanhive._pipeline.pack import Body, decode, halves, split
from spanhive.mapping import Defaults, map_span, map_span_safely
from tests.test_mapping_properties import attribute_maps, sdk  # noqa: F401 - ``sdk`` is a fixture

DEFAULTS = Defaults(max_value_chars=64)


@pytest.fixture(params=["orjson", "json"])
def json_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each encoder in turn: orjson (the ``fast`` extra, which the tests install) and the standard library."""
    previous = _json.use(request.param)
    yield request.param
    _json.use(previous)


def batch_body(groups: list[SessionGroup]) -> dict[str, Any]:
    """The request body for grouped records, as records (the wire format of docs/delivery.md, written out plainly)."""
    if len(groups) == 1:
        group = groups[0]
        (start, _), _ = extent(group.events, group.properties["session_id"])
        props = {**group.properties, "start_time": start} if start else group.properties
        return {"events": group.events, "single_session": True, "session_properties": props}
    events: list[Any] = []
    for group in groups:
        (start, end), roots = extent(group.events, group.properties["session_id"])
        events.append(session_event(group.properties, group.project, start, end, roots))
        events.extend(group.events)
    return {"events": events, "single_session": False}


def reference(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """The body as records: each trace's records in its session (resolve_trace), grouped whole, redacted."""
    mapped = []
    for trace in by_trace(spans):
        records = [pair for pair in (map_span_safely(span, DEFAULTS) for span in trace.spans) if pair is not None]
        resolve_trace(records, None)
        mapped += records
    groups = whole_sessions(mapped, DEFAULTS)
    for group in groups:
        for record in [*group.events, group.properties]:
            privacy.redact_record(record)  # type: ignore[arg-type]
    decoded: dict[str, Any] = json.loads(to_json(batch_body(groups)))
    return decoded


NO_LIMIT = 1 << 40


def encoded(spans: Sequence[ReadableSpan]) -> Body:
    (body,) = prepare(spans, DEFAULTS, NO_LIMIT).bodies
    return body


def by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {event["event_id"]: event for event in events}


def make_spans(provider: TracerProvider, memory: InMemorySpanExporter, traces: list[list[dict[str, Any]]]) -> Any:
    memory.clear()
    tracer = provider.get_tracer("encode")
    for spans in traces:
        with tracer.start_as_current_span("root", attributes=spans[0]):
            for attributes in spans[1:]:
                with tracer.start_as_current_span("child", attributes=attributes):
                    pass
    return memory.get_finished_spans()


def test_sessions_roots_stated_fields_and_secrets(
    sdk: tuple[TracerProvider, InMemorySpanExporter],  # noqa: F811
    json_backend: str,
) -> None:
    root = {"session.id": "s-1", "input.value": "question", "output.value": "answer", "user.id": "u1"}
    stated = {"session.id": "s-1", "spanhive.session.outputs": '{"final": "stated"}'}
    secret = {"session.id": "s-2", "honeyhive_inputs.api_key": "sk-1", "honeyhive_inputs.q": "x"}
    spans = make_spans(*sdk, [[root, stated, {"session.id": "s-1"}], [secret], [{}, {}]])
    body = json.loads(encoded(spans).payload)
    assert body == reference(spans)
    assert body["single_session"] is False
    sessions = {e["session_id"]: e for e in body["events"] if e["event_type"] == "session"}
    assert len(sessions) == 3
    first = next(s for s in sessions.values() if s["user_properties"] == {"user_id": "u1"})
    assert first["inputs"] == {"input": "question"}
    assert first["outputs"] == {"final": "stated"}
    assert b"sk-1" not in encoded(spans).payload


def test_one_session_goes_as_a_single_session_body(sdk: tuple[TracerProvider, InMemorySpanExporter]) -> None:  # noqa: F811
    spans = make_spans(*sdk, [[{"input.value": "q"}, {"output.value": "a"}, {}]])
    body = json.loads(encoded(spans).payload)
    assert body["single_session"] is True
    assert body["session_properties"]["inputs"] == {"input": "q"}
    assert body == reference(spans)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    traces=st.lists(st.lists(attribute_maps, min_size=1, max_size=4), min_size=1, max_size=4),
    limit=st.integers(1, 6000),
)
def test_random_batches_encode_as_the_records_do_and_split_without_loss(
    sdk: tuple[TracerProvider, InMemorySpanExporter],  # noqa: F811
    json_backend: str,
    traces: list[list[dict[str, Any]]],
    limit: int,
) -> None:
    spans = make_spans(*sdk, traces)
    if all(map_span_safely(span, DEFAULTS) is None for span in spans):  # only spans mapping skips (Logfire's
        assert prepare(spans, DEFAULTS, NO_LIMIT).bodies == []  # pending ones): nothing to send
        return
    body = encoded(spans)
    expected = reference(spans)
    assert json.loads(body.payload) == expected
    parts = split(body, limit)
    if parts is None:
        assert body.events == 1
        return
    events: list[dict[str, Any]] = []
    for part in parts:
        decoded = json.loads(part.payload)
        assert len(part.payload) <= limit or part.events == 1 or split(part, limit) is not None
        events.extend(e for e in decoded["events"] if e["event_type"] != "session" or e["event_id"] != e["session_id"])
    wanted = [e for e in expected["events"] if e["event_type"] != "session" or e["event_id"] != e["session_id"]]
    assert by_id(events) == by_id(wanted)
    assert len(events) == len(wanted) == sum(part.events for part in parts)


def test_spans_of_no_convention_are_redacted_too(sdk: tuple[TracerProvider, InMemorySpanExporter]) -> None:  # noqa: F811
    secrets = {"http.request.header.authorization": ("Bearer sk-9",), "db.user": "app", "oauth.client_secret": "s3"}
    spans = make_spans(*sdk, [[secrets, {"url.path": "/x"}]])
    result = prepare(spans, DEFAULTS, NO_LIMIT)
    (packed,) = result.bodies
    assert b"sk-9" not in packed.payload
    assert b"s3" not in packed.payload
    assert result.redacted == 2
    body = json.loads(packed.payload)
    assert body == reference(spans)
    assert body["events"][1]["metadata"]["db.user"] == "app"


def test_a_body_knows_its_size_before_it_is_joined(sdk: tuple[TracerProvider, InMemorySpanExporter]) -> None:  # noqa: F811
    spans = make_spans(*sdk, [[{"input.value": "é" * 50}, {}], [{}], [{"output.value": "ü"}]])
    body = encoded(spans)
    size = body.size
    assert size == len(body.payload) > 0
    (single,) = encoded(spans[:2]).parts
    assert Body([single]).size == len(Body([single]).payload)


def test_values_the_encoders_write_differently_come_out_the_same(
    sdk: tuple[TracerProvider, InMemorySpanExporter],  # noqa: F811
    json_backend: str,
) -> None:
    """NaN and infinities (sent, or inside JSON text), integers past 64 bits and unpaired surrogates: orjson
    would write ``null``, lose precision or refuse; the body is the same whichever encoder is installed."""
    big = 123456789012345678901234567890
    odd = [
        {"score": float("nan")},
        {"llm.invocation_parameters": '{"t": NaN, "u": -1e400}'},
        {"llm.invocation_parameters": json.dumps({"n": big})},
        {"count": 2**70},
        {"text": "a \ud800 b"},
    ]
    spans = make_spans(
        *sdk, [[attributes] for attributes in odd] + [[{"tiny": 1e-05, "huge": 1e16, "name": "naïve ☃"}]]
    )
    assert [map_span(span, DEFAULTS)[1].primitive for span in spans] == [False, True, True, True, True, True]  # type: ignore[index]
    body = json.loads(encoded(spans).payload)
    assert body == reference(spans)
    metadata = {key: value for event in body["events"] for key, value in event["metadata"].items()}
    assert metadata["score"] == "nan"
    assert metadata["count"] == 2**70
    assert metadata["text"].startswith("a ")
    configs = [event["config"] for event in body["events"] if event["config"]]
    assert configs == [{"t": "nan", "u": "-inf"}, {"n": big}]
    assert (metadata["tiny"], metadata["huge"], metadata["name"]) == (1e-05, 1e16, "naïve ☃")


_TRICKY_JSON = [
    '{"n": 123456789012345678901234567890}', "[-9223372036854775809, 18446744073709551615]", "[1e19, -1e300, 5e-324]",
    '{"t": NaN, "u": -Infinity, "v": 1e400}', '["\\ud800 lone"]', "[" * 3000 + "]" * 3000, "[-0.0, -0, 1.0, 1E2]",
    '{"a": 1, "b": 2, "a": 3}', '"\\u0000 \\/ é ☃ 😀"', "[1,]", "\ufeff[1]", "{'a': 1}", "", "  7  ", "null", "1 2",
]  # fmt: skip


def _parsed(text: str, loads: Callable[[str], Any] = _json.loads) -> str:
    try:
        return repr(loads(text))  # repr: 1 and 1.0, -0.0 and 0.0 told apart
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    )
)
def test_parsing_gives_the_standard_librarys_result_whichever_parser_runs(value: Any) -> None:
    """orjson parses first where installed; whatever it would read differently (integers past 64 bits, NaN,
    ``1e400``, lone surrogates, deep nesting) must still come out as the standard library reads it."""
    for text in (json.dumps(value), json.dumps(value, indent=1), *_TRICKY_JSON):
        assert _parsed(text, _json._orjson_loads) == _parsed(text, _json._decode) == _parsed(text), text


def test_orjson_parses_in_the_compiled_build() -> None:
    """Compiled, its check is cheap enough for orjson to win; interpreted, the standard library parses."""
    assert _json._orjson_parses is _build.COMPILED


def test_an_unknown_encoder_is_refused() -> None:
    with pytest.raises(ValueError, match="simplejson"):
        _json.use("simplejson")
    assert _json.BACKEND in ("json", "orjson")


def test_without_orjson_the_standard_library_encodes_everything() -> None:
    """Another interpreter than CPython, or an install without orjson (here: a fresh interpreter where importing
    it fails), still maps and encodes."""
    script = """
import sys
sys.modules["orjson"] = None  # what an install without orjson looks like to an import
from spanhive import _build, _json
assert _json.BACKEND == "json" and _json.dumps_primitive is _json.dumps
print(_json.dumps_primitive({"a": [1, 2.5, "\\u00fc"], "n": float("nan")}).decode())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"a": [1, 2.5, "ü"], "n": "nan"}


def test_a_span_of_no_convention_with_a_nested_value_is_redacted_in_depth() -> None:
    """Spans not made by the SDK (decoded ones, hand-built ones) can carry a dict as a value: redaction looks
    inside it, as it does in a plain attribute."""
    context = SpanContext(trace_id=5, span_id=7, is_remote=False)
    flat = ReadableSpan(name="flat", context=context, attributes={"db.password": "p1", "db.name": "x"})
    nested = ReadableSpan(
        name="nested",
        context=SpanContext(5, 8, False),
        attributes={"payload": {"token": "t1"}},  # type: ignore[dict-item]
    )
    result = prepare([flat, nested], DEFAULTS, NO_LIMIT)
    (body,) = result.bodies
    assert b"p1" not in body.payload
    assert b"t1" not in body.payload
    assert result.redacted == 2


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_a_spooled_body_decodes_to_the_same_records_and_halves_without_loss(
    sdk: tuple[TracerProvider, InMemorySpanExporter],  # noqa: F811
    encoding: str,
) -> None:
    """What replay does after a ``413``: the wire bytes back into parts (a coalesced body's session events
    kept apart from its span events), the same JSON again, and halves that carry every event once."""
    traces = [[{"session.id": "s-1", "input.value": "q"}, {}], [{"session.id": "s-2"}, {}, {}], [{}]]
    for spans in (make_spans(*sdk, traces), make_spans(*sdk, traces[:1])):
        body = encoded(spans)
        decoded = decode(body.wire(encoding), encoding)
        assert json.loads(decoded.payload) == json.loads(body.payload)
        assert decoded.events == body.events
        rebuilt = Body(decoded.parts)  # joined again from the decoded parts, not from the cached bytes
        assert json.loads(rebuilt.payload) == json.loads(body.payload)
        assert [len(p.events) for p in rebuilt.parts] == [len(p.events) for p in body.parts]
        single = json.loads(body.payload)["single_session"]
        assert [p.properties is not None for p in decoded.parts] == [single] * len(body.parts)
        wanted = sorted(e["event_id"] for e in json.loads(body.payload)["events"] if e["event_type"] != "session")
        sent = [
            e["event_id"]
            for half in halves(rebuilt) or []
            for e in json.loads(half.payload)["events"]
            if e["event_type"] != "session"
        ]
        assert sorted(sent) == wanted
