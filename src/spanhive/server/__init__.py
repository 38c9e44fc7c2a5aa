"""``spanhive serve``: the local HoneyHive-compatible ingest server and session viewer."""

from spanhive.server._app import DEFAULT_HOST, DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT, IngestServer, is_loopback

__all__ = ["DEFAULT_HOST", "DEFAULT_MAX_BODY_BYTES", "DEFAULT_PORT", "IngestServer", "is_loopback"]
