// A small agent turn from the OpenTelemetry JavaScript SDK to an OTLP/HTTP endpoint: argv[2] is the traces
// URL, argv[3] "json" or "protobuf". The root names the session and user; a child is an LLM call.
const { NodeTracerProvider, SimpleSpanProcessor } = require("@opentelemetry/sdk-trace-node");
const { resourceFromAttributes } = require("@opentelemetry/resources");
const { SpanStatusCode } = require("@opentelemetry/api");

const [url, protocol] = process.argv.slice(2);
const { OTLPTraceExporter } =
  protocol === "protobuf"
    ? require("@opentelemetry/exporter-trace-otlp-proto")
    : require("@opentelemetry/exporter-trace-otlp-http");

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ "service.name": "js-shop" }),
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url }))],
});
provider.register(); // the async-hooks context manager, so that a child started in a callback has its parent
const tracer = provider.getTracer("js-app", "1.0.0");

async function main() {
  await tracer.startActiveSpan("checkout", { attributes: { "session.id": "js-session-1", "user.id": "grace" } },
    async (root) => {
      root.setAttribute("input.value", "buy 2 apples");
      tracer.startActiveSpan("ChatCompletion", {
        attributes: {
          "openinference.span.kind": "LLM",
          "llm.model_name": "gpt-4o-mini",
          "llm.input_messages.0.message.role": "user",
          "llm.input_messages.0.message.content": "buy 2 apples",
          "llm.token_count.prompt": 7,
          "retries": 2,
          "ratio": 0.25,
        },
      }, (llm) => {
        llm.setStatus({ code: SpanStatusCode.ERROR, message: "rate limited" });
        llm.end();
      });
      root.setAttribute("output.value", "done");
      root.end();
    });
  await provider.forceFlush();
  await provider.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
