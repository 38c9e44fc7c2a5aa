"""The event type of a span: an explicit HoneyHive type, else the first convention's kind that is known, else
evidence in the attributes (conventions.md §8).

Lookup tables map each convention's kind values (lower-cased) to ``model``, ``chain`` or ``tool``; a value
not in its table (``UNKNOWN``, Langfuse ``span``…) falls through to the next source.
"""

from __future__ import annotations

from typing import Final, Optional

from spanhive._records import EVENT_TYPES
from spanhive.mapping import honeyhive, pydantic_ai
from spanhive.mapping._attrs import KeyLayout, SpanAttrs

MODEL: Final = "model"
CHAIN: Final = "chain"
TOOL: Final = "tool"

KIND_TABLES: tuple[tuple[str, dict[str, str]], ...] = (
    (
        "gen_ai.operation.name",
        {
            "chat": MODEL, "text_completion": MODEL, "generate_content": MODEL, "completion": MODEL,
            "generate": MODEL, "invoke_agent": CHAIN, "create_agent": CHAIN, "invoke_workflow": CHAIN,
            "execute_tool": TOOL, "embeddings": TOOL, "retrieval": TOOL,
        },
    ),
    (
        "openinference.span.kind",
        {
            "llm": MODEL, "chain": CHAIN, "agent": CHAIN, "prompt": CHAIN, "tool": TOOL, "retriever": TOOL,
            "embedding": TOOL, "reranker": TOOL, "guardrail": TOOL, "evaluator": TOOL,
        },
    ),
    (
        "langfuse.observation.type",
        {
            "generation": MODEL, "embedding": TOOL, "tool": TOOL, "retriever": TOOL, "guardrail": TOOL,
            "evaluator": TOOL, "agent": CHAIN, "chain": CHAIN,
        },
    ),
    ("traceloop.span.kind", {"workflow": CHAIN, "agent": CHAIN, "task": CHAIN, "tool": TOOL}),
    ("llm.request.type", {"chat": MODEL, "completion": MODEL, "embedding": TOOL, "rerank": TOOL}),
    (
        "langsmith.span.kind",
        {
            "llm": MODEL, "chain": CHAIN, "prompt": CHAIN, "parser": CHAIN, "tool": TOOL, "retriever": TOOL,
            "embedding": TOOL,
        },
    ),
)  # fmt: skip

TOOL_EVIDENCE = ("gen_ai.tool.name", "gen_ai.tool.call.id")
MODEL_KEYS = (
    "gen_ai.request.model",
    "gen_ai.response.model",
    "llm.model_name",
    "llm.request.model",
    "llm.request.model_name",
    "langfuse.observation.model.name",
)
LLM_EVIDENCE = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.prompt.0.content",
    "gen_ai.prompt.0.role",
    "gen_ai.completion.0.content",
    "llm.input_messages.0.message.role",
    "llm.input_messages.0.message.content",
    "llm.token_count.prompt",
    "llm.token_count.total",
    "langfuse.observation.usage_details",
)


def event_type(attrs: SpanAttrs) -> tuple[Optional[str], Optional[str]]:
    """``(event_type, span_kind)``: the type (``None`` when nothing says) and the original kind string it
    came from. An explicit type that is not a HoneyHive type is ignored (and so kept in ``metadata``)."""
    explicit_keys, kind_tables, evidence = attrs.layout.derive(_sources)
    data = attrs.data
    for key in explicit_keys:
        explicit = data[key]
        if isinstance(explicit, str) and explicit.strip().lower() in EVENT_TYPES:
            attrs.used.add(key)
            lowered = explicit.strip().lower()
            if lowered == "session":  # the session record is separate; keep what the span said
                return CHAIN, "session"
            return lowered, None
    for key, table in kind_tables:
        kind = data[key]
        if isinstance(kind, str):
            mapped = table.get(kind.strip().lower())
            if mapped is not None:
                attrs.used.add(key)
                return mapped, kind
    return evidence, None


def _sources(layout: KeyLayout) -> tuple[tuple[str, ...], tuple[tuple[str, dict[str, str]], ...], Optional[str]]:
    """What a key layout offers :func:`event_type`: its explicit-type keys, its kind keys with their tables,
    and the type its keys alone are evidence of."""
    keys = layout.keys
    if any(key in keys for key in TOOL_EVIDENCE):
        evidence: Optional[str] = TOOL
    elif pydantic_ai.is_agent_run(keys):
        evidence = CHAIN
    elif any(key in keys for key in MODEL_KEYS) and any(key in keys for key in LLM_EVIDENCE):
        evidence = MODEL
    else:
        evidence = None
    return (
        tuple(key for key in honeyhive.EVENT_TYPE_KEYS if key in keys),
        tuple((key, table) for key, table in KIND_TABLES if key in keys),
        evidence,
    )
