"""pydantic-ai's agent-run spans (``Agent.instrument_all()``, instrumentation versions 2 and 3).

Source: pydantic/pydantic-ai ``pydantic_ai/models/instrumented.py`` and ``_agent_graph.py`` (conventions.md
§6): the run's span carries the whole conversation as ``pydantic_ai.all_messages`` (a JSON array in the OTel
GenAI message format) and the answer as ``final_result`` (text, or JSON for a structured result); its model
requests and tool calls are GenAI spans of their own. Left raw, the agent's event and its session had no
inputs or outputs.
"""

from __future__ import annotations

from typing import Any

from spanhive.mapping import _messages
from spanhive.mapping._attrs import SpanAttrs
from spanhive.mapping._draft import Draft
from spanhive.mapping._values import is_absent, json_leaf

HEADS = frozenset({"pydantic_ai", "final_result"})
"""First segments of the attributes it reads: a span with none of them (and no span events) is skipped."""
MESSAGES, RESULT = "pydantic_ai.all_messages", "final_result"


def apply(attrs: SpanAttrs, draft: Draft) -> None:
    data = attrs.data
    result = data.get(RESULT)
    answered = result is not None and not is_absent(result)
    if draft.empty("outputs") and answered:
        value = json_leaf(result)
        if isinstance(value, str):
            draft.fill("outputs", {"role": "assistant", "content": value})
        else:
            draft.fill("outputs", value if isinstance(value, dict) else {"output": value})
        attrs.used.add(RESULT)
    if draft.empty("inputs") and MESSAGES in data:
        history = _messages.genai_messages(json_leaf(data[MESSAGES]))
        if history:
            last = history[-1]
            if answered and last.get("role") == "assistant" and last.get("content") == result:
                history.pop()  # the answer, which is the outputs
            draft.fill("inputs", {"chat_history": _messages.with_instructions(history, attrs)})
            attrs.used.add(MESSAGES)


def is_agent_run(keys: Any) -> bool:
    """Whether a span's keys are an agent run's (it also has token counts, which alone would make it a model
    call)."""
    return MESSAGES in keys or RESULT in keys
