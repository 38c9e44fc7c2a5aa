"""No secret leaves the process, whatever shape and wherever it is: an application's spans (a real SDK
provider) carry each secret below in every position instrumentations put text (prompts in three
conventions, JSON-string attributes, tool arguments, exceptions, status, URLs, flat web spans, odd key
names), and none of them reaches the wire."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.trace import Status, StatusCode

import spanhive
from spanhive._pipeline import privacy
from spanhive._pipeline.privacy import scrub
from tests.capture import CaptureServer
from tests.test_exporter import Recorded

SECRETS = {
    "openai": "sk-proj-Zq3vB8yXk2LmN9pQrS4tUvWx",
    "anthropic": "sk-ant-api03-AbCdEfGhIjKlMnOpQrSt",
    "bearer": "eyQ3x9TokenValue42abc",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "pem": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    "url_password": "hunter2pass",
    "query_key": "q9s8d7f6g5h4",
    "signature": "Zm9vYmFyc2lnbmF0dXJl",
    "connection": "dbPassw0rd!",
    "json_key": "json-secret-7788",
    "camel": "camelCaseSecret99",
    "env": "envSecretValue1234",
}


def _app(recorded: Recorded) -> None:
    s = SECRETS
    provider, _ = recorded
    tracer = provider.get_tracer("leaky-app")
    prose = f"my key is {s['openai']}, and use Authorization: Bearer {s['bearer']}"
    with tracer.start_as_current_span("agent", attributes={"session.id": "leak", "input.value": prose}) as root:
        with tracer.start_as_current_span(
            "ChatCompletion",
            attributes={
                "openinference.span.kind": "LLM",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": f"aws {s['aws']} and jwt {s['jwt']}",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": f"-----BEGIN PRIVATE KEY-----\n{s['pem']}\n"
                "-----END PRIVATE KEY-----",
            },
        ):
            pass
        with tracer.start_as_current_span(
            "chat gpt-4o",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": f"{s['anthropic']} please"}]}]
                ),
                "gen_ai.tool.call.arguments": json.dumps({"api_key": s["json_key"], "city": "Paris"}),
            },
        ):
            pass
        with tracer.start_as_current_span(
            "workflow.task",
            attributes={
                "traceloop.span.kind": "task",
                "traceloop.entity.input": json.dumps({"args": [], "kwargs": {"accessToken": s["camel"]}}),
                "traceloop.entity.output": json.dumps({"password": s["json_key"]}),
            },
        ):
            pass
        with tracer.start_as_current_span(
            "GET",
            attributes={
                "http.request.method": "GET",
                "url.full": f"https://bob:{s['url_password']}@api.example.com/v1?api_key={s['query_key']}"
                f"&sig={s['signature']}",
                "http.url": f"https://api.example.com/?X-Amz-Signature={s['signature']}",
                "db.connection_string": f"Server=db;Password={s['connection']}",
                "db.query.text": f"-- Server=db;Password={s['connection']};",
                "env.AWS_SECRET_ACCESS_KEY": s["env"],
                "env.STRIPE_SECRET_KEY": s["env"],
                "clientSecret": s["camel"],
                "jwt": s["jwt"],
                "passphrase": s["camel"],
            },
        ):
            pass
        with tracer.start_as_current_span(
            "POST /hooks", attributes={"http.route": "/hooks", "app.notes": ("first", f"then {s['openai']}")}
        ) as plain:  # a span no convention reads: its array attributes and its error are scrubbed too
            plain.set_status(Status(StatusCode.ERROR, f"postgres://bob:{s['url_password']}@db/shop refused"))
        with tracer.start_as_current_span("tool", attributes={"openinference.span.kind": "TOOL"}) as tool:
            try:
                raise PermissionError(f"key {s['openai']} was revoked")
            except PermissionError as exc:
                tool.record_exception(exc)
                tool.set_status(Status(StatusCode.ERROR, f"auth failed for Bearer {s['bearer']}"))
        root.set_attribute("output.value", f"done with {s['aws']}")


def test_no_secret_of_any_shape_reaches_the_wire(recorded: Recorded, capture: CaptureServer) -> None:
    _app(recorded)
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k", compression="none")
    exporter.export(recorded[1].get_finished_spans())
    wire = b"".join(r.body_json for r in capture.requests).decode()
    assert len(capture.requests) == 1
    leaked = {name: secret for name, secret in SECRETS.items() if secret in wire}
    assert leaked == {}
    assert "[REDACTED]" in wire
    assert "REDACTED:REDACTED@api.example.com" in wire  # the URL keeps its shape
    assert "Paris" in wire  # only the secrets go: the rest of a JSON string stays
    assert exporter.stats.get("redacted") >= len(SECRETS)


@pytest.mark.parametrize(
    "text",
    [
        "basic authentication and token accounting",
        "a task-management question about disks",
        '{"city": "Paris", "days": 3}',
        "https://example.com/search?q=weather&page=2",
        "prompt_tokens 12, total_tokens 40",
    ],
)
def test_text_with_no_secret_is_left_as_it_is(text: str) -> None:
    assert scrub(text) is text


def _every_pattern(text: str) -> str:
    """What :func:`scrub` must give: every shape searched in every string, with no test to skip a search."""
    p = privacy
    out = p._SK.sub(p.REDACTED, text)
    out = p._BEARER.sub(lambda m: m.group(1) + p.REDACTED, out)
    out = p._AWS_KEY_ID.sub(p.REDACTED, out)
    out = p._JWT.sub(p.REDACTED, out)
    out = p._PEM.sub(p.REDACTED, out)
    out = p._QUERY.sub(lambda m: m.group(1) + "REDACTED", p._URL_USER.sub(r"\1REDACTED:REDACTED@", out))
    out = p._CONNECTION.sub(lambda m: m.group(1) + p.REDACTED, out)
    if out[:1] in ("{", "[") and p._JSON_KEY.search(out):
        out = p._scrub_json(out)
    return out


_PIECES = st.sampled_from(
    [*SECRETS.values(), "sk-", "Bearer ", "bearer ", "AKIA", "eyJ", "-----BEGIN RSA PRIVATE KEY-----", "://",
     "https://u:p@h/?token=", "Password=", "pwd =", '{"api_key": "', '"}', "[", " ", "-", ":", "=", "é", "日本"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=12).map("".join))
def test_the_quick_tests_never_skip_a_secret(text: str) -> None:
    """The one-character tests that let most strings skip the search never let a secret through."""
    expected = _every_pattern(text) if len(text) >= privacy._SHORTEST else text
    assert scrub(text) == expected


def test_content_can_be_withheld_keeping_structure_tokens_and_timings(
    recorded: Recorded, capture: CaptureServer
) -> None:
    provider, memory = recorded
    with provider.get_tracer("t").start_as_current_span(
        "ChatCompletion",
        attributes={
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "my diagnosis is private",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "so is my answer",
            "llm.token_count.prompt": 7,
            "llm.token_count.completion": 5,
        },
    ):
        pass
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k", capture_content=False)
    exporter.export(memory.get_finished_spans())
    wire = capture.requests[0].body_json.decode()
    assert "private" not in wire
    assert "so is my answer" not in wire
    (event,) = [e for e in capture.events() if e["event_type"] == "model"]
    assert event["inputs"]["chat_history"] == [{"role": "user", "content": "[withheld]"}]
    assert event["outputs"]["role"] == "assistant"
    assert event["metadata"]["prompt_tokens"] == 7
    assert event["config"]["model"] == "gpt-4o"
    assert event["duration"] >= 0
