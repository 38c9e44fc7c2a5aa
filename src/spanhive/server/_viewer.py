"""The session viewer's pages: a session list and a session page (event tree, timing waterfall, fields).

Every value from the store is HTML-escaped where it is placed; pages load nothing from the network (one
stylesheet from this server) and forbid scripts with a Content-Security-Policy.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from importlib import resources
from string import Template
from typing import Any, Optional
from urllib.parse import quote, urlencode

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",  # no URL to other sites; and its own forms keep their Origin
}
STATIC = {"style.css": "text/css; charset=utf-8"}
_FIELDS = ("inputs", "outputs", "config", "metadata", "metrics", "feedback", "user_properties")


def _base(title: str, body: str, refresh_s: Optional[int] = None) -> str:
    """A page. ``refresh_s``: the browser loads it again after that many seconds (a ``<meta>`` refresh: pages
    stay live with no script, so the Content-Security-Policy can keep forbidding all of them)."""
    template = Template(
        resources.files("spanhive.server").joinpath("templates").joinpath("base.html").read_text("utf-8")
    )
    head = f'<meta http-equiv="refresh" content="{int(refresh_s)}">' if refresh_s else ""
    return template.substitute(title=escape(title), body=body, head=head)


def error_page(status: int, message: str) -> str:
    """What a browser shows for a page that is not there (an API client gets JSON)."""
    body = f"""
<p><a href="/">← all sessions</a></p>
<h1>{"Not found" if status == 404 else f"Error {status}"}</h1>
<p>{escape(message)}</p>"""
    return _base("Not found" if status == 404 else f"Error {status}", body)


def login_page(failed: bool) -> str:
    """The keyed viewer's one sign-in: the key goes in a form (never a URL), and comes back as a cookie."""
    note = '<p class="err">That is not this server\'s key.</p>' if failed else ""
    body = f"""
<h1>Sign in</h1>
<p class="muted">This server asks for its API key (SPANHIVE_SERVE_API_KEY).</p>
{note}
<form class="filters" method="post" action="/login">
  <input type="password" name="key" autocomplete="current-password" placeholder="API key" required autofocus>
  <button type="submit">Sign in</button>
</form>"""
    return _base("Sign in", body)


def _when(ms: Any) -> str:
    if not isinstance(ms, (int, float)):
        return "-"
    try:
        return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):  # a time no calendar holds, stored before it was refused
        return "?"


def _duration(ms: Any) -> str:
    if not isinstance(ms, (int, float)):
        return "-"
    if ms < 1000:
        return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"
    return f"{ms / 1000:.2f} s"


def _user(properties: Any) -> str:
    if not isinstance(properties, dict) or not properties:
        return ""
    value = properties.get("user_id", next(iter(properties.values())))
    return str(value)


