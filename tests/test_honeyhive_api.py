"""HoneyHive's official API client (``honeyhive`` 1.7.0) against ``spanhive serve`` over a real socket:
sessions started, events created one by one and in batches (current and legacy field names), model
events, enrichment, then everything read back through the client's own export and list calls. Every call
must succeed without a validation error in the SDK, and every value must come back as it was sent."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from honeyhive import HoneyHive
from honeyhive.models import (
    EventFilter,
    PostEventBatchRequest,
    PostEventRequest,
    StartSessionRequest,
    UpdateEventRequest,
)

from spanhive.server import IngestServer

T0 = 1_764_000_000_000  # epoch ms


def _by_session(client: HoneyHive, session_id: str) -> dict[str, dict[str, Any]]:
    """A session's events (its ``session`` event included), by name, through ``events.export``."""
    exported = client.events.export(
        filters=[EventFilter(field="session_id", operator="is", value=session_id, type="string")]
    )
    assert exported.total_events == len(exported.events)
    return {_plain(e)["event_name"]: _plain(e) for e in exported.events}


def _plain(event: Any) -> dict[str, Any]:
    return dict(event.model_dump() if hasattr(event, "model_dump") else event)


def test_the_client_starts_a_session_adds_events_enriches_and_reads_them_back(server: IngestServer) -> None:
    client = HoneyHive(api_key="local", server_url=server.url)
    started = client.sessions.start(
        StartSessionRequest(
            session={
                "session_name": "support-chat",
                "project": "shop",
                "source": "ci",
                "inputs": {"question": "Where is my order?"},
                "user_properties": {"user_id": "ada"},
                "metadata": {"channel": "web"},
            }
        )
    )
    sid = started.session_id
    assert started.event_id == sid
    plan = client.events.create(
        PostEventRequest(
            event={
                "event_type": "chain",
                "event_name": "plan",
                "session_id": sid,
                "inputs": {"question": "Where is my order?"},
                "outputs": {"steps": ["look up", "answer"]},
                "start_time": T0,
                "end_time": T0 + 120,
                "duration": 120.0,
                "metadata": {"step": 1},
            }
        )
    )
    llm = client.events.create(
        PostEventRequest(
            event={
                "event_type": "model",
                "event_name": "gpt-4o",
                "session_id": sid,
                "parent_id": plan.event_id,
                "config": {"model": "gpt-4o", "temperature": 0.2},
                "inputs": {"chat_history": [{"role": "user", "content": "Where is my order?"}]},
                "outputs": {"role": "assistant", "content": "It ships tomorrow."},
                "start_time": T0 + 10,
                "end_time": T0 + 100,
                "metadata": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14},
            }
        )
    )
    assert plan.success
    assert llm.success
    client.events.update(UpdateEventRequest(event_id=llm.event_id, feedback={"liked": True}, metadata={"cost": 0.01}))
    client.events.update(  # what tracer.enrich_session sends: the session's id as the event id
        UpdateEventRequest(
            event_id=sid, metadata={"resolved": True}, feedback={"rating": 5}, metrics={"helpfulness": 0.9}
        )
    )

    events = _by_session(client, sid)
    assert set(events) == {"support-chat", "plan", "gpt-4o"}
    session = events["support-chat"]
    assert session["event_type"] == "session"
    assert session["event_id"] == sid
    assert session["inputs"] == {"question": "Where is my order?"}
    assert session["user_properties"] == {"user_id": "ada"}
    assert session["metadata"] == {"channel": "web", "resolved": True}  # merged, not replaced
    assert session["feedback"] == {"rating": 5}
    assert session["metrics"] == {"helpfulness": 0.9}
    assert sorted(session["children_ids"]) == [plan.event_id]
    model = events["gpt-4o"]
    assert model["event_type"] == "model"
    assert model["parent_id"] == plan.event_id
    assert model["config"] == {"model": "gpt-4o", "temperature": 0.2}
    assert model["outputs"] == {"role": "assistant", "content": "It ships tomorrow."}
    assert model["metadata"] == {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14, "cost": 0.01}
    assert model["feedback"] == {"liked": True}
    assert (model["start_time"], model["end_time"]) == (T0 + 10, T0 + 100)
    assert events["plan"]["outputs"] == {"steps": ["look up", "answer"]}
    assert events["plan"]["duration"] == 120.0

    got = client.events.export(filters=[{"field": "event_id", "operator": "is", "value": llm.event_id}])
    assert [_plain(e)["event_id"] for e in got.events] == [llm.event_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the SDK's own notice for its legacy helper
        by_session = client.events.get_by_session_id(sid)
    assert [_plain(e)["event_name"] for e in by_session.events] == ["support-chat", "plan", "gpt-4o"]  # by start


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"single_session": True, "session_properties": {"session_name": "batched"}}, "batched"),
        ({"is_single_session": True, "session": {"session_name": "legacy"}}, "legacy"),  # the deprecated names
    ],
    ids=["single_session", "legacy-names"],
)
def test_a_single_session_batch_makes_the_named_session_it_describes(
    server: IngestServer, fields: dict[str, Any], name: str
) -> None:
    client = HoneyHive(api_key="local", server_url=server.url)
    props = next(v for k, v in fields.items() if k in ("session_properties", "session"))
    props.update(start_time=T0 - 500, metadata={"run": "r1"}, user_properties={"user_id": "grace"})
    answer = client.events.create_batch(
        PostEventBatchRequest(
            events=[
                {"event_type": "tool", "event_name": "search", "inputs": {"query": "apples"}, "start_time": T0},
                {"event_type": "chain", "event_name": "answer", "inputs": {}, "outputs": {"text": "two"}},
            ],
            **fields,
        )
    )
    assert answer.success
    assert len(answer.event_ids) == 2
    events = _by_session(client, str(answer.session_id))
    assert set(events) == {name, "search", "answer"}
    session = events[name]
    assert session["start_time"] == T0 - 500  # session_properties.start_time is the session's start
    assert session["metadata"] == {"run": "r1"}
    assert session["user_properties"] == {"user_id": "grace"}
    assert events["search"]["inputs"] == {"query": "apples"}
    assert events["search"]["parent_id"] == answer.session_id


