"""Span → record mapping: pure functions, one module per span convention."""

from spanhive.mapping._sessions import SessionGroup, group_sessions
from spanhive.mapping._span import Defaults, SessionHint, map_span, map_span_safely

__all__ = ["Defaults", "SessionGroup", "SessionHint", "group_sessions", "map_span", "map_span_safely"]
