"""The session viewer in a real browser: Playwright driving Debian's headless Chromium (no browser download).

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; CI's set-up installs it). Without it these tests
are skipped with that reason, so the suite still runs on a machine with only Python.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from spanhive.server import IngestServer
from spanhive.store import Store

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)
SCREENSHOT = ROOT / "docs" / "viewer-session.png"
LIST_SCREENSHOT = ROOT / "docs" / "viewer-sessions.png"
UPDATE = os.environ.get("SPANHIVE_UPDATE_SCREENSHOT") == "1"  # read before the hermetic fixture clears SPANHIVE_*


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestServer]:
    """A server holding the quickstart's session (sent by its exporter over HTTP) and a hostile one."""
    tmp = tmp_path_factory.mktemp("viewer")
    store = Store(tmp / "viewer.db")
    with IngestServer(store, port=0) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANHIVE_", "HH_", "PYTEST_"))}
        env.update(SPANHIVE_ENDPOINT=server.url, XDG_STATE_HOME=str(tmp / "state"))
        subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], env=env, check=True, timeout=60)
        started = requests.post(
            server.url + "/session/start",
            json={"session": {"session_name": "<img src=x onerror=alert(2)>"}},
            timeout=10,
        )
        hostile = {
            "event_type": "model",
            "event_name": "<b>bold?</b>",
            "inputs": {"chat_history": [{"role": "user", "content": "<script>alert(1)</script>"}]},
            "outputs": {"role": "assistant", "content": "</pre><script>alert(3)</script>"},
            "session_id": started.json()["session_id"],
        }
        posted = requests.post(server.url + "/events", json={"event": json.dumps(hostile)}, timeout=10)
        assert posted.status_code == 200
        yield server
    store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only where a browser exists

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield launched
        launched.close()


def test_list_then_session_page_with_tree_and_waterfall(served: IngestServer, browser: object, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(served.url + "/")
    rows = page.locator("#sessions tbody tr")
    assert rows.count() == 2
    quickstart = page.locator("#sessions a", has_text="answer_question")
    assert quickstart.count() == 1
    row = page.locator("#sessions tbody tr", has_text="answer_question").locator("td")
    assert row.nth(1).inner_text() == "support-bot"  # the project column
    assert page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "5"  # live while apps send
    shot = browser.new_page(viewport={"width": 1400, "height": 260})  # type: ignore[attr-defined]
    shot.goto(served.url + "/?project=support-bot")  # the README's picture: the quickstart's session
    shot.screenshot(path=str(tmp_path / "sessions.png"))
    shot.close()
    if UPDATE:
        shutil.copy(tmp_path / "sessions.png", LIST_SCREENSHOT)
    quickstart.click()
    page.wait_for_selector("#waterfall")
    assert page.locator("h1").inner_text() == "answer_question"
    assert page.locator("#waterfall .bar").count() == 4
    assert page.locator("#waterfall .bar.failed").count() == 1
    names = page.locator("#events details summary strong").all_inner_texts()
    assert names == ["answer_question", "search_docs", "openai.chat", "send_followup_email"]
    chat = page.locator("#events details", has_text="openai.chat").locator(".chat .msg")
    assert chat.count() == 3  # system, user, and the assistant's answer: open with no click
    assert chat.nth(2).is_visible()
    assert "refund" in chat.nth(2).inner_text()
    assert not page.locator("#events details", has_text="search_docs").locator(".fields").is_visible()
    failed = page.locator("#events details", has_text="send_followup_email")
    failed.locator("summary").click()
    trace = failed.locator("pre.trace")
    assert trace.count() == 1  # the stack trace as text: lines, not a JSON string with \n in it
    assert len(trace.inner_text().splitlines()) > 2
    assert "\\n" not in trace.inner_text()
    page.screenshot(path=str(tmp_path / "session.png"), full_page=True)
    if UPDATE:
        shutil.copy(tmp_path / "session.png", SCREENSHOT)
    assert (tmp_path / "session.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert dialogs == []
    page.close()


def test_hostile_values_render_as_text_and_run_nothing(served: IngestServer, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(served.url + "/")
    page.locator("#sessions a", has_text="<img src=x onerror=alert(2)>").click()
    page.wait_for_selector("#events")
    for details in page.locator("#events details:not([open])").all():
        details.locator("summary").click()
    text = page.locator("#events").inner_text()
    assert "<script>alert(1)</script>" in text  # shown, as text
    assert "<b>bold?</b>" in text
    assert "</pre><script>alert(3)</script>" in text
    assert page.locator("script").count() == 0
    assert page.locator("img").count() == 0
    page.wait_for_timeout(300)
    assert dialogs == []
    page.close()


def test_filters(served: IngestServer, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(served.url + "/?errors=1")
    assert page.locator("#sessions a").all_inner_texts() == ["answer_question"]
    page.fill("input[name=q]", "user-42")
    page.click("button[type=submit]")
    assert page.locator("#sessions a").all_inner_texts() == ["answer_question"]
    page.goto(served.url + "/?q=nothing-matches-this")
    assert "No sessions match these filters." in page.locator("#sessions").inner_text()
    page.goto(served.url + "/")
    page.select_option("select[name=project]", "support-bot")
    page.click("button[type=submit]")
    assert page.locator("#sessions a").all_inner_texts() == ["answer_question"]
    page.select_option("select[name=since]", "1h")
    page.click("button[type=submit]")
    assert page.locator("#sessions a").all_inner_texts() == ["answer_question"]
    assert "since=1h" in page.url
    page.click("a.live")  # pause: no reload while someone reads or types; the filters stay
    assert page.locator('meta[http-equiv="refresh"]').count() == 0
    assert "project=support-bot" in page.url
    page.close()


def test_id_prefixes_resolve_and_unknown_pages_are_pages(served: IngestServer, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(served.url + "/")
    href = page.locator("#sessions a", has_text="answer_question").get_attribute("href")
    assert href is not None
    page.goto(served.url + href[:18])  # /sessions/ and the id's first 8 characters
    assert page.url == served.url + href
    assert page.locator("h1").inner_text() == "answer_question"
    answer = page.goto(served.url + "/sessions/no-such-session")
    assert answer is not None
    assert answer.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert "no session 'no-such-session'" in page.locator("main").inner_text()
    assert page.locator("a", has_text="all sessions").count() == 1
    api = requests.get(served.url + "/sessions/no-such-session", timeout=10)  # not a browser: JSON
    assert (api.status_code, api.json()["success"]) == (404, False)
    page.close()


def test_the_committed_screenshot_exists() -> None:
    """The README shows the session list and a session's page; the pictures must be there and be PNGs."""
    for picture in (SCREENSHOT, LIST_SCREENSHOT):
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"docs/{picture.name}" in (ROOT / "README.md").read_text()
