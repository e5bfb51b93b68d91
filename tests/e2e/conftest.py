"""Browser journeys: Playwright (sync API) drives Debian's Chromium against Django's live server.

* No browser download: Chromium comes from apt (``.ci/run`` installs it); without
  ``/usr/bin/chromium`` every browser test is skipped, not failed.
* The store is the demo store (``integrator.services.demo``), its events delivered through the
  live server's real webhook endpoint, signed like a till would sign them.
* Journeys that must see what ``make run`` users see (``make_run`` + ``app_pages``) run against the
  application started as ``make run`` starts it: SQLite file database, ORM broker, a real worker.
* A failing test leaves a full-page screenshot in ``var/screenshots/failures/``; the journeys save
  the screenshots people look at (dashboard, a transaction, the approval queue) in ``var/screenshots/``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings

from tests.makerun import MakeRunApp

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the test
# itself (seeding, assertions) are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
EVENTS_PER_CHANNEL = 24


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Mark every test under tests/e2e as ``browser`` and skip them all without Chromium."""
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium)")
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if not os.path.exists(CHROMIUM):
                item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    """Keep each phase's report on the test item so the page fixture knows a test failed."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


def fresh_roles() -> None:
    """Give a flushed test database back the role groups the migrations grant.

    Browser tests are transactional (the live server reads what the test wrote), so each one ends
    with a flush; the flush's ``post_migrate`` recreates content types and permissions, and
    :func:`integrator.services.roles.ensure_roles` replays the migrations' grants. Serialized
    rollback is deliberately not used: with Playwright's event loop in this thread Django may look
    for the serialized contents on another connection object, skip the restore at one end and not
    the other, and collide with the rows ``post_migrate`` made.
    """
    from integrator.services.roles import ensure_roles

    ensure_roles()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (journeys on make run need no test database)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Pages:
    """Opens browser pages (one context each: separate logins) and screenshots failures."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.opened: list[Any] = []
        self.errors: list[str] = []

    def new(self) -> Any:
        """A fresh page (own cookies) at 1440x900, British locale, London time."""
        context = self.browser.new_context(
            viewport={"width": 1440, "height": 900}, base_url=self.base_url, locale="en-GB",
            timezone_id="Europe/London",
        )  # fmt: skip
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        # Every journey doubles as a CSP check: Chromium reports each blocked script, style,
        # handler or connection on the console; any such report fails the test (issue 14).
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"{page.url}: CSP: {msg.text}")
                if "Content Security Policy" in msg.text
                else None
            ),
        )
        self.opened.append(page)
        return page

    def login(self, username: str, password: str) -> Any:
        """A new page logged in as ``username``."""
        page = self.new()
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/login/" not in url)
        return page

    def close(self, failed_name: str | None) -> None:
        """Screenshot every open page if the test failed, then close them."""
        for i, page in enumerate(self.opened):
            if failed_name and not page.is_closed():
                target = SCREENSHOTS / "failures" / f"{failed_name}-{i}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(target), full_page=True)
            page.context.close()


def _finish(opened: Pages, request: Any) -> None:
    """Close a test's pages (screenshots if it failed); JavaScript errors fail the test."""
    report = getattr(request.node, "rep_call", None)
    opened.close(request.node.name if report is not None and report.failed else None)
    assert not opened.errors, opened.errors


@pytest.fixture
def pages(browser: Any, live_server: Any, request: Any) -> Iterator[Pages]:
    """Browser pages against the live server; JavaScript errors fail the test."""
    opened = Pages(browser, live_server.url)
    yield opened
    _finish(opened, request)


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[Callable[..., MakeRunApp]]:
    """Start the application exactly as ``make run`` does (tests/makerun.py): a SQLite file
    database, the ORM broker and a real worker, in their own processes; ``make_run(demo=True)``
    loads the demo first. Stopped with Ctrl-C after the test."""
    started: list[MakeRunApp] = []

    def start(*, demo: bool = False) -> MakeRunApp:
        app = MakeRunApp(tmp_path / f"var-{len(started)}", demo=demo)
        started.append(app)
        return app.start()

    yield start
    for app in started:
        app.stop()


@pytest.fixture
def app_pages(browser: Any, request: Any) -> Iterator[Callable[[MakeRunApp], Pages]]:
    """Browser pages against an application started with ``make_run``."""
    opened: list[Pages] = []

    def for_app(app: MakeRunApp) -> Pages:
        made = Pages(browser, app.url)
        opened.append(made)
        return made

    yield for_app
    for made in opened:
        _finish(made, request)


def save_screenshot(page: Any, name: str) -> Path:
    """A full-page screenshot under var/screenshots/ (not committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def demo_store(live_server: Any, transactional_db: Any) -> Any:
    """The demo store with a few days of signed events delivered over HTTP to the live server,
    processed, closed and posted like the worker would."""
    from integrator.services import demo
    from integrator.services.closing import close_past_days
    from integrator.services.posting import run_outbox

    fresh_roles()
    store = demo.setup_store()
    events = {
        slug: items[:EVENTS_PER_CHANNEL] for slug, items in demo.build_events(demo.local_today()).items()
    }

    def send(path: str, body: bytes, headers: dict[str, str]) -> int:
        return requests.post(live_server.url + path, data=body, headers=headers, timeout=30).status_code

    counts = demo.deliver(store, events, send)
    assert set(counts) == {"202"}, counts
    close_past_days()
    run_outbox(worker="e2e")
    return store