def _cost(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


SINCE_CHOICES = (
    ("", "any time", 0),
    ("1h", "last hour", 3600),
    ("24h", "last 24 hours", 86400),
    ("7d", "last 7 days", 7 * 86400),
    ("30d", "last 30 days", 30 * 86400),
)
"""The session list's time ranges: a ``since`` value, its label, and how far back it reaches in seconds."""
LIVE_REFRESH_S = 5
"""How often a live page loads itself again."""


def session_list(
    sessions: list[dict[str, Any]],
    text: str,
    errors_only: bool,
    *,
    project: str = "",
    since: str = "",
    projects: Optional[list[str]] = None,
    live: bool = True,
) -> str:
    """The session list, with its filters; live (reloading every :data:`LIVE_REFRESH_S`) unless ``live`` is
    off, since a reload would lose what someone is typing into the filter."""
    rows = []
    for s in sessions:
        span = (
            (s["end_time"] - s["start_time"])
            if s.get("start_time") is not None and s.get("end_time") is not None
            else None
        )
        tokens = s.get("total_tokens")
        href = f"/sessions/{quote(s['session_id'], safe='')}"
        rows.append(
            "<tr>"
            f'<td><a href="{escape(href)}">{escape(s.get("session_name") or s["session_id"])}</a></td>'
            f"<td>{escape(s.get('project') or '-')}</td>"
            f"<td>{escape(s.get('source') or '-')}</td>"
            f"<td>{escape(_user(s.get('user_properties')))}</td>"
            f"<td>{escape(_when(s.get('start_time')))}</td>"
            f'<td class="num">{escape(_duration(span))}</td>'
            f'<td class="num">{s.get("event_count", 0)}</td>'
            f'<td class="num">{escape(str(int(tokens)) if isinstance(tokens, (int, float)) and tokens else "-")}</td>'
            f'<td class="num">{escape(_cost(s.get("cost")))}</td>'
            f'<td class="num{" err" if s.get("error_count") else ""}">{s.get("error_count", 0)}</td>'
            "</tr>"
        )
    filtered = bool(text or errors_only or project or since)
    empty = "No sessions match these filters." if filtered else "No sessions yet."
    project_options = "".join(
        f'<option value="{escape(p)}"{" selected" if p == project else ""}>{escape(p)}</option>'
        for p in dict.fromkeys([*(projects or []), *([project] if project else [])])
    )
    since_options = "".join(
        f'<option value="{value}"{" selected" if value == since else ""}>{label}</option>'
        for value, label, _ in SINCE_CHOICES
    )
    here = {"q": text, "errors": "1" if errors_only else "", "project": project, "since": since}
    toggle = "/?" + urlencode({**{k: v for k, v in here.items() if v}, **({"live": "0"} if live else {})})
    live_link = f'<a class="live" href="{escape(toggle)}">{"● live: pause" if live else "○ paused: go live"}</a>'
    body = f"""
<h1>Sessions</h1>
<form class="filters" method="get" action="/">
  <input type="search" name="q" value="{escape(text)}" placeholder="Filter by name, id, user, inputs or outputs">
  <select name="project"><option value="">all projects</option>{project_options}</select>
  <select name="since">{since_options}</select>
  <label><input type="checkbox" name="errors" value="1"{" checked" if errors_only else ""}> with errors only</label>
  {"" if live else '<input type="hidden" name="live" value="0">'}
  <button type="submit">Filter</button>
  {live_link}
</form>
<table id="sessions">
<thead><tr><th>Name</th><th>Project</th><th>Source</th><th>User</th><th>Start</th><th>Duration</th><th>Events</th>
<th>Tokens</th><th>Cost</th><th>Errors</th></tr></thead>
<tbody>
{"".join(rows) or f'<tr><td colspan="10" class="muted">{empty}</td></tr>'}
</tbody>
</table>"""
    return _base("Sessions", body, LIVE_REFRESH_S if live else None)


MAX_DEPTH = 200
"""Levels of nesting a tree shows; a deeper chain of events hangs at this depth, in order (a JSON answer or a
page nested thousands deep would exhaust the parsers that read it)."""


def tree(events: list[dict[str, Any]], session_id: str) -> list[dict[str, Any]]:
    """Events nested under their parents (by ``parent_id``), siblings in start order; cycles are cut, and
    nothing is nested deeper than :data:`MAX_DEPTH`. Built without recursion: a chain may be any length."""
    ids = {e["event_id"] for e in events}
    children: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        parent = event.get("parent_id") if event.get("parent_id") in ids else session_id
        children.setdefault(str(parent), []).append(event)
    seen: set[str] = set()
    top: list[dict[str, Any]] = []
    stack: list[tuple[str, list[dict[str, Any]], int]] = [(session_id, top, 0)]
    while stack:
        parent, into, depth = stack.pop()
        for event in children.get(parent, []):
            if event["event_id"] in seen:
                continue
            seen.add(event["event_id"])
            node: dict[str, Any] = {"event": event, "children": []}
            into.append(node)
            below = node["children"] if depth + 1 < MAX_DEPTH else into
            stack.append((event["event_id"], below, min(depth + 1, MAX_DEPTH - 1)))
    return top


def _flat(nodes: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    out: list[tuple[int, dict[str, Any]]] = []
    stack = [(0, node) for node in reversed(nodes)]
    while stack:
        depth, node = stack.pop()
        out.append((depth, node["event"]))
        stack.extend((depth + 1, child) for child in reversed(node["children"]))
    return out


def _json_block(value: Any) -> str:
    return f"<pre>{escape(json.dumps(value, indent=2, ensure_ascii=False, default=str))}</pre>"


def _message(message: Any) -> Optional[str]:
    if not isinstance(message, dict) or "role" not in message:
        return None
    role = str(message.get("role"))
    content = message.get("content")
    text = content if isinstance(content, str) else json.dumps(content, indent=2, ensure_ascii=False, default=str)
    extra = {k: v for k, v in message.items() if k not in ("role", "content")}
    more = f"<pre>{escape(json.dumps(extra, indent=2, ensure_ascii=False, default=str))}</pre>" if extra else ""
    css = role if role in ("user", "assistant", "system", "tool") else "other"
    return f'<div class="msg {css}"><span class="role">{escape(role)}</span>{escape(text or "")}{more}</div>'


def _field(name: str, value: Any) -> str:
    """A record field, readably: chat histories and assistant outputs as a conversation, the rest as JSON."""
    if not value:
        return ""
    parts = []
    if isinstance(value, dict):
        history = value.get("chat_history")
        if isinstance(history, list) and history:
            rendered = [_message(m) for m in history]
            if all(rendered):
                parts.append(f'<div class="chat">{"".join(r for r in rendered if r)}</div>')
                value = {k: v for k, v in value.items() if k != "chat_history"}
        elif name == "outputs" and "role" in value and "content" in value:
            rendered_output = _message(value)
            if rendered_output:
                parts.append(f'<div class="chat">{rendered_output}</div>')
                value = {k: v for k, v in value.items() if k not in ("role", "content")}
    if isinstance(value, dict):
        traces = {k: v for k, v in value.items() if isinstance(v, str) and k.endswith("stacktrace")}
        for key, trace in traces.items():  # as the text it is: a JSON string would show its newlines as \\n
            parts.append(f'<h4>{escape(key)}</h4><pre class="trace">{escape(trace)}</pre>')
        value = {k: v for k, v in value.items() if k not in traces}
    if value:
        parts.append(_json_block(value))
    return f'<section class="field {escape(name)}"><h3>{escape(name)}</h3>{"".join(parts)}</section>'


def session_page(session: dict[str, Any], live: bool = False) -> str:
    """A session's page; ``live`` (a session still receiving events): it reloads every :data:`LIVE_REFRESH_S`."""
    events = session["events"]
    nodes = _flat(tree(events, session["session_id"]))
    starts = [e["start_time"] for e in events if isinstance(e.get("start_time"), (int, float))]
    ends = [e["end_time"] for e in events if isinstance(e.get("end_time"), (int, float))]
    t0 = min(starts) if starts else 0
    total = max((max(ends) if ends else t0) - t0, 1)
    bars, details = [], []
    for depth, event in nodes:
        kind = str(event.get("event_type")) if event.get("event_type") in ("model", "chain", "tool") else "tool"
        start: float = event["start_time"] if isinstance(event.get("start_time"), (int, float)) else t0
        duration: float = event["duration"] if isinstance(event.get("duration"), (int, float)) else 0.0
        left = 100 * (start - t0) / total
        width = max(100 * duration / total, 0.2)
        failed = " failed" if event.get("error") else ""
        name = escape(str(event.get("event_name")))
        label = f'{"&nbsp;" * 3 * depth}<span class="type {kind}">{escape(kind)}</span> {name}'
        # SVG geometry, not inline CSS: the page's Content-Security-Policy allows no inline styles.
        bars.append(
            f'<div class="row"><span class="label">{label}</span>'
            f'<svg class="track" viewBox="0 0 1000 14" preserveAspectRatio="none">'
            f'<rect class="bar {kind}{failed}" x="{10 * left:.2f}" y="0" width="{10 * min(width, 100 - left):.2f}" '
            f'height="14"/></svg><span class="muted">{escape(_duration(duration))}</span></div>'
        )
        error = f' <span class="err">{escape(str(event["error"]))}</span>' if event.get("error") else ""
        fields = "".join(_field(name, event.get(name)) for name in _FIELDS)
        inputs = event.get("inputs")
        conversation = kind == "model" or (isinstance(inputs, dict) and bool(inputs.get("chat_history")))
        details.append(  # a model call opens on its conversation; the rest on a click
            f'<details class="event" id="{escape(event["event_id"])}"{" open" if conversation else ""}><summary>'
            f'{"&nbsp;" * 3 * depth}<span class="type {kind}">{escape(kind)}</span> '
            f"<strong>{escape(str(event.get('event_name')))}</strong> "
            f'<span class="muted">{escape(_duration(duration))}</span>{error}</summary>'
            f'<div class="fields">{fields or "<span class=muted>no fields</span>"}</div></details>'
        )
    facts = [
        ("Session", session["session_id"]),
        ("Source", session.get("source") or "-"),
        ("Project", session.get("project") or "-"),
        ("User", json.dumps(session.get("user_properties") or {}, ensure_ascii=False)),
        ("Start", _when(session.get("start_time"))),
        ("Events", str(session.get("event_count", len(events)))),
        ("Errors", str(session.get("error_count", 0))),
    ]
    if session.get("error"):
        facts.append(("Error", str(session["error"])))
    facts_html = "".join(f"<span class=muted>{escape(k)}</span><span>{escape(v)}</span>" for k, v in facts)
    session_fields = "".join(_field(name, session.get(name)) for name in _FIELDS)
    body = f"""
<p><a href="/">← all sessions</a></p>
<h1>{escape(session.get("session_name") or session["session_id"])}</h1>
<div class="facts">{facts_html}</div>
<h2>Timeline</h2>
<div class="waterfall" id="waterfall">{"".join(bars) or '<span class="muted">No events.</span>'}</div>
<h2>Events</h2>
<div id="events">{"".join(details)}</div>
{f'<h2>Session</h2><div class="fields">{session_fields}</div>' if session_fields else ""}"""
    return _base(str(session.get("session_name") or session["session_id"]), body, LIVE_REFRESH_S if live else None)
