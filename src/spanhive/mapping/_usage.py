"""Token counts and cost, wherever a convention put them, into ``metadata`` (where HoneyHive's API and its
session roll-ups read them).

Sources (conventions.md §7): OTel GenAI ``gen_ai.usage.*`` (current dotted cache keys and OpenLLMetry's older
underscore ones), OpenInference ``llm.token_count.*`` / ``llm.cost.*``, OpenLLMetry ``llm.usage.total_tokens``,
pydantic-ai's ``operation.cost``.
Cached tokens are reported as sent and never subtracted (OTel counts them inside ``input_tokens``).
A model call with token counts and no cost is priced from genai-prices' table when it is installed
(:mod:`spanhive.mapping._prices`).
"""

from __future__ import annotations

from spanhive.mapping import _prices
from spanhive.mapping._attrs import KeyLayout, SpanAttrs, as_count
from spanhive.mapping._draft import Draft

HEADS = frozenset({"gen_ai", "llm", "operation"})
"""First segments of the attributes it reads: a span with none of them (and no span events) is skipped."""
USAGE_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("prompt_tokens", ("gen_ai.usage.input_tokens", "llm.token_count.prompt", "gen_ai.usage.prompt_tokens")),
    (
        "completion_tokens",
        ("gen_ai.usage.output_tokens", "llm.token_count.completion", "gen_ai.usage.completion_tokens"),
    ),
    ("total_tokens", ("llm.token_count.total", "gen_ai.usage.total_tokens", "llm.usage.total_tokens")),
    ("cost", ("llm.cost.total", "gen_ai.usage.cost", "operation.cost")),  # the last: pydantic-ai's
    (
        "cache_read_input_tokens",
        (
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_read_input_tokens",
            "llm.token_count.prompt_details.cache_read",
        ),
    ),
    (
        "cache_creation_input_tokens",
        (
            "gen_ai.usage.cache_creation.input_tokens",
            "gen_ai.usage.cache_write.input_tokens",
            "gen_ai.usage.cache_creation_input_tokens",
            "llm.token_count.prompt_details.cache_write",
        ),
    ),
    (
        "reasoning_tokens",
        (
            "gen_ai.usage.reasoning.output_tokens",
            "gen_ai.usage.reasoning_tokens",
            "llm.token_count.completion_details.reasoning",
        ),
    ),
)


def apply(attrs: SpanAttrs, draft: Draft) -> None:
    present = attrs.layout.derive(_present)
    if not present:
        return
    metadata = draft.event["metadata"]
    data = attrs.data
    for name, keys in present:
        if name not in metadata:
            for key in keys:
                value = as_count(data[key])
                if value is not None:
                    attrs.used.add(key)
                    metadata[name] = value
                    break


def _present(layout: KeyLayout) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``(name, keys)`` for every count whose keys the layout has (only those)."""
    return tuple((name, found) for name, keys in USAGE_KEYS if (found := layout.among(keys)))


def complete_total(draft: Draft) -> None:
    """``total_tokens`` as the sum of its parts when only the parts were given."""
    metadata = draft.event["metadata"]
    if "total_tokens" in metadata or "completion_tokens" not in metadata or "prompt_tokens" not in metadata:
        return
    prompt, completion = metadata["prompt_tokens"], metadata["completion_tokens"]
    if _is_number(prompt) and _is_number(completion):
        total = prompt + completion
        if total - total == 0:  # two huge floats can overflow to infinity
            metadata["total_tokens"] = total


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_MODEL_MAX_CHARS = 200  # a longer "model name" is no model's: not looked up


def estimate_cost(draft: Draft, start_ns: int) -> None:
    """``cost`` from the price table, and ``cost_source`` naming it, for a model call that has token counts
    and states no cost of its own (an agent run's counts add up its calls', which are priced themselves)."""
    if _prices.SOURCE is None or not draft.is_model:
        return
    event = draft.event
    metadata = event["metadata"]
    if "cost" in metadata or ("prompt_tokens" not in metadata and "completion_tokens" not in metadata):
        return
    config = event["config"]
    provider = config.get("provider")
    get = metadata.get
    tokens = (
        _tokens(get("prompt_tokens")),
        _tokens(get("completion_tokens")),
        _tokens(get("cache_read_input_tokens")),
        _tokens(get("cache_creation_input_tokens")),
    )
    answered, asked = metadata.get("response_model"), config.get("model")
    for model in (answered, asked) if asked != answered else (answered,):  # the answered one names it exactly
        if isinstance(model, str) and 0 < len(model) <= _MODEL_MAX_CHARS:
            cost = _prices.estimate(provider if isinstance(provider, str) else None, model, start_ns, tokens)
            if cost is not None:
                metadata["cost"] = cost
                metadata["cost_source"] = _prices.SOURCE
                return


def _tokens(value: object) -> int:
    """A token count as a whole number of at least 0 (0 for anything else: NaN, infinities, text)."""
    if type(value) is int:
        return value if value > 0 else 0
    if isinstance(value, float) and 0 < value < 1e18:
        return int(value)
    return 0
