"""Conventions without a convenient producer here, on hand-built spans from a real SDK provider.

Each test names the public source of the attribute names it uses (conventions.md in the design notes cites
file and commit). The LLM instrumentations that can run here are covered by ``test_golden.py``.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Optional

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from spanhive import _ids
from spanhive._pipeline.assemble import SessionGroup, whole_sessions
from spanhive._records import Event
from spanhive.mapping import Defaults, map_span

Recorded = tuple[TracerProvider, InMemorySpanExporter]


def mapped(
    recorded: Recorded,
    attributes: dict[str, Any],
    name: str = "span",
    events: Optional[list[tuple[str, dict[str, Any]]]] = None,
    status: Optional[Status] = None,
) -> Event:
    return group(recorded, attributes, name, events, status).events[0]


def group(
    recorded: Recorded,
    attributes: dict[str, Any],
    name: str = "span",
    events: Optional[list[tuple[str, dict[str, Any]]]] = None,
    status: Optional[Status] = None,
) -> SessionGroup:
    provider, memory = recorded
    memory.clear()
    with provider.get_tracer("t").start_as_current_span(name, attributes=attributes) as span:
        for event_name, event_attributes in events or ():
            span.add_event(event_name, event_attributes)
        if status is not None:
            span.set_status(status)
    pairs = [map_span(s, Defaults()) for s in memory.get_finished_spans()]
    (only,) = whole_sessions(pairs, Defaults())
    return only


# --- HoneyHive (honeyhiveai/python-sdk: span_utils.py, decorators.py, custom.py, event_type.py) ----------


def test_honeyhive_decorator_mixes_primitive_and_json_leaves(recorded: Recorded) -> None:
    """decorators.py: primitives as is, dict/list arguments as JSON strings; explicit ``tool`` is final."""
    event = mapped(
        recorded,
        {
            "honeyhive_event_type": "tool",
            "honeyhive_inputs.city": "Paris",
            "honeyhive_inputs.options": '{"units": "metric", "days": [1, 2]}',
            "honeyhive_outputs.result": "sunny",
            "honeyhive_error_type": "ValueError",
        },
        name="chat_weather_tool",  # a name HoneyHive's heuristics would re-type as a model
    )
    assert event["event_type"] == "tool"
    assert event["inputs"] == {"city": "Paris", "options": {"units": "metric", "days": [1, 2]}}
    assert event["outputs"] == {"result": "sunny"}
    assert event["metadata"]["honeyhive_error_type"] == "ValueError"


def test_honeyhive_legacy_forms(recorded: Recorded) -> None:
    """Pre-1.0 custom.py / typescript tracer.ts: ``_params_``, ``honeyhive_prompt_template``, ``_raw`` copies."""
    event = mapped(
        recorded,
        {
            "honeyhive_inputs._params_.question": "why?",
            "honeyhive_prompt_template.template": "Answer {{question}}",
            "honeyhive_prompt_template.inputs.question": "why?",
            "honeyhive_outputs_raw.answer": "because",
            "honeyhive_event_type_raw": "model",
            "honeyhive.session_auto_create": True,
        },
    )
    assert event["inputs"] == {"question": "why?"}
    assert event["config"]["template"] == "Answer {{question}}"
    assert event["outputs"] == {"answer": "because"}
    assert event["event_type"] == "model"
    assert "honeyhive.session_auto_create" not in event["metadata"]


def test_honeyhive_dot_buckets_are_accepted_below_the_underscore_ones(recorded: Recorded) -> None:
    """conventions §9.8: HoneyHive's backend only routes ``honeyhive_inputs.*``; we also read the dot form."""
    event = mapped(recorded, {"honeyhive.inputs.q": "dot", "honeyhive.config.model": "m"})
    assert (event["inputs"], event["config"]) == ({"q": "dot"}, {"model": "m"})
    event = mapped(recorded, {"honeyhive.inputs.q": "dot", "honeyhive_inputs.q": "underscore"})
    assert event["inputs"] == {"q": "underscore"}
    assert event["metadata"]["honeyhive.inputs.q"] == "dot"


# --- OpenLLMetry / Traceloop before 0.55 (chat_wrappers.py at 0b30e2de6^, semconv_ai, traceloop-sdk) ----


def test_openllmetry_indexed_messages_with_tool_calls_and_filtered_content(recorded: Recorded) -> None:
    event = mapped(
        recorded,
        {
            "llm.request.type": "chat",
            "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "gpt-4",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "Weather?",
            "gen_ai.prompt.1.role": "assistant",
            "gen_ai.prompt.1.tool_calls.0.id": "c1",
            "gen_ai.prompt.1.tool_calls.0.name": "weather",
            "gen_ai.prompt.1.tool_calls.0.arguments": '{"city": "Oslo"}',
            "gen_ai.prompt.2.role": "tool",
            "gen_ai.prompt.2.tool_call_id": "c1",
            "gen_ai.prompt.2.content": "rain",
            "gen_ai.prompt.prompt_filter_results": '[{"prompt_index": 0}]',
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "FILTERED",
            "gen_ai.completion.0.finish_reason": "content_filter",
            "gen_ai.usage.prompt_tokens": 10,
            "gen_ai.usage.completion_tokens": 0,
            "llm.usage.total_tokens": 10,
            "gen_ai.usage.cache_read_input_tokens": 3,
            "llm.top_k": 5,
            "llm.request.functions.0.name": "weather",
            "llm.request.functions.0.parameters": '{"type": "object"}',
        },
    )
    assert event["event_type"] == "model"
    assert event["inputs"]["chat_history"] == [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "content": "rain", "tool_call_id": "c1"},
    ]
    assert event["outputs"] == {"role": "assistant", "content": "FILTERED", "finish_reason": "content_filter"}
    assert event["config"] == {
        "model": "gpt-4",
        "provider": "OpenAI",
        "top_k": 5,
        "tools": [{"name": "weather", "parameters": {"type": "object"}}],
    }
    meta = event["metadata"]
    assert (meta["prompt_tokens"], meta["completion_tokens"], meta["total_tokens"]) == (10, 0, 10)
    assert meta["cache_read_input_tokens"] == 3
    assert meta["gen_ai.prompt.prompt_filter_results"] == '[{"prompt_index": 0}]'  # not a message: kept
    assert meta["span_kind"] == "chat"


