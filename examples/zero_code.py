"""An application that knows nothing of spanhive's set-up: run it under ``opentelemetry-instrument``.

    OTEL_TRACES_EXPORTER=spanhive OTEL_SERVICE_NAME=zero-code-demo opentelemetry-instrument python examples/zero_code.py

Everything comes from environment variables (``SPANHIVE_*`` / ``HH_*``; with none, the embedded store).
The only spanhive call is ``session()``, which the zero-code set-up honours too.
"""

from __future__ import annotations

from opentelemetry import trace

import spanhive

tracer = trace.get_tracer("zero-code-demo")

if __name__ == "__main__":
    with spanhive.session(name="nightly report"):
        with tracer.start_as_current_span("build_report"):
            for section in ("sales", "support"):
                with tracer.start_as_current_span(f"summarise_{section}") as span:
                    span.set_attribute("gen_ai.operation.name", "chat")
                    span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
                    span.set_attribute("gen_ai.usage.input_tokens", 900)
                    span.set_attribute("gen_ai.usage.output_tokens", 120)
    print("report built")
