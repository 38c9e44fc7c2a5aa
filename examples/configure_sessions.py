"""One-line set-up and sessions: a chat with two turns, each its own trace, joined into one session.

    python examples/configure_sessions.py

``spanhive.configure()`` builds (or reuses) the tracer provider; ``spanhive.session()`` makes every span
started inside belong to one session; ``enrich_span`` / ``enrich_session`` attach values as they become
known. With no configuration, sessions go to the embedded store; the end of the script reads this one back.
"""

from __future__ import annotations

import subprocess
import sys

from opentelemetry import trace

import spanhive

provider = spanhive.configure(project="concierge")
tracer = trace.get_tracer("concierge")


def turn(question: str, answer: str) -> None:
    with tracer.start_as_current_span("turn"):
        spanhive.enrich_span(inputs={"question": question})
        with tracer.start_as_current_span("llm") as llm:
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            llm.set_attribute("gen_ai.usage.input_tokens", 40)
            llm.set_attribute("gen_ai.usage.output_tokens", 12)
            spanhive.enrich_span(outputs={"role": "assistant", "content": answer})
        spanhive.enrich_span(outputs={"answer": answer})


if __name__ == "__main__":
    with spanhive.session(name="hotel booking", user_properties={"user_id": "guest-7"}) as chat:
        turn("Is there a room on Friday?", "Yes, a double room is free.")
        turn("Book it, please.", "Booked: confirmation HB-2211.")
        with tracer.start_as_current_span("feedback"):
            spanhive.enrich_session(feedback={"rating": 5}, metadata={"channel": "web"})
    delivered = spanhive.flush(timeout_s=10)
    print(f"session {chat.session_id} delivered: {delivered}")
    # With no endpoint configured it went to the embedded store: show it as the CLI does.
    subprocess.run([sys.executable, "-m", "spanhive", "show", chat.session_id], check=False)