def test_traceloop_streaming_flag_is_config_stream(recorded: Recorded) -> None:
    """Traceloop's instrumentations write ``gen_ai.is_streaming`` now (``llm.is_streaming`` before)."""
    for key in ("gen_ai.is_streaming", "llm.is_streaming"):
        event = mapped(recorded, {"gen_ai.system": "Anthropic", "gen_ai.request.model": "claude-x", key: True})
        assert event["config"]["stream"] is True
        assert key not in event["metadata"]


def test_newer_usage_names_land_next_to_the_other_counts(recorded: Recorded) -> None:
    event = mapped(
        recorded,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 4,
            "gen_ai.usage.cache_write.input_tokens": 6,
            "gen_ai.usage.reasoning.output_tokens": 2,
            "operation.cost": 0.0021,  # pydantic-ai's
            "gen_ai.response.time_to_first_chunk": 0.25,
        },
    )
    meta = event["metadata"]
    assert (meta["cache_creation_input_tokens"], meta["reasoning_tokens"], meta["cost"]) == (6, 2, 0.0021)
    assert meta["time_to_first_chunk"] == 0.25
    assert not {"gen_ai.usage.cache_write.input_tokens", "operation.cost"} & set(meta)


def test_an_empty_message_list_never_beats_the_input_value(recorded: Recorded) -> None:
    """A LangGraph root under OpenInference: the question in ``input.value``, and a user message with no
    content."""
    event = mapped(
        recorded,
        {
            "openinference.span.kind": "CHAIN",
            "input.value": '{"messages": [["user", "What is 2 + 2?"]]}',
            "input.mime_type": "application/json",
            "llm.input_messages.0.message.role": "user",
            "output.value": "4",
        },
        name="LangGraph",
    )
    assert "chat_history" not in event["inputs"]
    assert event["inputs"] == {"messages": [["user", "What is 2 + 2?"]]}
    assert event["metadata"]["llm.input_messages.0.message.role"] == "user"  # kept as sent, not lost
    spoken = mapped(recorded, {"openinference.span.kind": "LLM", "llm.input_messages.0.message.role": "user",
                               "llm.input_messages.0.message.content": "hi"})  # fmt: skip
    assert spoken["inputs"] == {"chat_history": [{"role": "user", "content": "hi"}]}


def test_pydantic_ai_agent_run_gets_its_conversation_and_answer(recorded: Recorded) -> None:
    """The run's span as pydantic-ai writes it: token counts beside the messages, which alone would say a model
    call."""
    messages = [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "weather",
                                          "arguments": {"city": "Paris"}}]},
        {"role": "user", "parts": [{"type": "tool_call_response", "id": "c1", "name": "weather",
                                     "result": "sunny"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "Sunny."}]},
    ]  # fmt: skip
    grouped = group(
        recorded,
        {
            "gen_ai.agent.name": "agent",
            "model_name": "gpt-4o",
            "gen_ai.usage.input_tokens": 30,
            "gen_ai.usage.output_tokens": 5,
            "pydantic_ai.all_messages": json.dumps(messages),
            "final_result": "Sunny.",
        },
        name="invoke_agent agent",
    )
    event = grouped.events[0]
    assert event["event_type"] == "chain"
    assert event["outputs"] == {"role": "assistant", "content": "Sunny."}
    history = event["inputs"]["chat_history"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]  # the answer is the outputs
    assert history[2]["tool_calls"][0]["function"]["name"] == "weather"
    assert not {"pydantic_ai.all_messages", "final_result"} & set(event["metadata"])
    assert grouped.properties["outputs"] == event["outputs"]  # the run is the session's top event
    structured = mapped(recorded, {"final_result": '{"city": "Paris", "sky": "sunny"}'})
    assert structured["outputs"] == {"city": "Paris", "sky": "sunny"}


def test_an_anthropic_tool_use_block_is_a_tool_call_once(recorded: Recorded) -> None:
    """openinference-instrumentation-anthropic writes the block's call beside its part; with no
    ``message.tool_calls`` the call is still found."""
    prefix = "llm.output_messages.0.message"
    event = mapped(
        recorded,
        {
            "openinference.span.kind": "LLM",
            f"{prefix}.role": "assistant",
            f"{prefix}.contents.0.message_content.type": "text",
            f"{prefix}.contents.0.message_content.text": "Let me check.",
            f"{prefix}.contents.1.message_content.type": "tool_use",
            f"{prefix}.contents.1.tool_call.id": "toolu_1",
            f"{prefix}.contents.1.tool_call.function.name": "get_weather",
            f"{prefix}.contents.1.tool_call.function.arguments": '{"city": "Paris"}',
        },
    )
    outputs = event["outputs"]
    assert outputs["content"] == "Let me check."
    assert [(c["id"], c["function"]["name"]) for c in outputs["tool_calls"]] == [("toolu_1", "get_weather")]


