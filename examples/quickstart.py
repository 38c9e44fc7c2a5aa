"""A small support bot, traced with OpenTelemetry and exported by spanhive with no configuration at all.

One question makes one session: a chain that searches the docs (tool), asks a model (with the chat
messages, model settings and token counts), and tries to send a follow-up e-mail that fails. With no API
key and no endpoint set, spanhive writes the session to its embedded SQLite store; the end of this script
reads it back. Run ``spanhive sessions`` and ``spanhive show <id>`` afterwards to see it again.
"""

from __future__ import annotations

import time

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

import spanhive
from spanhive.store import Store

exporter = spanhive.SessionExporter()  # no arguments: env vars, else the embedded store
provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
provider.add_span_processor(BatchSpanProcessor(exporter))
tracer = provider.get_tracer("quickstart")

DOCS = {
    "refund": "Refunds are issued within 5 business days to the original payment method.",
    "shipping": "Orders ship within 24 hours; tracking links arrive by e-mail.",
}


def search_docs(query: str) -> list[str]:
    with tracer.start_as_current_span("search_docs") as span:
        span.set_attribute("honeyhive_event_type", "tool")
        span.set_attribute("honeyhive_inputs.query", query)
        time.sleep(0.01)  # the "index"
        hits = [text for topic, text in DOCS.items() if topic in query.lower()]
        for i, hit in enumerate(hits):
            span.set_attribute(f"honeyhive_outputs.documents.{i}", hit)
        return hits


def call_model(question: str, context: list[str]) -> str:
    """Stands in for a chat-completions call; records what a real LLM span records."""
    messages = [
        {
            "role": "system",
            "content": "You answer customer questions using the context.\n" + "\n".join(context),
        },
        {"role": "user", "content": question},
    ]
    with tracer.start_as_current_span("openai.chat") as span:
        span.set_attribute("honeyhive_event_type", "model")
        for i, message in enumerate(messages):
            span.set_attribute(f"honeyhive_inputs.chat_history.{i}.role", message["role"])
            span.set_attribute(f"honeyhive_inputs.chat_history.{i}.content", message["content"])
        span.set_attribute("honeyhive_config.model", "gpt-4o-mini")
        span.set_attribute("honeyhive_config.provider", "openai")
        span.set_attribute("honeyhive_config.temperature", 0.2)
        time.sleep(0.05)  # the "network"
        answer = "Your refund will reach your card within 5 business days." if context else "Let me check."
        span.set_attribute("honeyhive_outputs.role", "assistant")
        span.set_attribute("honeyhive_outputs.content", answer)
        span.set_attribute("honeyhive_metadata.prompt_tokens", 61)
        span.set_attribute("honeyhive_metadata.completion_tokens", 14)
        span.set_attribute("honeyhive_metadata.total_tokens", 75)
        return answer


def send_followup_email(address: str) -> None:
    with tracer.start_as_current_span("send_followup_email") as span:
        span.set_attribute("honeyhive_event_type", "tool")
        span.set_attribute("honeyhive_inputs.to", address)
        raise ConnectionError("SMTP server smtp.internal:25 refused the connection")


def answer_question(question: str, user_id: str) -> str:
    with tracer.start_as_current_span("answer_question") as span:
        span.set_attribute("user.id", user_id)
        span.set_attribute("honeyhive_inputs.question", question)
        answer = call_model(question, search_docs(question))
        try:
            send_followup_email("customer@example.com")
        except ConnectionError as exc:
            span.add_event("followup_skipped", {"reason": str(exc)})
        span.set_attribute("honeyhive_outputs.answer", answer)
        span.set_status(Status(StatusCode.OK))
        return answer


if __name__ == "__main__":
    print("Q: When do I get my refund?")
    print("A:", answer_question("When do I get my refund?", user_id="user-42"))
    provider.shutdown()  # flushes the batch processor: the session is now in the store

    where = exporter.settings.store_path
    if where is None:
        print(f"Sessions were sent to {exporter.settings.endpoint}.")
        raise SystemExit(0)
    store = Store(where, readonly=True)
    latest = store.list_sessions(limit=1)[0]
    session = store.get_session(latest["session_id"])
    assert session is not None
    print(f"\nStored in {where}:")
    print(f"session {session['session_id']}  {session['session_name']!r}  user={session['user_properties']}")
    for event in session["events"]:
        error = f"  ERROR: {event['error']}" if event["error"] else ""
        print(f"  {event['event_type']:<5}  {event['event_name']:<20} {event['duration']:8.1f} ms{error}")
    print(f"\nSee it again with:  spanhive show {session['session_id']}")
