from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class SpoolEntry(_message.Message):
    __slots__ = ("format_version", "body", "path", "encoding", "created_unix_nanos", "attempts", "body_crc32", "event_count")
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_NANOS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    BODY_CRC32_FIELD_NUMBER: _ClassVar[int]
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    format_version: int
    body: bytes
    path: str
    encoding: str
    created_unix_nanos: int
    attempts: int
    body_crc32: int
    event_count: int
    def __init__(self, format_version: _Optional[int] = ..., body: _Optional[bytes] = ..., path: _Optional[str] = ..., encoding: _Optional[str] = ..., created_unix_nanos: _Optional[int] = ..., attempts: _Optional[int] = ..., body_crc32: _Optional[int] = ..., event_count: _Optional[int] = ...) -> None: ...