def test_traceloop_sdk_entities_associations_and_prompts(recorded: Recorded) -> None:
    """traceloop-sdk decorators/base.py (entity I/O as ``{"args", "kwargs"}``), associations.py, tracing.py."""
    grouped = group(
        recorded,
        {
            "traceloop.span.kind": "tool",
            "traceloop.entity.name": "lookup_order",
            "traceloop.entity.input": '{"args": [42], "kwargs": {"verbose": true}}',
            "traceloop.entity.output": '"shipped"',
            "traceloop.workflow.name": "support_flow",
            "traceloop.association.properties.session_id": "conv-9",
            "traceloop.association.properties.user_id": "u-9",
            "traceloop.association.properties.customer_id": "acme",
            "traceloop.association.properties.region": "eu",
            "traceloop.prompt.key": "lookup",
            "traceloop.prompt.version": 3,
            "traceloop.prompt.template_variables.order": "42",
        },
        name="lookup_order.tool",
    )
    event = grouped.events[0]
    assert event["event_type"] == "tool"
    assert event["inputs"] == {"verbose": True, "args": [42], "order": "42"}
    assert event["outputs"] == {"result": "shipped"}
    assert event["config"] == {"tool_name": "lookup_order", "prompt_name": "lookup", "prompt_version": 3}
    assert event["user_properties"] == {"user_id": "u-9", "customer_id": "acme"}
    assert event["metadata"]["region"] == "eu"
    assert event["session_id"] == _ids.session_id_for("conv-9")[0]
    assert grouped.properties["session_name"] == "support_flow"


# --- OTel GenAI (semantic-conventions model/gen-ai/*.yaml, gen-ai-{input,output}-messages.json) -----------


def test_genai_parts_system_instructions_and_several_choices(recorded: Recorded) -> None:
    event = mapped(
        recorded,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-x",
            "gen_ai.request.choice.count": 2,
            "gen_ai.request.stop_sequences": ("END",),
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be kind."}]),
            "gen_ai.input.messages": json.dumps(
                [
                    {
                        "role": "user",
                        "parts": [
                            {"type": "text", "content": "What is this?"},
                            {"type": "uri", "modality": "image", "uri": "https://x/cat.png"},
                        ],
                    },
                    {
                        "role": "assistant",
                        "parts": [{"type": "tool_call", "id": "t1", "name": "vision", "arguments": {"q": 1}}],
                    },
                    {
                        "role": "tool",
                        "parts": [{"type": "tool_call_response", "id": "t1", "result": {"label": "cat"}}],
                    },
                    {"role": "tool", "parts": [{"type": "tool_call_response", "id": "t2", "response": "ok"}]},
                ]
            ),
            "gen_ai.output.messages": json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [
                            {"type": "reasoning", "content": "hmm"},
                            {"type": "text", "content": "A cat."},
                        ],
                        "finish_reason": "stop",
                    },
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": "A kitten."}],
                        "finish_reason": "stop",
                    },
                ]
            ),
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 20,
            "gen_ai.usage.cache_creation.input_tokens": 50,
            "gen_ai.usage.reasoning.output_tokens": 7,
        },
    )
    history = event["inputs"]["chat_history"]
    assert history[0] == {"role": "system", "content": "Be kind."}
    assert history[1]["content"] == [
        {"type": "text", "content": "What is this?"},
        {"type": "uri", "modality": "image", "uri": "https://x/cat.png"},
    ]
    assert history[2]["tool_calls"] == [
        {"id": "t1", "type": "function", "function": {"name": "vision", "arguments": '{"q": 1}'}}
    ]
    assert history[3] == {"role": "tool", "content": '{"label": "cat"}', "tool_call_id": "t1"}
    assert history[4] == {"role": "tool", "content": "ok", "tool_call_id": "t2"}
    outputs = event["outputs"]
    assert (outputs["role"], outputs["content"], outputs["reasoning"]) == ("assistant", "A cat.", "hmm")
    assert [c["content"] for c in outputs["choices"]] == ["A cat.", "A kitten."]
    assert event["config"] == {
        "model": "claude-x",
        "provider": "anthropic",
        "n": 2,
        "stop_sequences": ["END"],
    }
    meta = event["metadata"]
    assert (meta["prompt_tokens"], meta["completion_tokens"], meta["total_tokens"]) == (100, 20, 120)
    assert (meta["cache_creation_input_tokens"], meta["reasoning_tokens"]) == (50, 7)