def test_a_batch_naming_no_session_answers_the_one_it_made(server: IngestServer) -> None:
    """It answered ``"session_id": null`` although it had made sessions; its events now share the one made."""
    client = HoneyHive(api_key="local", server_url=server.url)
    answer = client.events.create_batch(
        PostEventBatchRequest(
            events=[
                {"event_type": "tool", "event_name": "search", "inputs": {"query": "pears"}},
                {"event_type": "chain", "event_name": "answer", "inputs": {}, "outputs": {"text": "three"}},
            ]
        )
    )
    assert answer.success
    assert answer.session_id
    assert set(_by_session(client, str(answer.session_id))) >= {"search", "answer"}


def test_listing_pages_through_events_with_filters(server: IngestServer) -> None:
    client = HoneyHive(api_key="local", server_url=server.url)
    answer = client.events.create_batch(
        PostEventBatchRequest(
            events=[
                {
                    "event_type": "tool",
                    "event_name": f"step-{n}",
                    "inputs": {"n": n},
                    "start_time": T0 + n,
                    "metadata": {"cost": n / 10},
                }
                for n in range(5)
            ],
            single_session=True,
            session_properties={"session_name": "paged"},
        )
    )
    sid = str(answer.session_id)
    same = {"field": "session_id", "operator": "is", "value": sid, "type": "string"}
    tools = {"field": "event_type", "operator": "is", "value": "tool", "type": "string"}
    pages = [client.events.list({"filters": [same, tools], "limit": 2, "page": page}) for page in (1, 2, 3)]
    assert [[_plain(e)["event_name"] for e in p.events] for p in pages] == [
        ["step-0", "step-1"], ["step-2", "step-3"], ["step-4"]
    ]  # fmt: skip
    assert {p.totalEvents for p in pages} == {5}
    costly = {"field": "metadata.cost", "operator": "greater than", "value": 0.25, "type": "number"}
    expensive = client.events.export(filters=[same, costly])
    assert sorted(_plain(e)["event_name"] for e in expensive.events) == ["step-3", "step-4"]
    projected = client.events.export(filters=[same, tools], projections=["event_name", "inputs"], limit=1)
    assert next(_plain(e) for e in projected.events)["inputs"] == {"n": 0}


def test_errors_reach_the_sdk_with_spanhives_explanation(server: IngestServer) -> None:
    from honeyhive._generated.api_config import HTTPException  # noqa: PLC0415 - only here

    client = HoneyHive(api_key="local", server_url=server.url)
    with pytest.raises(HTTPException) as raised:
        client.events.create(PostEventRequest(event={"event_type": "banana", "inputs": {}}))
    assert raised.value.status_code == 400
    assert "event_type" in str(raised.value)  # the SDK shows the server's `message`
    with pytest.raises(HTTPException) as missing:
        client.events.update(UpdateEventRequest(event_id="no-such-event", metadata={"x": 1}))
    assert missing.value.status_code == 404
    assert "no-such-event" in str(missing.value)
