"""Golden files: the exact events spanhive makes from spans emitted by real instrumentation libraries.

Each library instruments the real ``openai`` or ``anthropic`` client, which talks to the loopback fake in
``fake_llm.py``: a plain reply, a tool-call (``tool_use``) reply and a streamed reply. The mapped events,
with run-specific values (ids, times, the fake's port) replaced by placeholders, must equal
``golden/<library>-<scenario>.json``.
Regenerate after an intended change with ``SPANHIVE_UPDATE_GOLDEN=1 pytest tests/test_golden.py`` and read
the diff: the files are meant to be reviewed by a person.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import litellm
import openai
import pytest
from openinference.instrumentation.anthropic import AnthropicInstrumentor as OpenInferenceAnthropicInstrumentor
from openinference.instrumentation.litellm import LiteLLMInstrumentor
from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInferenceInstrumentor
from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as TraceloopAnthropicInstrumentor
from opentelemetry.instrumentation.openai import OpenAIInstrumentor as TraceloopInstrumentor
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as OTelGenAIInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanhive._pipeline.assemble import whole_sessions
from spanhive.mapping import Defaults, map_span
from tests.fake_llm import FakeLLM

# Third-party instrumentations' own deprecation warnings are theirs to fix, not failures of ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Support for class-based `config` is deprecated:DeprecationWarning"),
    # LiteLLM's, of the pydantic it is used with:
    pytest.mark.filterwarnings("ignore:Item.* using the `ReadOnly` qualifier:UserWarning"),
    pytest.mark.filterwarnings("ignore:Accessing the 'model_.*' attribute on the instance:DeprecationWarning"),
]

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("SPANHIVE_UPDATE_GOLDEN") == "1"

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
QUESTION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is the capital of France?"},
]


def _plain(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, temperature=0.2, max_tokens=50)  # type: ignore[arg-type]


def _tool_call(client: openai.OpenAI) -> None:
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=TOOLS,  # type: ignore[arg-type]
    )


def _streaming(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=QUESTION,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    for _ in stream:
        pass


IMAGE = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 1200).decode()
"""A 300 KB picture, inline: what it costs a record is the point of the ``image`` scenario."""
IMAGE_BYTES = len(base64.b64decode(IMAGE))


def _image(client: openai.OpenAI) -> None:
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMAGE}"}},
    ]
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": content}])  # type: ignore[misc,list-item]


SCENARIOS: dict[str, Callable[[openai.OpenAI], None]] = {
    "plain": _plain,
    "tool-call": _tool_call,
    "streaming": _streaming,
    "image": _image,
}


CLAUDE_TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
CLAUDE = "claude-sonnet-4-5"


def _claude_plain(client: anthropic.Anthropic) -> None:
    client.messages.create(
        model=CLAUDE,
        system="Be brief.",
        messages=[QUESTION[1]],  # type: ignore[list-item]
        max_tokens=50,
    )


def _claude_tool_use(client: anthropic.Anthropic) -> None:
    client.messages.create(
        model=CLAUDE,
        max_tokens=50,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=CLAUDE_TOOLS,  # type: ignore[arg-type]
    )


def _claude_streaming(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=CLAUDE, system="Be brief.", messages=[QUESTION[1]], max_tokens=50) as stream:  # type: ignore[list-item]
        for _ in stream.text_stream:
            pass


def _claude_image(client: anthropic.Anthropic) -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": IMAGE}},
        {"type": "text", "text": "What is in this picture?"},
    ]
    client.messages.create(model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": content}])  # type: ignore[misc,list-item]


CLAUDE_SCENARIOS: dict[str, Callable[[anthropic.Anthropic], None]] = {
    "plain": _claude_plain,
    "tool-call": _claude_tool_use,
    "streaming": _claude_streaming,
    "image": _claude_image,
}


class _Native:
    """The ``anthropic`` SDK's own spans: no instrumentation, the client is given the tracer provider."""

    def instrument(self, tracer_provider: TracerProvider) -> None:
        self.provider = tracer_provider

    def uninstrument(self) -> None:
        pass