def test_genai_tool_and_agent_spans(recorded: Recorded) -> None:
    tool = mapped(
        recorded,
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.description": "Weather for a city",
            "gen_ai.tool.call.arguments": '{"city": "Paris"}',
            "gen_ai.tool.call.result": '"sunny"',
        },
        name="execute_tool get_weather",
    )
    assert tool["event_type"] == "tool"
    assert tool["inputs"] == {"city": "Paris"}
    assert tool["outputs"] == {"result": "sunny"}
    assert tool["config"] == {"tool_name": "get_weather", "tool_description": "Weather for a city"}
    assert tool["metadata"]["tool_call_id"] == "call_1"
    agent = mapped(recorded, {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"})
    assert agent["event_type"] == "chain"
    assert agent["metadata"]["gen_ai.agent.name"] == "planner"
    assert agent["metadata"]["span_kind"] == "invoke_agent"


def test_genai_evaluations_become_metrics(recorded: Recorded) -> None:
    """The ``gen_ai.evaluation.result`` span event and the attribute form both land in ``metrics``."""
    event = mapped(
        recorded,
        {"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.8},
        events=[
            (
                "gen_ai.evaluation.result",
                {
                    "gen_ai.evaluation.name": "faithfulness",
                    "gen_ai.evaluation.score.label": "pass",
                    "gen_ai.evaluation.explanation": "grounded",
                },
            )
        ],
    )
    assert event["metrics"] == {
        "relevance": 0.8,
        "faithfulness": "pass",
        "faithfulness_explanation": "grounded",
    }
    assert "events" not in event["metadata"]


def test_genai_deprecated_span_events(recorded: Recorded) -> None:
    """events-deprecated.yaml: per-message events and ``gen_ai.choice``; the 2024 ``gen_ai.content.*`` pair."""
    event = mapped(
        recorded,
        {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4"},
        events=[
            ("gen_ai.system.message", {"content": "Be terse."}),
            ("gen_ai.user.message", {"content": "Hi"}),
            ("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": '{"content": "Hello"}'}),
            ("cache.lookup", {"hit": False}),
        ],
    )
    assert event["inputs"]["chat_history"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
    ]
    assert event["outputs"] == {"role": "assistant", "content": "Hello", "finish_reason": "stop"}
    assert [e["name"] for e in event["metadata"]["events"]] == ["cache.lookup"]
    legacy = mapped(
        recorded,
        {},
        events=[
            ("gen_ai.content.prompt", {"gen_ai.prompt": '[{"role": "user", "content": "Hey"}]'}),
            ("gen_ai.content.completion", {"gen_ai.completion": '[{"role": "assistant", "content": "Yo"}]'}),
        ],
    )
    assert legacy["inputs"]["chat_history"] == [{"role": "user", "content": "Hey"}]
    assert legacy["outputs"] == {"role": "assistant", "content": "Yo"}


def test_error_type_without_a_description(recorded: Recorded) -> None:
    event = mapped(recorded, {"error.type": "timeout"}, status=Status(StatusCode.ERROR))
    assert event["error"] == "timeout"
    assert event["metadata"]["error_type"] == "timeout"


# --- OpenInference (openinference-semantic-conventions trace/__init__.py, spec/*.md) --------------------


def test_openinference_requested_model_wins_over_the_answered_one(recorded: Recorded) -> None:
    event = mapped(
        recorded,
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-2024-08-06",
            "llm.invocation_parameters": '{"model": "gpt-4o", "temperature": 0}',
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.contents.0.message_content.type": "text",
            "llm.input_messages.0.message.contents.0.message_content.text": "Describe",
            "llm.input_messages.0.message.contents.1.message_content.type": "image",
            "llm.input_messages.0.message.contents.1.message_content.image.image.url": "https://x/y.png",
            "llm.cost.total": 0.0042,
            "llm.prompt_template.template": "Describe {thing}",
            "llm.prompt_template.variables": '{"thing": "the image"}',
            "llm.prompt_template.version": "v2",
            "metadata": '{"tenant": "acme"}',
            "tag.tags": ("beta", "vision"),
        },
    )
    assert event["config"] == {
        "model": "gpt-4o",
        "temperature": 0,
        "template": "Describe {thing}",
        "prompt_version": "v2",
    }
    assert event["metadata"]["response_model"] == "gpt-4o-2024-08-06"
    assert event["inputs"]["thing"] == "the image"
    assert event["inputs"]["chat_history"][0]["content"] == [
        {"type": "text", "text": "Describe"},
        {"type": "image", "image": {"image": {"url": "https://x/y.png"}}},
    ]
    assert (event["metadata"]["cost"], event["metadata"]["tenant"]) == (0.0042, "acme")
    assert event["metadata"]["tags"] == ["beta", "vision"]
    only_answered = mapped(recorded, {"openinference.span.kind": "LLM", "llm.model_name": "m-2024"})
    assert only_answered["config"]["model"] == "m-2024"  # nothing said what was asked


def test_openinference_retriever_reranker_and_embedding(recorded: Recorded) -> None:
    retriever = mapped(
        recorded,
        {
            "openinference.span.kind": "RETRIEVER",
            "input.value": "refund policy",
            "retrieval.documents.0.document.id": "d1",
            "retrieval.documents.0.document.content": "Refunds take 5 days.",
            "retrieval.documents.0.document.score": 0.9,
            "retrieval.documents.0.document.metadata": '{"source": "faq"}',
        },
    )
    assert retriever["event_type"] == "tool"
    assert retriever["inputs"] == {"input": "refund policy"}
    assert retriever["outputs"] == {
        "documents": [{"id": "d1", "content": "Refunds take 5 days.", "score": 0.9, "metadata": {"source": "faq"}}]
    }
    reranker = mapped(
        recorded,
        {
            "openinference.span.kind": "RERANKER",
            "reranker.query": "refund",
            "reranker.model_name": "rerank-1",
            "reranker.top_k": 1,
            "reranker.input_documents.0.document.content": "a",
            "reranker.output_documents.0.document.content": "a",
        },
    )
    assert reranker["inputs"] == {"query": "refund", "documents": [{"content": "a"}]}
    assert reranker["outputs"] == {"documents": [{"content": "a"}]}
    assert reranker["config"] == {"model": "rerank-1", "top_k": 1}
    embedding = mapped(
        recorded,
        {
            "openinference.span.kind": "EMBEDDING",
            "embedding.model_name": "text-embedding-3-small",
            "embedding.embeddings.0.embedding.text": "hello",
            "embedding.embeddings.0.embedding.vector": (0.1, 0.2, 0.3),
            "embedding.embeddings.1.embedding.text": "world",
            "embedding.embeddings.1.embedding.vector": (0.4, 0.5, 0.6),
        },
    )
    assert embedding["inputs"] == {"texts": ["hello", "world"]}
    assert (embedding["metadata"]["embedding_count"], embedding["metadata"]["embedding_dimensions"]) == (2, 3)
    assert not any("vector" in key for key in embedding["metadata"])  # vectors are never copied


def test_openinference_annotations_split_by_annotator_and_session_scope(recorded: Recorded) -> None:
    """spec/annotations.md: HUMAN → feedback, LLM/CODE → metrics; ``session.`` ones go to the session once."""
    grouped = group(
        recorded,
        {
            "annotations.0.annotation.name": "helpful",
            "annotations.0.annotation.score": 1,
            "annotations.0.annotation.annotator_kind": "HUMAN",
            "evaluations.0.evaluation.name": "toxicity",
            "evaluations.0.evaluation.label": "clean",
            "evaluations.0.evaluation.explanation": "no slurs",
            "evaluations.0.evaluation.annotator_kind": "LLM",
            "session.annotations.0.annotation.name": "resolved",
            "session.annotations.0.annotation.label": "yes",
            "session.annotations.0.annotation.annotator_kind": "HUMAN",
        },
    )
    event = grouped.events[0]
    assert event["feedback"] == {"helpful": 1}
    assert event["metrics"] == {"toxicity": "clean", "toxicity_explanation": "no slurs"}
    assert grouped.properties["feedback"] == {"resolved": "yes"}
    assert not any(key.startswith("session.") for key in event["metadata"])
    nameless = mapped(
        recorded,
        {
            "annotations.0.annotation.score": 1,  # no name: nothing to file it under
            "annotations.1.annotation.name": "helpful",
            "annotations.1.annotation.score": 0,
        },
    )
    assert nameless["metrics"] == {"helpful": 0}
    assert nameless["metadata"]["annotations.0.annotation.score"] == 1  # kept as sent, not lost
    assert "annotations.1.annotation.name" not in nameless["metadata"]


def test_openinference_tool_span_arguments_come_from_input_value(recorded: Recorded) -> None:
    """``tool.parameters`` is the schema; the call's arguments are ``input.value`` (conventions §9.16)."""
    event = mapped(
        recorded,
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "search",
            "tool.parameters": '{"type": "object"}',
            "input.value": '{"q": "otel"}',
            "input.mime_type": "application/json",
            "output.value": "3 results",
            "output.mime_type": "text/plain",
        },
    )
    assert event["inputs"] == {"q": "otel"}
    assert event["outputs"] == {"output": "3 results"}
    assert event["config"] == {"tool_name": "search", "tool_parameters": {"type": "object"}}


def _llm_io(recorded: Recorded, attributes: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    event = mapped(recorded, {"openinference.span.kind": "LLM", **attributes})
    return event["inputs"].get("chat_history"), event["outputs"], event["metadata"]


def test_openinference_message_fields_map_exactly(recorded: Recorded) -> None:
    """Every field of an OpenInference message (semantic_conventions.md §message), each to its exact place."""
    history, _, metadata = _llm_io(
        recorded,
        {
            "llm.input_messages.0.message.content": "be brief",  # no role: still a message
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.contents.0.message_content.type": "text",
            "llm.input_messages.1.message.contents.0.message_content.text": "line one",
            "llm.input_messages.1.message.contents.1.message_content.type": "text",
            "llm.input_messages.1.message.contents.1.message_content.text": "line two",
            "llm.input_messages.2.message.role": "assistant",
            "llm.input_messages.2.message.tool_calls.0.tool_call.id": "call_1",
            "llm.input_messages.2.message.tool_calls.0.tool_call.function.name": "lookup",
            "llm.input_messages.2.message.tool_calls.0.tool_call.function.arguments": '{"q": "x"}',
            "llm.input_messages.2.message.tool_calls.1.tool_call.function.name": "other",
            "llm.input_messages.3.message.role": "tool",
            "llm.input_messages.3.message.tool_call_id": "call_1",
            "llm.input_messages.3.message.name": "lookup",
            "llm.input_messages.3.message.content": "found",
            "llm.input_messages.4.message.role": "assistant",
            "llm.input_messages.4.message.function_call_name": "legacy",
            "llm.input_messages.4.message.function_call_arguments_json": '{"a": 1}',
            "llm.input_messages.5.message.role": "user",  # neither content nor contents
            "llm.input_messages.6.message.role": "user",
            "llm.input_messages.6.message.contents.0.message_content.type": "text",  # a text part without text
        },
    )
    assert history == [
        {"role": "unknown", "content": "be brief"},
        {"role": "user", "content": "line one\nline two"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}},
                {"type": "function", "function": {"name": "other", "arguments": None}},
            ],
        },
        {"role": "tool", "content": "found", "tool_call_id": "call_1", "name": "lookup"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "legacy", "arguments": '{"a": 1}'}}],
        },
        {"role": "user", "content": ""},
        {"role": "user", "content": ""},
    ]
    assert not any(key.startswith("llm.input_messages") for key in metadata)  # every field was consumed


