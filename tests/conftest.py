from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanhive import _registry
from spanhive._log import limited
from spanhive.server import IngestServer
from spanhive.store import Store
from tests.capture import CaptureServer

_PREFIXES = ("SPANHIVE_", "HH_", "OTEL_")
# LiteLLM downloads its price table when imported unless told to read the copy it ships: no test goes online.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

AT_FLOOR = os.environ.get("TEST_AT_FLOOR") == "1"
"""``tox -e floor``: spanhive's lowest declared dependencies, which the golden files' instrumentations and
protoc cannot be installed next to. Their tests run in every other environment (``py``, ``compiled``)."""
_NEWER_THAN_THE_FLOOR = [
    "test_golden.py",
    "test_frameworks.py",
    "test_traces_openai.py",
    "test_otlp.py",
    "test_honeyhive_sdk.py",
    "test_relay.py",
    "test_fleet.py",
    "test_honeyhive_api.py",
]
collect_ignore = _NEWER_THAN_THE_FLOOR if AT_FLOOR else []
needs_peers = pytest.mark.skipif(AT_FLOOR, reason="needs a newer OpenTelemetry or protobuf than spanhive's floor")


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's configuration or writes to their home directory."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    limited.reset()  # a rate-limited warning logged by an earlier test must not hide this test's


@pytest.fixture(autouse=True)
def no_exporter_outlives_its_test() -> Iterator[None]:
    """Shut down every exporter a test left running, so no spool drainer sends into a later test's server."""
    yield
    for exporter in _registry.live():
        exporter.shutdown(timeout_millis=2000)


def make_provider(exporter: SpanExporter, **resource: str) -> TracerProvider:
    """A real SDK provider exporting synchronously, so a test sees each span as soon as it ends."""
    provider = TracerProvider(resource=Resource.create(resource or {"service.name": "test-app"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture
def recorded() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A provider whose finished spans are kept in memory, to feed them to mapping code directly."""
    memory = InMemorySpanExporter()
    provider = make_provider(memory)
    yield provider, memory
    provider.shutdown()


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[IngestServer]:
    """``spanhive serve`` on a free loopback port, over a fresh store (a 1 MiB body limit, to test it)."""
    store = Store(tmp_path / "served.db")
    with IngestServer(store, port=0, max_body_bytes=1024 * 1024) as running:
        yield running
    store.close()
