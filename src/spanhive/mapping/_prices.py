"""A model call's cost from its token counts, when the span states none: from genai-prices' price table (the
``prices`` extra), noted as the source in ``metadata.cost_source``. A span's own cost always wins.

genai-prices computes a price in Decimal arithmetic, about 60 µs a call: too slow for every model span. A
price is linear in the token counts within a tier (the prompt's size picks the tier), so a model's per-token
rates on a day are asked of genai-prices once per tier (one probe per kind of token) and a span costs a
look-up and four products. A price that changes within a day (off-peak rates) is asked of genai-prices for
each span. The span's start picks the day's prices, so the same span always costs the same with one table.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from datetime import UTC, datetime
from typing import Any, Optional, Union

from spanhive._log import limited

try:
    from genai_prices import Usage, __version__, calc_price
    from genai_prices.types import TieredPrices, TimeOfDateConstraint
except ImportError:  # the extra is not installed: no estimates
    SOURCE: Optional[str] = None
else:
    SOURCE = f"genai-prices {__version__}"

_MTOK = 1_000_000  # output tokens of the probe that finds the output rate
_NS_PER_DAY = 86_400 * 10**9
_CACHE_SIZE = 512  # (provider, model, day) entries; the cache is cleared past it


_Rates = tuple[float, float, float, float]
"""US dollars per token: uncached input, cache reads, cache writes, output."""
_Table = tuple[tuple[int, ...], tuple[_Rates, ...]]
"""A model's rates on one day: ``rates[i]`` applies to a prompt of more than ``thresholds[i - 1]`` tokens and
at most ``thresholds[i]`` (genai-prices' tiers: the prompt's size picks the rate of every token)."""
_EXACT = "exact"
"""A price genai-prices must compute for each span (it changes within a day)."""
_Found = Union[_Table, str, None]
"""A table, ``_EXACT``, or ``None`` for a model the table does not know (remembered too)."""
_RATES: dict[tuple[Optional[str], str, int], _Found] = {}

Tokens = tuple[int, int, int, int]
"""A call's token counts: prompt (counting the cached ones, as OTel counts them), completion, cache reads,
cache writes."""


def estimate(provider: Optional[str], model: str, start_ns: int, tokens: Tokens) -> Optional[float]:
    """The cost in US dollars of a call started at ``start_ns``, or ``None`` when the table does not know the
    model or genai-prices is not installed."""
    if SOURCE is None:
        return None
    day = start_ns // _NS_PER_DAY
    key = (provider, model, day)
    if key in _RATES:
        found = _RATES[key]
    else:
        if len(_RATES) >= _CACHE_SIZE:
            _RATES.clear()
        found = _RATES[key] = _table(provider, model, _at(day * _NS_PER_DAY))
    if found is None:
        return None
    prompt, completion, cache_read, cache_write = tokens
    uncached = prompt - cache_read - cache_write
    if uncached < 0:  # counts that exclude the cached tokens (Anthropic's API reports them so)
        uncached, prompt = prompt, prompt + cache_read + cache_write
    if not isinstance(found, str):
        thresholds, tiers = found
        rates = tiers[bisect_left(thresholds, prompt) if thresholds else 0]
        return uncached * rates[0] + cache_read * rates[1] + cache_write * rates[2] + completion * rates[3]
    usage = {"input_tokens": prompt, "output_tokens": completion}
    usage.update(cache_read_tokens=cache_read, cache_write_tokens=cache_write)
    price = _price(provider, model, _at(start_ns), usage)
    try:
        return None if price is None else float(price.total_price)
    except Exception as exc:  # noqa: BLE001 - a price table's failure must never fail a mapping
        _failed(model, exc)
        return None


def _at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def _table(provider: Optional[str], model: str, when: datetime) -> _Found:
    """The model's per-token rates on ``when``'s day, tier by tier, each from genai-prices' own price of a
    few probe calls; ``_EXACT`` when its price changes within a day; ``None`` when it is not in the table (or
    the table answers in a way this module does not know: a newer genai-prices must not fail a mapping)."""
    try:
        return _probed(provider, model, when)
    except Exception as exc:  # noqa: BLE001 - see above
        _failed(model, exc)
        return None


def _probed(provider: Optional[str], model: str, when: datetime) -> _Found:
    first = _price(provider, model, when, {"input_tokens": 1})
    if first is None:
        return None
    conditional = first.model.prices if isinstance(first.model.prices, list) else ()
    if any(isinstance(condition.constraint, TimeOfDateConstraint) for condition in conditional):
        return _EXACT
    tiered = [price for price in vars(first.model_price).values() if isinstance(price, TieredPrices)]
    thresholds = tuple(sorted({tier.start for price in tiered for tier in price.tiers}))
    if thresholds and thresholds[0] < 1:
        return _EXACT
    rates: list[_Rates] = []
    for prompt in (1, *(threshold + 1 for threshold in thresholds)):  # a prompt in each tier
        probes = (
            {"input_tokens": prompt},
            {"input_tokens": prompt, "cache_read_tokens": prompt},
            {"input_tokens": prompt, "cache_write_tokens": prompt},
            {"input_tokens": prompt, "output_tokens": _MTOK},
        )
        prices = [_price(provider, model, when, usage) for usage in probes]
        totals = [price.total_price for price in prices if price is not None]
        if len(totals) < len(probes):
            return _EXACT
        alone, read, write, answered = totals
        rates.append(
            (float(alone / prompt), float(read / prompt), float(write / prompt), float((answered - alone) / _MTOK))
        )
    return thresholds, tuple(rates)


def _price(provider: Optional[str], model: str, when: datetime, usage: dict[str, int]) -> Any:
    """genai-prices' calculation (``None`` when it fails): by provider, and by the model alone when the
    provider's name is not one the table knows."""
    for provider_id in (provider, None) if provider else (None,):
        try:
            return calc_price(Usage(**usage), model, provider_id=provider_id, genai_request_timestamp=when)
        except LookupError:
            continue
        except Exception as exc:  # noqa: BLE001 - a price table's failure must never fail a mapping
            _failed(model, exc)
            return None
    return None


def _failed(model: str, exc: Exception) -> None:
    limited.log(logging.WARNING, "price-error", "spanhive: genai-prices could not price %r: %r", model[:100], exc)