def test_openinference_message_contents_that_are_not_all_text_stay_parts(recorded: Recorded) -> None:
    history, _, _ = _llm_io(
        recorded,
        {
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "ignored when contents exist",
            "llm.input_messages.0.message.contents.0.message_content.type": "text",
            "llm.input_messages.0.message.contents.0.message_content.text": "look",
            "llm.input_messages.0.message.contents.1.message_content.type": "image",
            "llm.input_messages.0.message.contents.1.message_content.image.image.url": "https://x/y.png",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.contents.0.type": "text",  # a part without its message_content wrapper
            "llm.input_messages.1.message.contents.0.text": "bare",
        },
    )
    assert history == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image", "image": {"image": {"url": "https://x/y.png"}}},
            ],
        },
        {"role": "user", "content": "bare"},
    ]


def test_openinference_entries_that_are_not_messages_are_skipped(recorded: Recorded) -> None:
    history, outputs, metadata = _llm_io(
        recorded,
        {
            "llm.input_messages.0.role": "user",  # no ``message.`` level: not a message
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": "hi",
            "llm.output_messages.0.note": "x",  # the only output entry is not a message either
            "llm.choices.0.completion.text": "fallback",
        },
    )
    assert history == [{"role": "user", "content": "hi"}]
    assert outputs["role"] == "assistant"
    assert outputs["content"] == "fallback"
    assert metadata["llm.input_messages.0.role"] == "user"  # kept, as sent, where nothing else took it


def test_openinference_output_messages_and_their_finish_reason(recorded: Recorded) -> None:
    _, outputs, metadata = _llm_io(
        recorded,
        {
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "done",
            "llm.finish_reason": "stop",
            "output.value": '{"choices": []}',
            "output.mime_type": "application/json",
        },
    )
    assert outputs == {"role": "assistant", "content": "done", "finish_reason": "stop"}
    assert "output.value" not in metadata
    assert "output.mime_type" not in metadata


def test_openinference_embeddings_in_index_order_with_their_size(recorded: Recorded) -> None:
    event = mapped(
        recorded,
        {
            "openinference.span.kind": "EMBEDDING",
            "embedding.model_name": "e-1",
            "embedding.invocation_parameters": '{"dimensions": 4, "encoding_format": "float"}',
            "embedding.embeddings.10.embedding.text": "eleventh",
            "embedding.embeddings.2.embedding.text": "third",
            "embedding.embeddings.2.embedding.vector": (0.1, 0.2),
            "embedding.embeddings.10.embedding.vector": (0.1, 0.2, 0.3, 0.4),
            "embedding.embeddings.3.embedding.vector": (0.5,),  # a vector without its text
        },
    )
    assert event["inputs"] == {"texts": ["third", "eleventh"]}  # 2 before 10: numbers, not strings
    assert event["config"] == {"model": "e-1", "dimensions": 4, "encoding_format": "float"}
    assert (event["metadata"]["embedding_count"], event["metadata"]["embedding_dimensions"]) == (3, 4)
    assert not any(key.startswith("embedding.") for key in event["metadata"])


