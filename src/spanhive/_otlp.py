"""OTLP/HTTP trace requests in, SDK ``ReadableSpan`` objects out, for the same stages the exporter runs.

Both encodings the OTLP/HTTP specification defines are read: binary protobuf (``application/x-protobuf``)
and OTLP's JSON (``application/json``), which differs from protobuf's canonical JSON mapping in that
``traceId``, ``spanId`` and ``parentSpanId`` are hex strings, not base64 (enum values may be integers,
64-bit integers strings, both of which the canonical parser takes). The messages are the official
definitions from ``opentelemetry-proto``.

A decoded span's parent is remote when the span's ``flags`` say so (OTLP 1.x: bit 8 says the flag is set, bit
9 is the flag), so a downstream service's local root is a local root here too.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from typing import Any, Optional

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

_KINDS = {1: SpanKind.INTERNAL, 2: SpanKind.SERVER, 3: SpanKind.CLIENT, 4: SpanKind.PRODUCER, 5: SpanKind.CONSUMER}
_STATUS = {1: StatusCode.OK, 2: StatusCode.ERROR}
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_HEX_IDS = ("traceId", "spanId", "parentSpanId")


class OtlpError(ValueError):
    """A body that is not an OTLP trace request in the encoding it claims."""


def decode(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """The request in ``body``; raises :class:`OtlpError` with the reason if it cannot be read."""
    request = ExportTraceServiceRequest()
    if content_type == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError) as exc:
            raise OtlpError(f"not an OTLP protobuf trace request: {exc}") from None
        return request
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise OtlpError("an OTLP JSON trace request is an object")
        json_format.ParseDict(_ids_as_base64(data), request, ignore_unknown_fields=True)
    except OtlpError:
        raise
    except (ValueError, json_format.ParseError, RecursionError, TypeError) as exc:
        raise OtlpError(f"not an OTLP JSON trace request: {exc}") from None
    return request


def response(content_type: str, rejected: int = 0, message: str = "") -> bytes:
    """The answer, in the encoding of the request: ``partial_success`` says how many spans were rejected,
    and why (left out when none were, as the specification allows)."""
    answer = ExportTraceServiceResponse()
    if rejected:
        answer.partial_success.rejected_spans = rejected
        answer.partial_success.error_message = message
    if content_type == PROTOBUF:
        return answer.SerializeToString()
    return json_format.MessageToJson(answer, indent=None).encode() if rejected else b"{}"


def error_status(content_type: str, code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` (``code``, ``message``) in the request's encoding: the error body OTLP/HTTP
    prescribes. Written by hand (two fields) rather than pulling in another package for the message."""
    if content_type == PROTOBUF:
        text = message.encode("utf-8", "replace")
        return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text
    return json.dumps({"code": code, "message": message}).encode()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


INVALID_ARGUMENT = 3  # google.rpc.Code
RESOURCE_EXHAUSTED = 8
UNAVAILABLE = 14
UNAUTHENTICATED = 16
_CODES = {401: UNAUTHENTICATED, 413: RESOURCE_EXHAUSTED, 429: RESOURCE_EXHAUSTED, 503: UNAVAILABLE}


def code_for(status: int) -> int:
    """The ``google.rpc.Code`` of an HTTP error status, for the ``Status`` body OTLP/HTTP answers errors with."""
    return _CODES.get(status, INVALID_ARGUMENT)


def _ids_as_base64(data: dict[str, Any]) -> dict[str, Any]:
    """OTLP JSON's hex ids as the base64 the canonical protobuf parser expects (in spans and their links).
    What is not shaped like a request is left for the parser to refuse."""
    for resource_spans in _items(data, "resourceSpans"):
        for scope_spans in _items(resource_spans, "scopeSpans"):
            for span in _items(scope_spans, "spans"):
                _convert_ids(span)
                for link in _items(span, "links"):
                    _convert_ids(link)
    return data


def _items(record: Any, key: str) -> list[Any]:
    """``record[key]`` if ``record`` is an object and that is a list, else nothing."""
    value = record.get(key) if isinstance(record, dict) else None
    return value if isinstance(value, list) else []


def _convert_ids(record: Any) -> None:
    if not isinstance(record, dict):
        return
    for key in _HEX_IDS:
        value = record.get(key)
        if isinstance(value, str) and value:
            try:
                record[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise OtlpError(f"{key} {value!r} is not hex") from None


def spans(request: ExportTraceServiceRequest) -> tuple[list[ReadableSpan], int]:
    """The request's valid spans, each with its resource and instrumentation scope, and how many were not
    (a trace id not 16 bytes or all zero, a span id not 8 bytes or all zero: the specification's invalid)."""
    valid = []
    rejected = 0
    for span in _all_spans(request):
        if span is None:
            rejected += 1
        else:
            valid.append(span)
    return valid, rejected


def _all_spans(request: ExportTraceServiceRequest) -> Iterator[Optional[ReadableSpan]]:
    for resource_spans in request.resource_spans:
        resource = Resource(_attributes(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            instrumentation = InstrumentationScope(
                scope.name, scope.version or None, None, _attributes(scope.attributes)
            )
            for span in scope_spans.spans:
                valid = len(span.trace_id) == 16 and len(span.span_id) == 8 and any(span.trace_id) and any(span.span_id)
                yield _span(span, resource, instrumentation) if valid else None


def _span(span: Any, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
    trace_id = int.from_bytes(span.trace_id, "big")
    context = SpanContext(trace_id, int.from_bytes(span.span_id, "big"), False, TraceFlags(span.flags & 0xFF))
    parent: Optional[SpanContext] = None
    if span.parent_span_id:
        remote = bool(span.flags & _HAS_IS_REMOTE) and bool(span.flags & _IS_REMOTE)
        parent = SpanContext(trace_id, int.from_bytes(span.parent_span_id, "big"), remote)
    status = _STATUS.get(span.status.code, StatusCode.UNSET)
    return ReadableSpan(
        name=span.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=_attributes(span.attributes),
        events=[Event(e.name, _attributes(e.attributes), e.time_unix_nano) for e in span.events],
        kind=_KINDS.get(span.kind, SpanKind.INTERNAL),
        status=Status(status, span.status.message or None) if status is StatusCode.ERROR else Status(status),
        start_time=span.start_time_unix_nano or None,
        end_time=span.end_time_unix_nano or None,
        instrumentation_scope=scope,
    )


def _attributes(pairs: Sequence[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: AnyValue, depth: int = 0) -> Any:
    """An ``AnyValue`` as the Python value an SDK attribute would hold (arrays as tuples); nested key-value
    lists as dicts, which mapping reads as nested values."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if depth > 32:
        return None
    if kind == "array_value":
        return tuple(_value(item, depth + 1) for item in value.array_value.values)
    if kind == "kvlist_value":
        return {pair.key: _value(pair.value, depth + 1) for pair in value.kvlist_value.values}
    return None