class _LiteLLM:
    """LiteLLM's ``completion`` behind the OpenAI client's call, so that the OpenAI scenarios drive it too."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.chat = self.completions = self

    def create(self, *, model: str, **request: Any) -> Any:
        return litellm.completion(model=f"openai/{model}", api_base=self.base_url, api_key="sk-test", **request)

    @staticmethod
    def close() -> None:
        """LiteLLM keeps the clients it made for reuse: closed, they leave no open socket behind."""
        for client in list(litellm.in_memory_llm_clients_cache.cache_dict.values()):
            if isinstance(client, openai.OpenAI):
                client.close()


INSTRUMENTORS: dict[str, Callable[[], Any]] = {
    "openinference": OpenInferenceInstrumentor,
    "litellm-openinference": LiteLLMInstrumentor,
    "openllmetry": TraceloopInstrumentor,
    "otel-genai": OTelGenAIInstrumentor,
    "anthropic-openinference": OpenInferenceAnthropicInstrumentor,
    "anthropic-openllmetry": TraceloopAnthropicInstrumentor,
    "anthropic-native": _Native,
}
"""By library; the ``anthropic-`` ones instrument the ``anthropic`` client, ``litellm-`` LiteLLM (calling the
fake as an OpenAI endpoint), the others ``openai``."""


@pytest.fixture(scope="module", params=list(INSTRUMENTORS))
def instrumented(request: pytest.FixtureRequest) -> Iterator[tuple[str, InMemorySpanExporter, TracerProvider]]:
    """The real client instrumented by one library, once per module (instrumenting the same client again
    after ``uninstrument()`` stacks some libraries' stream wrappers), its spans kept in memory."""
    library = request.param
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentor = INSTRUMENTORS[library]()
    with pytest.MonkeyPatch.context() as env:
        _capture_content(env)
        instrumentor.instrument(tracer_provider=provider)
        try:
            yield library, memory, provider
        finally:
            instrumentor.uninstrument()
            provider.shutdown()
            if library.startswith("litellm-"):
                _LiteLLM.close()


def _capture_content(env: pytest.MonkeyPatch) -> None:
    """The official instrumentation records message content only when asked, in the latest GenAI semconv."""
    env.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    env.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    # OpenInference replaces a base64 image over 32,000 characters by __REDACTED__ unless told otherwise.
    env.setenv("OPENINFERENCE_BASE64_IMAGE_MAX_LENGTH", "10000000")


@pytest.fixture(autouse=True)
def capture_content(hermetic_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Some instrumentations read these at call time too, after the hermetic fixture cleared OTEL_*."""
    _capture_content(monkeypatch)


def _stable(events: list[dict[str, Any]], base_url: str, label: str = "http://fake-openai/v1") -> list[dict[str, Any]]:
    """Events with the values that change from run to run replaced by placeholders."""
    text = json.dumps(events).replace(base_url.rstrip("/"), label)
    stable = json.loads(text)
    ids: dict[str, str] = {}

    def placeholder(value: str) -> str:
        return ids.setdefault(value, f"<id-{len(ids)}>")

    for event in stable:
        for key in ("session_id", "event_id", "parent_id"):
            event[key] = placeholder(event[key])
        event["children_ids"] = [placeholder(c) for c in event["children_ids"]]
        event["start_time"] = event["end_time"] = event["duration"] = 0
        metadata = event["metadata"]
        for key in ("trace_id", "span_id", "server.port", "time_to_first_chunk"):
            if key in metadata:
                metadata[key] = f"<{key}>"
        for span_event in metadata.get("events", []):
            span_event["time"] = 0
    return stable


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_golden(instrumented: tuple[str, InMemorySpanExporter, TracerProvider], scenario: str) -> None:
    library, memory, provider = instrumented
    memory.clear()
    with FakeLLM() as api:
        if library.startswith("anthropic-"):
            native = {"tracer_provider": provider, "traces": {"content_mode": "content"}}
            with anthropic.Anthropic(
                base_url=api.anthropic_url,
                api_key="sk-ant-test",
                max_retries=0,
                open_telemetry=native if library == "anthropic-native" else False,  # type: ignore[arg-type]
            ) as client:
                CLAUDE_SCENARIOS[scenario](client)
            base_url, label = api.anthropic_url, "http://fake-anthropic"
        else:
            if library.startswith("litellm-"):
                # In the main thread LiteLLM's logging makes an event loop (asyncio.get_event_loop()) that
                # nothing closes; in a worker thread it runs one of its own and closes it.
                with ThreadPoolExecutor(1) as worker:
                    worker.submit(SCENARIOS[scenario], _LiteLLM(api.base_url)).result()
            else:
                with openai.OpenAI(base_url=api.base_url, api_key="sk-test", max_retries=0) as client:
                    SCENARIOS[scenario](client)
            base_url, label = api.base_url, "http://fake-openai/v1"
        spans = memory.get_finished_spans()
        assert spans, f"{library} emitted no span"
        defaults = Defaults()
        groups = whole_sessions([map_span(span, defaults) for span in spans], defaults)
        events = _stable([event for group in groups for event in group.events], base_url, label)
    if scenario == "image":
        _assert_image_omitted(events, spans)
    path = GOLDEN / f"{library}-{scenario}.json"
    if UPDATE:
        path.write_text(json.dumps(events, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    assert events == json.loads(path.read_text())


def _assert_image_omitted(events: list[dict[str, Any]], spans: Sequence[ReadableSpan]) -> None:
    """The picture's bytes are gone from every record; where the library recorded them, a marker with their
    size stands where they were, and their media type stays (Traceloop's OpenAI instrumentation and the
    official one leave images out of their spans, the anthropic SDK names only the part's type)."""
    text = json.dumps(events)
    assert IMAGE[:64] not in text
    assert len(text) < 20_000
    if any(IMAGE[:64] in str(value) for span in spans for value in (span.attributes or {}).values()):
        assert f"[inline data omitted: {IMAGE_BYTES} bytes]" in text
        assert "image/png" in text