def test_openinference_embeddings_without_texts_or_vectors(recorded: Recorded) -> None:
    vectors_only = mapped(
        recorded, {"openinference.span.kind": "EMBEDDING", "embedding.embeddings.0.embedding.vector": (1.0, 2.0)}
    )
    assert "texts" not in vectors_only["inputs"]
    assert (vectors_only["metadata"]["embedding_count"], vectors_only["metadata"]["embedding_dimensions"]) == (1, 2)
    odd = mapped(
        recorded,
        {
            "openinference.span.kind": "EMBEDDING",
            "embedding.embeddings.1.embedding.text": "a",
            "embedding.embeddings.1.embedding.vector": "not a vector",
            "embedding.embeddings.x.embedding.text": "unnumbered",
        },
    )
    assert odd["inputs"] == {"texts": ["unnumbered", "a"]}  # an index that is not a number sorts first
    assert odd["metadata"]["embedding_count"] == 2
    assert "embedding_dimensions" not in odd["metadata"]
    none = mapped(recorded, {"openinference.span.kind": "EMBEDDING", "embedding.model_name": "e-1"})
    assert "embedding_count" not in none["metadata"]
    assert none["config"] == {"model": "e-1"}


# --- Langfuse (langfuse-python _client/attributes.py, constants.py) -------------------------------------


def test_langfuse_generation(recorded: Recorded) -> None:
    grouped = group(
        recorded,
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.input": '[{"role": "user", "content": "Hi"}]',
            "langfuse.observation.output": '{"content": "Hello!"}',
            "langfuse.observation.model.name": "gpt-4o",
            "langfuse.observation.model.parameters": '{"temperature": 0.5}',
            "langfuse.observation.usage_details": '{"input": 5, "output": 2, "total": 7}',
            "langfuse.observation.cost_details": '{"total": 0.001}',
            "langfuse.observation.metadata.step": '"greet"',  # Langfuse's SDK writes each value as JSON
            "langfuse.observation.metadata.seats": "3",
            "langfuse.observation.metadata.flags": '{"beta": true}',
            "langfuse.observation.prompt.name": "greeting",
            "langfuse.observation.prompt.version": 4,
            "langfuse.trace.name": "onboarding",
            "langfuse.trace.input": '{"user": "new"}',
            "langfuse.trace.output": "welcomed",
            "langfuse.trace.tags": ("a", "b"),
            "langfuse.trace.metadata.plan": "pro",
            "langfuse.environment": "staging",
            "session.id": "lf-session",
            "user.id": "lf-user",
        },
    )
    event = grouped.events[0]
    assert event["event_type"] == "model"
    assert event["inputs"] == {"chat_history": [{"role": "user", "content": "Hi"}]}
    assert event["outputs"] == {"role": "assistant", "content": "Hello!"}
    assert event["config"] == {
        "model": "gpt-4o",
        "temperature": 0.5,
        "prompt_name": "greeting",
        "prompt_version": 4,
    }
    meta = event["metadata"]
    assert (meta["prompt_tokens"], meta["completion_tokens"], meta["total_tokens"], meta["cost"]) == (
        5,
        2,
        7,
        0.001,
    )
    assert (meta["step"], meta["plan"], meta["tags"]) == ("greet", "pro", ["a", "b"])  # plain text stays text
    assert (meta["seats"], meta["flags"]) == (3, {"beta": True})
    assert event["source"] == "staging"
    assert event["user_properties"] == {"user_id": "lf-user"}
    props = grouped.properties
    assert props["session_name"] == "onboarding"
    assert props["inputs"] == {"user": "new"}
    assert props["outputs"] == {"output": "welcomed"}


def test_langfuse_error_level(recorded: Recorded) -> None:
    event = mapped(
        recorded,
        {"langfuse.observation.level": "ERROR", "langfuse.observation.status_message": "quota exceeded"},
    )
    assert event["error"] == "quota exceeded"


# --- Logfire and LangSmith (logfire _internal/constants.py; langsmith _otel_exporter.py) -----------------


def test_logfire_pending_spans_are_dropped_and_msg_names_the_event(recorded: Recorded) -> None:
    provider, memory = recorded
    memory.clear()
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("x (pending)", attributes={"logfire.span_type": "pending_span"}):
        pass
    with tracer.start_as_current_span("x", attributes={"logfire.msg": "Hello Ada", "logfire.tags": ("greet",)}):
        pass
    spans = memory.get_finished_spans()
    assert map_span(spans[0], Defaults()) is None
    result = map_span(spans[1], Defaults())
    assert result is not None
    assert result[0]["event_name"] == "Hello Ada"
    assert result[0]["metadata"]["tags"] == ["greet"]


def test_langsmith_threads_not_projects_name_the_session(recorded: Recorded) -> None:
    event = mapped(
        recorded,
        {
            "langsmith.span.kind": "llm",
            "langsmith.trace.session_id": "project-uuid",
            "langsmith.metadata.thread_id": "thread-7",
            "langsmith.metadata.user_id": "u-7",
            "langsmith.metadata.ls_provider": "openai",
            "langsmith.span.tags": "prod, fast",
        },
    )
    assert event["event_type"] == "model"
    assert event["session_id"] == _ids.session_id_for("thread-7")[0]
    assert event["metadata"]["langsmith.trace.session_id"] == "project-uuid"
    assert event["user_properties"] == {"user_id": "u-7"}
    assert (event["metadata"]["ls_provider"], event["metadata"]["tags"]) == ("openai", ["prod", "fast"])


