"""A model call's cost from genai-prices' table when the span states none: the same price genai-prices
computes, at a fraction of its cost; a span's own cost always wins; only model calls are priced."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spanhive.mapping import _prices
from spanhive.mapping._prices import Tokens
from tests.test_conventions import Recorded, mapped

genai_prices = pytest.importorskip("genai_prices")  # the `prices` extra; the floor env goes without

SOURCE = f"genai-prices {genai_prices.__version__}"
NOW_NS = 1_796_000_000 * 10**9  # 2026-11-30
MODELS = [
    ("openai", "gpt-4o-mini-2024-07-18"),  # one rate per kind of token
    ("anthropic", "claude-sonnet-4-5"),  # another rate past a 200k-token prompt
    ("gcp.gemini", "gemini-2.5-pro"),  # likewise, under a provider name the table does not use
    (None, "deepseek-chat"),  # off-peak rates: priced by genai-prices span by span
    ("aws.bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
]


def _reference(provider: Any, model: str, tokens: Tokens) -> float:
    """genai-prices' own price."""
    prompt, completion, read, write = tokens
    usage = genai_prices.Usage(
        input_tokens=prompt, output_tokens=completion, cache_read_tokens=read, cache_write_tokens=write
    )
    when = datetime.fromtimestamp(NOW_NS / 1e9, UTC)
    try:
        price = genai_prices.calc_price(usage, model, provider_id=provider, genai_request_timestamp=when)
    except LookupError:
        price = genai_prices.calc_price(usage, model, genai_request_timestamp=when)
    return float(price.total_price)


@settings(max_examples=300, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    prompt=st.one_of(st.integers(0, 400), st.integers(0, 400_000)),
    completion=st.integers(0, 20_000),
    shares=st.tuples(st.floats(0, 0.5), st.floats(0, 0.5)),
)
def test_the_estimate_is_genai_prices_own_price(
    model: tuple[Any, str], prompt: int, completion: int, shares: tuple[float, float]
) -> None:
    """Rates probed once per model, day and tier give what genai-prices computes for every call."""
    tokens = (prompt, completion, int(prompt * shares[0]), int(prompt * shares[1]))
    estimate = _prices.estimate(*model, NOW_NS, tokens)
    assert estimate == pytest.approx(_reference(*model, tokens), rel=1e-12, abs=1e-15)


def test_counts_that_exclude_cached_tokens_are_priced_as_such() -> None:
    """A prompt count smaller than its cached part excludes it (Anthropic's API reports usage so)."""
    estimate = _prices.estimate("anthropic", "claude-sonnet-4-5", NOW_NS, (10, 5, 100, 20))
    assert estimate == pytest.approx(_reference("anthropic", "claude-sonnet-4-5", (130, 5, 100, 20)))


def test_an_unknown_model_has_no_estimate() -> None:
    assert _prices.estimate("openai", "no-such-model-anywhere", NOW_NS, (100, 10, 0, 0)) is None


LLM = {
    "openinference.span.kind": "LLM",
    "llm.provider": "openai",
    "llm.model_name": "gpt-4o-mini",
    "llm.token_count.prompt": 1200,
    "llm.token_count.completion": 300,
    "llm.token_count.prompt_details.cache_read": 200,
}


def test_a_model_call_without_a_cost_is_priced_with_its_source_named(recorded: Recorded) -> None:
    metadata = mapped(recorded, LLM)["metadata"]
    assert metadata["cost"] == pytest.approx(_reference("openai", "gpt-4o-mini", (1200, 300, 200, 0)))
    assert metadata["cost_source"] == SOURCE


def test_the_answered_model_is_the_one_priced(recorded: Recorded) -> None:
    """The dated model a provider answered with names the price more exactly than the one asked for."""
    asked = '{"model": "gpt-4o-mini"}'
    metadata = mapped(recorded, {**LLM, "llm.model_name": "gpt-4o", "llm.invocation_parameters": asked})["metadata"]
    assert metadata["response_model"] == "gpt-4o"
    assert metadata["cost"] == pytest.approx(_reference("openai", "gpt-4o", (1200, 300, 200, 0)))


def test_the_asked_model_is_priced_when_the_answered_one_is_unknown(recorded: Recorded) -> None:
    """A deployment's or a router's own name for the model it answered with is not in the table."""
    asked = '{"model": "gpt-4o-mini"}'
    attributes = {**LLM, "llm.model_name": "my-deployment-7", "llm.invocation_parameters": asked}
    metadata = mapped(recorded, attributes)["metadata"]
    assert metadata["response_model"] == "my-deployment-7"
    assert metadata["cost"] == pytest.approx(_reference("openai", "gpt-4o-mini", (1200, 300, 200, 0)))


def test_a_spans_own_cost_wins(recorded: Recorded) -> None:
    metadata = mapped(recorded, {**LLM, "llm.cost.total": 0.5})["metadata"]
    assert metadata["cost"] == 0.5
    assert "cost_source" not in metadata


@pytest.mark.parametrize(
    "attributes",
    [
        pytest.param({**LLM, "openinference.span.kind": "AGENT"}, id="an-agent-run"),
        pytest.param({**LLM, "llm.model_name": "no-such-model-anywhere"}, id="an-unknown-model"),
        pytest.param({key: v for key, v in LLM.items() if "token_count" not in key}, id="no-tokens"),
    ],
)
def test_what_is_not_priced(recorded: Recorded, attributes: dict[str, Any]) -> None:
    """An agent run's counts add up its calls' (priced themselves); an unknown model or a call without token
    counts has no cost to estimate."""
    metadata = mapped(recorded, attributes)["metadata"]
    assert "cost" not in metadata
    assert "cost_source" not in metadata


def test_a_price_table_that_answers_unexpectedly_fails_no_mapping(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A genai-prices release whose answers this module does not know (here: an object with none of the
    fields read) leaves the call unpriced and says so; the record is mapped as ever."""
    monkeypatch.setattr(_prices, "calc_price", lambda *args, **kwargs: object())
    monkeypatch.setattr(_prices, "_RATES", {})
    event = mapped(recorded, {**LLM, "llm.model_name": "gpt-4o"})
    assert event["metadata"]["prompt_tokens"] == 1200
    assert "cost" not in event["metadata"]
    assert "genai-prices could not price 'gpt-4o'" in caplog.text
