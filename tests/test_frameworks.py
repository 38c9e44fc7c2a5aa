"""Agent frameworks, real ones, against the loopback fake LLM: what their own instrumentation emits maps to
events and a session with their conversation, answer, tools and usage.

pydantic-ai instruments itself (``Agent.instrument_all()``): an ``invoke_agent`` span over ``chat`` model
spans and ``execute_tool`` spans, in the OTel GenAI conventions, with its own ``pydantic_ai.all_messages`` and
``final_result`` on the run. Langfuse's SDK writes its own ``langfuse.*`` attributes on spans of the
``TracerProvider`` it is given, to the ``span_exporter`` it is given. LangChain's agent (a LangGraph graph)
is instrumented by OpenInference's and by Traceloop's LangChain instrumentations, which serialize LangChain
messages in two different ways.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from langchain.agents import create_agent
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langfuse import Langfuse, observe, propagate_attributes
from openinference.instrumentation.langchain import LangChainInstrumentor as OpenInferenceLangChain
from opentelemetry.instrumentation.langchain import LangchainInstrumentor as TraceloopLangChain
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic_ai import Agent
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from spanhive._pipeline.assemble import whole_sessions
from spanhive.mapping import Defaults, map_span
from tests.fake_llm import PLAIN_ANSWER, FakeLLM


@pytest.fixture
def memory() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider))
    try:
        yield memory
    finally:
        Agent.instrument_all(False)
        provider.shutdown()


async def _run_agent(base_url: str) -> str:
    """A pydantic-ai agent with a tool, on a client it closes (an unclosed one warns when collected)."""
    async with openai.AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as client:
        agent = Agent(
            OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=client)), instructions="Be brief."
        )

        @agent.tool_plain
        def get_weather(city: str) -> str:
            """Weather for a city."""
            return f"sunny in {city}"

        return (await agent.run("Weather in Paris?")).output


def test_a_pydantic_ai_agent_with_a_tool(memory: InMemorySpanExporter) -> None:
    with FakeLLM() as api:
        assert asyncio.run(_run_agent(api.base_url)) == PLAIN_ANSWER
    defaults = Defaults()
    (group,) = whole_sessions([map_span(span, defaults) for span in memory.get_finished_spans()], defaults)
    events = {event["event_name"]: event for event in group.events}
    run = events["agent run"]
    assert run["event_type"] == "chain"
    assert run["outputs"] == {"role": "assistant", "content": PLAIN_ANSWER}
    history = run["inputs"]["chat_history"]
    assert history[0] == {"role": "system", "content": "Be brief."}
    assert history[1] == {"role": "user", "content": "Weather in Paris?"}
    assert history[2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert history[3]["content"] == "sunny in Paris"
    assert not {"pydantic_ai.all_messages", "final_result", "gen_ai.system_instructions"} & set(run["metadata"])
    assert group.properties["inputs"] == run["inputs"]  # the run is the session's top event
    assert group.properties["outputs"] == run["outputs"]
    tool = events["running tool: get_weather"]
    assert tool["event_type"] == "tool"
    assert (tool["inputs"], tool["outputs"]) == ({"city": "Paris"}, {"result": "sunny in Paris"})
    calls = [event for event in group.events if event["event_type"] == "model"]
    assert len(calls) == 2
    assert calls[0]["outputs"]["tool_calls"][0]["id"] == "call_weather_1"
    assert calls[1]["outputs"]["content"] == PLAIN_ANSWER
    for call in calls:
        meta = call["metadata"]
        assert (meta["prompt_tokens"], meta["completion_tokens"], meta["cache_read_input_tokens"]) == (23, 9, 4)
        assert meta["cost"] > 0  # pydantic-ai's operation.cost
        assert "operation.cost" not in meta
        assert call["parent_id"] == run["event_id"]
    conversation = {span.attributes.get("gen_ai.conversation.id") for span in memory.get_finished_spans()}
    assert {group.properties["session_id"]} == conversation  # one run, one conversation, one session
    assert {event["session_id"] for event in group.events} == conversation


def test_langfuse_observed_functions_a_generation_a_session_and_a_user() -> None:
    memory = InMemorySpanExporter()
    langfuse = Langfuse(
        public_key="pk-lf-test", secret_key="sk-lf-test", base_url="http://127.0.0.1:9",  # never called
        tracer_provider=TracerProvider(), span_exporter=memory,
    )  # fmt: skip

    @observe(name="answer")
    def answer(question: str) -> str:
        with langfuse.start_as_current_observation(
            as_type="generation", name="llm-call", model="gpt-4o", input=[{"role": "user", "content": question}],
            model_parameters={"temperature": 0.2},
        ) as generation:  # fmt: skip
            generation.update(
                output={"role": "assistant", "content": "Paris."},
                usage_details={"input": 12, "output": 3},
                cost_details={"total": 0.0004},
            )
        return "Paris."

    @observe(name="agent")
    def agent(question: str, style: str = "short") -> str:
        with propagate_attributes(session_id="chat-42", user_id="user-7", metadata={"tenant": "acme"}):
            return answer(question)

    agent("Capital of France?", style="terse")
    langfuse.flush()
    langfuse.shutdown()
    defaults = Defaults()
    (group,) = whole_sessions([map_span(span, defaults) for span in memory.get_finished_spans()], defaults)
    events = {event["event_name"]: event for event in group.events}
    assert set(events) == {"agent", "answer", "llm-call"}
    assert group.properties["metadata"]["external_session_id"] == "chat-42"
    assert group.properties["user_properties"] == {"user_id": "user-7"}
    assert group.properties["session_name"] == "agent"
    assert group.properties["inputs"] == {"args": ["Capital of France?"], "style": "terse"}  # @observe's call
    assert group.properties["outputs"] == {"output": "Paris."}
    generation = events["llm-call"]
    assert generation["event_type"] == "model"
    assert generation["config"] == {"model": "gpt-4o", "temperature": 0.2}
    assert generation["inputs"] == {"chat_history": [{"role": "user", "content": "Capital of France?"}]}
    assert generation["outputs"] == {"role": "assistant", "content": "Paris."}
    meta = generation["metadata"]
    assert (meta["prompt_tokens"], meta["completion_tokens"], meta["total_tokens"], meta["cost"]) == (12, 3, 15, 0.0004)
    for event in group.events:
        assert event["metadata"]["tenant"] == "acme"  # Langfuse wrote '"acme"': JSON, decoded
        assert event["user_properties"] == {"user_id": "user-7"}
        assert event["session_id"] == group.properties["session_id"]


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


@pytest.mark.parametrize(
    "instrumentor", [OpenInferenceLangChain, TraceloopLangChain], ids=["openinference", "traceloop"]
)
def test_a_langgraph_agent_with_a_tool(instrumentor: Callable[[], Any]) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentation = instrumentor()
    instrumentation.instrument(tracer_provider=provider)
    try:
        with FakeLLM() as api:
            llm = ChatOpenAI(model="gpt-4o-mini", base_url=api.base_url, api_key="sk-test", max_retries=0)  # type: ignore[arg-type]
            agent = create_agent(llm, tools=[get_weather], system_prompt="Be brief.")
            state = agent.invoke({"messages": [{"role": "user", "content": "Weather in Paris?"}]})
            llm.root_client.close()
        assert state["messages"][-1].content == PLAIN_ANSWER
    finally:
        instrumentation.uninstrument()
        provider.shutdown()
    defaults = Defaults()
    groups = whole_sessions([map_span(span, defaults) for span in memory.get_finished_spans()], defaults)
    events = [event for group in groups for event in group.events]
    graph = next(e for e in events if e["event_name"] in ("LangGraph", "LangGraph.workflow"))  # the graph's run
    assert graph["event_type"] == "chain"
    assert graph["inputs"]["chat_history"] == [{"role": "user", "content": "Weather in Paris?"}]
    assert (graph["outputs"]["role"], graph["outputs"]["content"]) == ("assistant", PLAIN_ANSWER)  # the answer
    roles = [m["role"] for m in graph["outputs"]["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]  # LangChain's messages, as chat messages
    assert graph["outputs"]["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather"
    calls = [e for e in events if e["event_type"] == "model"]
    assert len(calls) == 2
    assert calls[0]["inputs"]["chat_history"][0] == {"role": "system", "content": "Be brief."}
    assert calls[1]["outputs"]["content"] == PLAIN_ANSWER
    assert all(call["metadata"]["prompt_tokens"] == 23 for call in calls)
    (weather,) = [e for e in events if e["event_type"] == "tool" and "get_weather" in e["event_name"]]
    assert "sunny in Paris" in str(weather["outputs"])
    # one trace under OpenInference; Traceloop's agent factory is a trace of its own, and its top span of the
    # run, invoke_agent, has no I/O of its own: its workflow child lends the session its own
    (group,) = [g for g in groups if g.properties["session_id"] == graph["session_id"]]
    assert group.properties["inputs"] == graph["inputs"]
    assert group.properties["outputs"]["content"] == PLAIN_ANSWER
