"""Property-based: thousands of random attribute maps and span shapes, through a real SDK provider.

For every one, the mapper must not raise, must produce records that pass the JSON schemas in
``tests/schemas/`` and strict JSON, and must lose no attribute: each is consumed by a rule or kept in
``metadata``, and keys of no convention are never consumed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from unittest.mock import ANY

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from spanhive._pipeline import privacy
from spanhive._pipeline.assemble import whole_sessions
from spanhive._pipeline.encode import to_json
from spanhive.mapping import Defaults
from spanhive.mapping._span import map_span_traced

SCHEMAS = Path(__file__).parent / "schemas"
EVENT_SCHEMA = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "event.schema.json").read_text()))
SESSION_SCHEMA = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "session.schema.json").read_text()))
FOREIGN = "zz"  # a namespace no convention reads

EXACT_KEYS = [
    "session.id", "user.id", "honeyhive.session_id", "honeyhive_session_id", "gen_ai.conversation.id",
    "honeyhive_event_type", "honeyhive_event_name", "honeyhive_event_id", "honeyhive_error", "honeyhive.project",
    "honeyhive.source", "honeyhive_inputs", "honeyhive_outputs", "gen_ai.operation.name", "gen_ai.provider.name",
    "gen_ai.system", "gen_ai.request.model", "gen_ai.request.temperature", "gen_ai.response.model",
    "gen_ai.response.finish_reasons", "gen_ai.input.messages", "gen_ai.output.messages",
    "gen_ai.system_instructions", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens", "gen_ai.tool.name", "gen_ai.tool.call.id", "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result", "gen_ai.tool.definitions", "gen_ai.evaluation.name", "gen_ai.evaluation.score.value",
    "gen_ai.retrieval.documents", "gen_ai.prompt", "gen_ai.completion", "error.type", "openinference.span.kind",
    "input.value", "input.mime_type", "output.value", "output.mime_type", "llm.model_name",
    "llm.invocation_parameters", "llm.token_count.prompt", "llm.token_count.total", "llm.cost.total", "llm.provider",
    "llm.prompt_template.variables", "llm.finish_reason", "metadata", "tag.tags", "tool.name", "tool.parameters",
    "reranker.query", "embedding.model_name", "traceloop.span.kind", "traceloop.entity.input",
    "traceloop.entity.output", "traceloop.entity.name", "traceloop.workflow.name", "llm.request.type",
    "llm.usage.total_tokens", "llm.top_k", "langfuse.observation.type", "langfuse.observation.input",
    "langfuse.observation.output", "langfuse.observation.model.parameters", "langfuse.observation.usage_details",
    "langfuse.observation.level", "langfuse.observation.status_message", "langfuse.trace.name",
    "langfuse.trace.input", "langfuse.trace.tags", "langfuse.environment", "logfire.msg", "logfire.tags",
    "logfire.span_type", "langsmith.span.kind", "langsmith.span.tags", "langsmith.metadata.thread_id",
    "pydantic_ai.all_messages", "final_result", "operation.cost", "gen_ai.is_streaming",
    "gen_ai.usage.cache_write.input_tokens", "gen_ai.response.time_to_first_chunk", "anthropic.message.stop_reason",
    "gen_ai.usage.reasoning.output_tokens", "llm.token_count.completion", "llm.token_count.prompt_details.cache_read",
]  # fmt: skip
PREFIX_TEMPLATES = [
    "honeyhive_inputs.{a}", "honeyhive_inputs.{a}.{i}.{b}", "honeyhive_outputs.{a}", "honeyhive_config.{a}",
    "honeyhive_metadata.{a}", "honeyhive_metrics.{a}", "honeyhive_feedback.{a}", "honeyhive_user_properties.{a}",
    "honeyhive.inputs.{a}", "honeyhive_inputs._params_.{a}", "honeyhive_prompt_template.inputs.{a}",
    "llm.input_messages.{i}.message.role", "llm.input_messages.{i}.message.content",
    "llm.input_messages.{i}.message.contents.{j}.message_content.type",
    "llm.input_messages.{i}.message.tool_calls.{j}.tool_call.function.name",
    "llm.output_messages.{i}.message.content", "llm.tools.{i}.tool.json_schema", "llm.prompts.{i}.prompt.text",
    "gen_ai.prompt.{i}.role", "gen_ai.prompt.{i}.content", "gen_ai.prompt.{i}.tool_calls.{j}.name",
    "gen_ai.completion.{i}.content", "gen_ai.request.{a}", "llm.request.functions.{i}.{a}",
    "retrieval.documents.{i}.document.content", "retrieval.documents.{i}.document.metadata",
    "reranker.input_documents.{i}.document.id", "embedding.embeddings.{i}.embedding.vector",
    "embedding.embeddings.{i}.embedding.text", "annotations.{i}.annotation.{b}",
    "session.evaluations.{i}.evaluation.{b}", "traceloop.association.properties.{a}",
    "traceloop.prompt.template_variables.{a}", "langfuse.observation.metadata.{a}", "langsmith.metadata.{a}",
    FOREIGN + ".{a}", FOREIGN + ".{a}.{i}",
]  # fmt: skip

words = st.sampled_from(["a", "b", "role", "content", "name", "score", "0", "1", "x.y", "", "api_key"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**12) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(words, inner, max_size=4),
    max_leaves=12,
)
texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "{}", "[]", "null", "{", "[[", "pending_span", "LLM", "chat", "tool", "ERROR", "model"]),
    st.sampled_from(["gpt-4o-mini", "claude-sonnet-4-5", "openai", "anthropic"]),  # models with a known price
    st.sampled_from(  # inline data: a data URL, a bare run, one in a JSON part, a run of letters alone
        [
            "data:image/png;base64," + "iVBORw0K" * 1100,
            "Q2Fy+/" * 1400 + "==",
            json.dumps(
                [{"role": "user", "parts": [{"type": "blob", "mime_type": "image/png", "content": "A1" * 4200}]}]
            ),
            "x" * 9000,
        ]
    ),
    st.sampled_from(  # LangChain's serialized messages, whole and broken, and Traceloop's wrapper of them
        [
            '{"messages": [{"type": "ai", "data": {"content": 1, "tool_calls": [{"args": null}, 3]}}]}',
            '{"messages": [{"type": "chat", "data": {"role": 7}}, {"role": "user", "content": null}]}',
            '{"inputs": {"messages": [{"lc": 1, "id": [], "kwargs": {"content": []}}]}, "tags": null}',
            '{"outputs": {"type": "tool", "content": {"x": 1}}, "kwargs": {"name": "g"}}',
            '[{"role": "assistant", "parts": [{"type": "tool_call", "arguments": {"a": 1}}]}]',
        ]
    ),
    json_values.map(json.dumps),
    st.just("\ud800 lone surrogate"),
)
primitives = st.one_of(
    texts,
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
)
values = st.one_of(
    primitives,
    st.lists(st.text(max_size=10), max_size=4).map(tuple),
    st.lists(st.integers(-5, 5), max_size=4).map(tuple),
    st.lists(st.floats(-1, 1), min_size=1, max_size=4).map(tuple),
)
template_keys = st.builds(
    lambda template, a, b, i, j: template.format(a=a, b=b, i=i, j=j),
    st.sampled_from(PREFIX_TEMPLATES),
    st.sampled_from(["q", "role", "content", "model", "name", "0", "token", "score", "label", "annotator_kind"]),
    st.sampled_from(["name", "score", "label", "explanation", "annotator_kind", "role"]),
    st.integers(0, 3),
    st.integers(0, 2),
)
keys = st.one_of(st.sampled_from(EXACT_KEYS), template_keys)
attribute_maps = st.dictionaries(keys, values, max_size=25)
model_calls = st.builds(  # a model call whose price is known, its counts anything, with random attributes
    lambda model, provider, prompt, completion, cached, others: {
        **others, "gen_ai.request.model": model, "gen_ai.provider.name": provider,
        "gen_ai.usage.input_tokens": prompt, "gen_ai.usage.output_tokens": completion,
        "gen_ai.usage.cache_read.input_tokens": cached,
    },
    st.sampled_from(["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-pro", "deepseek-chat", "no-such-model"]),
    st.sampled_from(["openai", "anthropic", "gcp.gemini", "", "x"]),
    primitives, primitives, primitives, attribute_maps,
)  # fmt: skip
span_events = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "exception",
                "gen_ai.choice",
                "gen_ai.user.message",
                "gen_ai.content.prompt",
                "gen_ai.evaluation.result",
                "log",
            ]
        ),
        st.dictionaries(
            st.sampled_from(
                [
                    "exception.type",
                    "exception.message",
                    "content",
                    "message",
                    "index",
                    "gen_ai.prompt",
                    "gen_ai.evaluation.name",
                    "gen_ai.evaluation.score.value",
                    "finish_reason",
                ]
            ),
            primitives,
            max_size=4,
        ),
    ),
    max_size=3,
)
statuses = st.sampled_from([None, Status(StatusCode.OK), Status(StatusCode.ERROR), Status(StatusCode.ERROR, "bad")])


@pytest.fixture(scope="module")
def sdk() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield provider, memory
    provider.shutdown()


def _same(kept: Any, sent: Any) -> bool:
    sent = list(sent) if isinstance(sent, tuple) else sent
    if isinstance(sent, float) and math.isnan(sent):
        return isinstance(kept, float) and math.isnan(kept)
    if isinstance(sent, list):
        return isinstance(kept, list) and len(kept) == len(sent) and all(map(_same, kept, sent))
    return bool(kept == sent)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    attributes=attribute_maps | model_calls,
    child=attribute_maps,
    events=span_events,
    status=statuses,
    nested=st.booleans(),
)
def test_random_spans_map_to_valid_records_and_lose_nothing(  # noqa: PLR0917 - one argument per strategy
    sdk: tuple[TracerProvider, InMemorySpanExporter],
    attributes: dict[str, Any],
    child: dict[str, Any],
    events: list[tuple[str, dict[str, Any]]],
    status: Any,
    nested: bool,
) -> None:
    provider, memory = sdk
    memory.clear()
    tracer = provider.get_tracer("property")
    with tracer.start_as_current_span("root", attributes=attributes) as root:
        for name, event_attributes in events:
            root.add_event(name, event_attributes)
        if status is not None:
            root.set_status(status)
        if nested:
            with tracer.start_as_current_span("child", attributes=child):
                pass
    spans = memory.get_finished_spans()
    defaults = Defaults(max_value_chars=64)
    traced = [map_span_traced(span, defaults) for span in spans]
    for span, result in zip(spans, traced, strict=True):
        if result is None:
            assert (span.attributes or {}).get("logfire.span_type") == "pending_span"
            continue
        event, _, attrs = result
        metadata = event["metadata"]
        for key, value in (span.attributes or {}).items():
            if key in attrs.used:
                assert not key.startswith(FOREIGN + "."), f"{key} belongs to no convention but was consumed"
                continue
            kept = metadata[key] if key in metadata else metadata.get("span_attributes", {}).get(key, KeyError)
            if not (isinstance(value, str) and len(value) > 64):  # long strings are cut, on purpose
                assert _same(kept, value), f"attribute {key!r} lost: {value!r} -> {kept!r}"
        decoded = json.loads(to_json(event), parse_constant=_reject)
        EVENT_SCHEMA.validate(decoded)
    groups = whole_sessions([(r[0], r[1]) if r else None for r in traced], defaults)
    for group in groups:
        SESSION_SCHEMA.validate(json.loads(to_json(group.properties), parse_constant=_reject))


def _reject(constant: str) -> None:
    raise AssertionError(f"non-standard JSON constant {constant}")


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attributes=attribute_maps | model_calls)
def test_conventions_skipped_for_a_key_layout_would_have_added_nothing(
    sdk: tuple[TracerProvider, InMemorySpanExporter], attributes: dict[str, Any]
) -> None:
    """A span without span events runs only the conventions whose namespaces its keys touch; a span with one
    runs them all. The same span both ways must map to the same record (the event itself aside)."""
    provider, memory = sdk
    memory.clear()
    with provider.get_tracer("property").start_as_current_span("s", attributes=attributes) as span:
        span.add_event("log")
    (with_event,) = memory.get_finished_spans()
    without = ReadableSpan(
        name=with_event.name,
        context=with_event.context,
        parent=with_event.parent,
        resource=with_event.resource,
        attributes=with_event.attributes,
        events=(),
        kind=with_event.kind,
        status=with_event.status,
        start_time=with_event.start_time,
        end_time=with_event.end_time,
        instrumentation_scope=with_event.instrumentation_scope,
    )
    defaults = Defaults(max_value_chars=64)
    every, gated = map_span_traced(with_event, defaults), map_span_traced(without, defaults)
    if every is None or gated is None:
        assert every is None
        assert gated is None
        return
    records = [cast("dict[str, Any]", every[0]), cast("dict[str, Any]", gated[0])]
    for record in records:
        privacy.redact_record(record)
    assert records[0]["metadata"].pop("events") == [{"name": "log", "time": ANY, "attributes": {}}]
    assert json.loads(to_json(records[1])) == json.loads(to_json(records[0]))