# --- precedence, evidence and bad input ------------------------------------------------------------------


def test_two_conventions_on_one_span_are_never_merged(recorded: Recorded) -> None:
    """GenAI wins the chat history; OpenInference's copy stays raw in metadata, not appended."""
    event = mapped(
        recorded,
        {
            "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "A"}]}]',
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "B",
            "gen_ai.usage.input_tokens": 3,
            "llm.token_count.prompt": 4,
        },
    )
    assert event["inputs"] == {"chat_history": [{"role": "user", "content": "A"}]}
    assert event["metadata"]["llm.input_messages.0.message.content"] == "B"
    assert event["metadata"]["prompt_tokens"] == 3
    assert event["metadata"]["llm.token_count.prompt"] == 4


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param({"gen_ai.tool.call.id": "c"}, "tool", id="tool-evidence"),
        pytest.param({"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 1}, "model", id="model-evidence"),
        pytest.param({"gen_ai.request.model": "m"}, "chain", id="a-model-name-alone-is-not-a-call"),
        pytest.param({"openinference.span.kind": "UNKNOWN"}, "chain", id="unknown-kind-falls-through"),
        pytest.param({"langfuse.observation.type": "span", "traceloop.span.kind": "task"}, "chain", id="next-table"),
    ],
)
def test_event_type_evidence(recorded: Recorded, attributes: dict[str, Any], expected: str) -> None:
    assert mapped(recorded, attributes)["event_type"] == expected  # a root without evidence is a chain


@pytest.mark.parametrize(
    ("attributes", "raw_key"),
    [
        pytest.param({"gen_ai.input.messages": "[not json"}, "gen_ai.input.messages", id="bad-json"),
        pytest.param({"gen_ai.input.messages": '{"role": "user"}'}, "gen_ai.input.messages", id="not-a-list"),
        pytest.param({"gen_ai.usage.input_tokens": -5}, "gen_ai.usage.input_tokens", id="negative-tokens"),
        pytest.param({"llm.token_count.prompt": "lots"}, "llm.token_count.prompt", id="token-text"),
        pytest.param({"llm.invocation_parameters": "{oops"}, "llm.invocation_parameters", id="bad-params"),
        pytest.param({"langfuse.observation.usage_details": "7"}, "langfuse.observation.usage_details", id="bad-usage"),
    ],
)
def test_values_that_do_not_parse_are_kept_raw(recorded: Recorded, attributes: dict[str, Any], raw_key: str) -> None:
    event = mapped(recorded, attributes)
    assert event["metadata"][raw_key] == attributes[raw_key]
    assert "prompt_tokens" not in event["metadata"]


def test_deeply_nested_json_does_not_break_mapping(recorded: Recorded) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    event = mapped(recorded, {"gen_ai.input.messages": deep, "honeyhive_inputs.x": deep})
    assert event["metadata"]["gen_ai.input.messages"] == deep  # RecursionError caught: kept as text
    assert event["inputs"] == {"x": deep}


def test_long_values_are_truncated_with_a_marker(recorded: Recorded) -> None:
    provider, memory = recorded
    memory.clear()
    with provider.get_tracer("t").start_as_current_span("big", attributes={"honeyhive_inputs.doc": "x" * 5000}):
        pass
    result = map_span(memory.get_finished_spans()[0], Defaults(max_value_chars=1000))
    assert result is not None
    event, hint = result
    assert event["inputs"]["doc"] == "x" * 1000 + "…[truncated 4000 chars]"
    assert hint.truncated == 1


_PICTURE = base64.b64encode(bytes(range(256)) * 40).decode()  # 10,240 bytes of data, 13,656 characters
_OMITTED = "[inline data omitted: 10240 bytes]"


def test_bulky_inline_data_is_replaced_by_a_marker_with_its_size(recorded: Recorded) -> None:
    """Wherever a picture's base64 stands (a data URL in a JSON string, a GenAI blob part, a span event, a
    span of no convention), it gives way to a marker with its size; its media type and the part's type stay."""
    parts = [{"type": "blob", "modality": "image", "mime_type": "image/jpeg", "content": _PICTURE}]
    body = json.dumps(
        {"messages": [{"content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{_PICTURE}"}}]}]}
    )
    event = mapped(
        recorded,
        {"gen_ai.input.messages": json.dumps([{"role": "user", "parts": parts}]), "request.body": body},
        events=[("upload", {"file": _PICTURE})],
    )
    (part,) = event["inputs"]["chat_history"][0]["content"]
    assert part == {"type": "blob", "modality": "image", "mime_type": "image/jpeg", "content": _OMITTED}
    assert f"data:image/png;base64,{_OMITTED}" in event["metadata"]["request.body"]
    assert json.loads(event["metadata"]["request.body"])  # still JSON
    assert event["metadata"]["events"][0]["attributes"] == {"file": _OMITTED}
    generic = mapped(recorded, {"http.request.body": f"data:image/png;base64,{_PICTURE}"})
    assert generic["metadata"]["http.request.body"] == f"data:image/png;base64,{_OMITTED}"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        pytest.param("Ab1+" * 2048, True, id="at-the-threshold"),
        pytest.param("Ab1+" * 2048 + "C", False, id="over-it"),
        pytest.param("x" * 20_000, True, id="letters-alone"),
        pytest.param(base64.urlsafe_b64encode(bytes(range(256)) * 40).decode(), False, id="url-safe"),
        pytest.param(" ".join(["lorem ipsum dolor"] * 3000), True, id="prose"),
        pytest.param(json.dumps([list(range(4000))], separators=(",", ":")), True, id="json"),
    ],
)
def test_the_inline_data_threshold(recorded: Recorded, text: str, kept: bool) -> None:
    """Runs of base64 up to 8,192 characters stay; longer ones go; long text that is no data stays (a run of
    letters alone is no encoded data)."""
    event = mapped(recorded, {"note": text})
    assert (event["metadata"]["note"] == text) is kept


