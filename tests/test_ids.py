"""Deterministic ids: version-4-shaped UUIDs derived from OTel ids, stable across calls and processes."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from spanhive import _ids


def test_event_ids_are_uuid4_shaped_and_stable() -> None:
    value = _ids.event_id(0x0AF7651916CD43DD8448EB211C80319C, 0x00F067AA0BA902B7)
    parsed = uuid.UUID(value)
    assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
    assert value == _ids.event_id(0x0AF7651916CD43DD8448EB211C80319C, 0x00F067AA0BA902B7)
    assert value != _ids.event_id(0x0AF7651916CD43DD8448EB211C80319C, 0x00F067AA0BA902B8)


def test_ids_are_the_same_in_another_process() -> None:
    """No per-process salt: any process maps any span to the same ids (Python's str hash is salted)."""
    code = "from spanhive import _ids; print(_ids.event_id(5, 7), _ids.session_id_for('conv-1')[0])"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert out == [_ids.event_id(5, 7), _ids.session_id_for("conv-1")[0]]


def test_trace_session_differs_from_every_event_of_the_trace() -> None:
    """Domain separation: a trace's session id never collides with an event id of the same numbers."""
    assert _ids.trace_session_id(5) != _ids.event_id(5, 0)


@pytest.mark.parametrize(
    ("value", "converted"),
    [
        pytest.param("7A1F3C2E-9B4D-4E5F-8A6B-1C2D3E4F5A6B", False, id="uuid-upper"),
        pytest.param("7a1f3c2e9b4d4e5f8a6b1c2d3e4f5a6b", False, id="uuid-hex"),
        pytest.param("conversation-42", True, id="external-id"),
        pytest.param("", True, id="empty"),
    ],
)
def test_session_ids_from_attributes(value: str, converted: bool) -> None:
    """A UUID is kept (canonicalised); anything else becomes a deterministic UUID flagged as converted."""
    session_id, was_converted = _ids.session_id_for(value)
    assert was_converted is converted
    assert uuid.UUID(session_id).version == 4 or not converted
    if not converted:
        assert session_id == str(uuid.UUID(value))
    assert _ids.session_id_for(value) == (session_id, was_converted)
