"""``spanhive serve`` against hostile pages in a real browser (Playwright driving Debian's Chromium, as the
viewer tests do): a page from another origin cannot store anything by form or ``no-cors`` fetch, a
DNS-rebinding page (its own name, resolving to loopback) reads nothing, and the keyed viewer works through
its sign-in form, with a cookie no script can read."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from spanhive.server import IngestServer
from spanhive.store import Store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)

_ATTACK = """<!doctype html><html><body>
<form id="form" action="{target}/events/batch" method="post" enctype="text/plain">
<input name='{{"events": [{{"event_type": "tool", "event_name": "forged-by-form", "inputs": {{}}, "x": "'
       value='"}}]}}'>
</form>
<script>
fetch("{target}/events/batch", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
  body: JSON.stringify({{events: [{{event_type: "tool", event_name: "forged-by-fetch", inputs: {{}}}}]}})}});
fetch("{target}/session/start", {{method: "POST", mode: "no-cors",
  body: JSON.stringify({{session: {{session_name: "forged-session"}}}})}});
setTimeout(() => document.getElementById("form").submit(), 300);
</script></body></html>"""


class _Attacker:
    """Another origin (another port): serves one page that attacks ``target``."""

    def __init__(self, target: str) -> None:
        page = _ATTACK.format(target=target).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/attack.html"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only where a browser exists

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                  "--host-resolver-rules=MAP evil.test 127.0.0.1"],  # a rebinding attacker's name, on loopback
        )  # fmt: skip
        yield launched
        launched.close()


def test_a_page_of_another_origin_stores_nothing(server: IngestServer, browser: Any) -> None:
    attacker = _Attacker(server.url)
    try:
        page = browser.new_page()
        page.goto(attacker.url)
        page.wait_for_timeout(1500)  # the fetches, then the form's submission, have all been answered
        page.close()
    finally:
        attacker.close()
    assert server.store.list_sessions() == []


def test_a_rebinding_page_reads_nothing(tmp_path: Path, browser: Any) -> None:
    store = Store(tmp_path / "rebind.db")
    with IngestServer(store, port=0) as served:
        body = {"session": {"session_name": "private-chat"}}
        assert requests.post(served.url + "/session/start", json=body, timeout=10).status_code == 200
        port = served.server_address[1]
        page = browser.new_page()
        answer = page.goto(f"http://evil.test:{port}/")  # the page's own origin, as after a DNS rebinding
        assert answer.status == 403
        assert "private-chat" not in page.content()
        api = page.goto(f"http://evil.test:{port}/v1/sessions/x")
        assert api.status == 403
        page.goto(f"http://127.0.0.1:{port}/")  # the server's own name still works
        assert "private-chat" in page.content()
        page.close()
    store.close()


def test_the_keyed_viewer_signs_in_through_its_form(tmp_path: Path, browser: Any) -> None:
    store = Store(tmp_path / "keyed.db")
    with IngestServer(store, port=0, api_key="k-viewer-1") as served:
        body = {"session": {"session_name": "signed-in-chat"}}
        headers = {"Authorization": "Bearer k-viewer-1"}
        assert requests.post(served.url + "/session/start", json=body, headers=headers, timeout=10).ok
        context = browser.new_context()
        page = context.new_page()
        page.goto(served.url + "/")
        assert page.url.endswith("/login")
        page.fill("input[name=key]", "wrong")
        page.click("button[type=submit]")
        assert "not this server's key" in page.content()
        page.fill("input[name=key]", "k-viewer-1")
        page.click("button[type=submit]")
        page.wait_for_selector("#sessions")
        assert "signed-in-chat" in page.locator("#sessions").inner_text()
        (cookie,) = context.cookies()
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert "k-viewer-1" not in cookie["value"]
        assert page.evaluate("document.cookie") == ""  # HttpOnly: a script on the page cannot read it
        context.close()
    store.close()