def test_a_generic_span_is_still_a_complete_event(recorded: Recorded) -> None:
    event = mapped(recorded, {"http.method": "GET", "http.route": "/items"}, name="GET /items")
    assert (event["event_name"], event["event_type"], event["error"]) == ("GET /items", "chain", None)
    assert event["metadata"]["http.route"] == "/items"
    assert all(isinstance(event[f], dict) for f in ("config", "inputs", "outputs", "metrics", "feedback"))  # type: ignore[literal-required]


def test_a_second_convention_repeating_the_same_conversation_is_not_kept_twice(recorded: Recorded) -> None:
    """OpenInference and GenAI describing the same call: its copy of the messages (and the raw request) is
    the same data as the chat history, so it is consumed rather than repeated in metadata."""
    event = mapped(
        recorded,
        {
            "openinference.span.kind": "LLM",
            "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]',
            "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "Yo"}]}]',
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "Hi",
            "llm.input_messages.0.message.name": "ada",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "Yo",
            "input.value": '{"messages": [{"role": "user", "content": "Hi"}]}',
        },
    )
    assert event["inputs"] == {"chat_history": [{"role": "user", "content": "Hi"}]}
    assert not any(
        k.startswith(("llm.input_messages.0.message.content", "llm.output_messages")) for k in event["metadata"]
    )
    assert "input.value" not in event["metadata"]
    assert event["metadata"]["llm.input_messages.0.message.name"] == "ada"  # not in the other copy: kept


def _own_metadata(event: Event) -> dict[str, Any]:
    """The event's metadata without what every span here carries (ids, kind, scope, service)."""
    common = {"trace_id", "span_id", "span_kind", "otel.scope.name", "service.name"}
    return {k: v for k, v in event["metadata"].items() if k not in common}


def test_openinference_copies_are_matched_message_by_message(recorded: Recorded) -> None:
    """Against a higher convention's conversation, each copied field is compared with the message at its own
    position: equal fields are consumed, a differing field or a message past the end stays; the raw
    request and response go only on an LLM span (on a chain they are the chain's own I/O)."""
    attributes = {
        "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]',
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": c}]} for c in ("A", "B")]
        ),
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "Hi",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "A",
        "llm.output_messages.1.message.role": "assistant",
        "llm.output_messages.1.message.content": "other",
        "llm.output_messages.2.message.role": "assistant",
        "llm.output_messages.2.message.content": "B",
        "input.value": "raw in",
        "output.value": "raw out",
    }
    kept = {
        "llm.output_messages.1.message.content": "other",
        "llm.output_messages.2.message.role": "assistant",
        "llm.output_messages.2.message.content": "B",
    }
    llm = mapped(recorded, {"openinference.span.kind": "LLM", **attributes})
    assert llm["inputs"] == {"chat_history": [{"role": "user", "content": "Hi"}]}
    assert llm["outputs"]["choices"] == [{"role": "assistant", "content": "A"}, {"role": "assistant", "content": "B"}]
    assert _own_metadata(llm) == kept
    chain = mapped(recorded, {"openinference.span.kind": "CHAIN", **attributes})
    assert _own_metadata(chain) == {**kept, "input.value": "raw in", "output.value": "raw out"}


def test_openinference_completion_prompts_choices_model_provider_and_tools(recorded: Recorded) -> None:
    """The completion API's ``llm.prompts``/``llm.choices``, and every config attribute of an LLM span."""
    event = mapped(
        recorded,
        {
            "openinference.span.kind": "LLM",
            "llm.prompts.0.prompt.text": "Once",
            "llm.prompts.1.prompt.text": "Twice",
            "llm.choices.0.completion.text": "a",
            "llm.choices.1.completion.text": "b",
            "llm.choices.2.completion.other": "no text",
            "llm.finish_reason": "length",
            "llm.request.model_name": "davinci",
            "llm.response.model_name": "davinci-002",
            "llm.provider": "openai",
            "llm.system": "openai-system",
            "llm.tools.0.tool.json_schema": '{"type": "function", "function": {"name": "f"}}',
            "llm.tools.1.tool.json_schema": "not json",
            "input.value": "raw in",
            "output.value": "raw out",
            "output.mime_type": "text/plain",
        },
    )
    assert event["inputs"] == {"prompt": ["Once", "Twice"]}
    assert event["outputs"] == {
        "role": "assistant",
        "content": "a",
        "choices": [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}],
        "finish_reason": "length",
    }
    assert event["config"] == {
        "model": "davinci",
        "provider": "openai",
        "tools": [{"type": "function", "function": {"name": "f"}}, "not json"],
    }
    assert _own_metadata(event) == {
        "llm.system": "openai-system",  # the provider came from llm.provider: a second opinion stays
        "input.value": "raw in",  # prompts are not a whole request: the raw input stays
        "response_model": "davinci-002",
    }
    single = mapped(
        recorded,
        {
            "openinference.span.kind": "LLM",
            "llm.prompts.0.prompt.text": "Only",
            "llm.system": "anthropic",
            "llm.invocation_parameters": '{"max_tokens": 5}',
            "input.value": "x",
            "input.mime_type": "text/plain",
        },
    )
    assert (single["inputs"], single["outputs"]) == ({"prompt": "Only"}, {})
    assert single["config"] == {"max_tokens": 5, "provider": "anthropic"}
    assert _own_metadata(single) == {"input.value": "x", "input.mime_type": "text/plain"}


def test_openinference_chat_history_consumes_the_raw_request(recorded: Recorded) -> None:
    event = mapped(
        recorded,
        {
            "openinference.span.kind": "LLM",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "hi",
            "input.value": '{"messages": [{"role": "user", "content": "hi"}]}',
            "input.mime_type": "application/json",
        },
    )
    assert (event["inputs"], event["outputs"], event["config"]) == (
        {"chat_history": [{"role": "user", "content": "hi"}]},
        {},
        {},
    )
    assert _own_metadata(event) == {}
