"""Browser tests: the real app on a real server, driven by Debian's Chromium through Playwright.

- ``live_server``: the app with a migrated SQLite file and the demo region, served by werkzeug on
  127.0.0.1 (a free port) in a background thread, CSRF on.
- ``browser``: Chromium from ``/usr/bin/chromium`` (never ``playwright install``).
- ``page``: a fresh context per test (de-DE); ``new_page(**context_options)`` for other contexts.
  Every page of a test is watched: a request that leaves 127.0.0.1, a console error (a CSP violation, say)
  or an uncaught script error fails the test.
- ``login(page, email, password)`` and ``assert_no_axe_violations(page, label)`` (axe-core, WCAG 2.1 A/AA).

Without Chromium or ``node_modules/axe-core`` the tests are skipped, loudly; with
``TOURBOOK_REQUIRE_BROWSER=1`` (CI) they fail instead."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("TOURBOOK_CHROMIUM", "/usr/bin/chromium"))
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DEMO_PASSWORD = "tourbook-demo"
LOCAL_HOSTS = {"127.0.0.1"}

# Like tests/conftest.py's BASE_CONFIG, but with CSRF on: the browser sends tokens like anyone's would.
LIVE_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "browser-test-secret-key",
    "WTF_CSRF_ENABLED": True,
    "RATELIMIT_ENABLED": False,
    "ARGON2_TIME_COST": 1,
    "ARGON2_MEMORY_COST": 8,
    "ARGON2_PARALLELISM": 1,
    "SERVER_NAME": None,
    # Show the app's own error page, as in production; the exception is still recorded (LiveServer.errors).
    "PROPAGATE_EXCEPTIONS": False,
}


# --- is there a browser? -----------------------------------------------------------------------------


def missing_browser_parts() -> list[str]:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if not AXE_JS.exists():
        missing.append(f"{AXE_JS.relative_to(ROOT)} (npm ci)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright (pip install -e '.[test]')")
    return missing


def browser_required() -> bool:
    return os.environ.get("TOURBOOK_REQUIRE_BROWSER") == "1"


_MISSING = missing_browser_parts()
_SKIP_REASON = "BROWSER TESTS NOT RUN - missing: " + "; ".join(_MISSING)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)
            if _MISSING and not browser_required():
                item.add_marker(pytest.mark.skip(reason=_SKIP_REASON))


def pytest_terminal_summary(terminalreporter: Any) -> None:  # noqa: ANN401
    if _MISSING and not browser_required():
        terminalreporter.section("browser tests", sep="!", red=True, bold=True)
        terminalreporter.line(_SKIP_REASON, red=True, bold=True)
        terminalreporter.line("Set TOURBOOK_REQUIRE_BROWSER=1 to make this a failure (CI does).", red=True)


@pytest.fixture(scope="session", autouse=True)
def _browser_parts_present() -> None:
    if _MISSING and browser_required():
        pytest.fail("TOURBOOK_REQUIRE_BROWSER=1 but " + _SKIP_REASON, pytrace=False)


# --- the server --------------------------------------------------------------------------------------


@dataclass
class LiveServer:
    url: str
    app: Any
    server: Any
    thread: threading.Thread
    # Exceptions the app raised while serving ("GET /path: Type: message"), for the tests to report.
    errors: list[str] = field(default_factory=list)

    def stop(self) -> None:
        from tourbook.extensions import db

        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()


def start_live_server(directory: Path) -> LiveServer:
    """Migrate a SQLite file in ``directory``, load the demo region and serve the app on a free port."""
    from flask import got_request_exception
    from flask_migrate import upgrade
    from werkzeug.serving import WSGIRequestHandler, make_server

    from tourbook import create_app
    from tourbook.demo import load_demo
    from tourbook.extensions import db

    uri = f"sqlite:///{directory / 'tourbook.sqlite'}"
    app = create_app({**LIVE_CONFIG, "SQLALCHEMY_DATABASE_URI": uri})
    with app.app_context():
        upgrade()
        load_demo(db.session)
        db.session.remove()

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
            pass

    def buffered(environ: dict, start_response: Any) -> list[bytes]:  # noqa: ANN401
        # Each response whole, its iterator closed at once: when the browser drops a connection (a page
        # left while the favicon still loads), the development server stops writing and never closes the
        # iterator, and the open static file would surface as an unraisable ResourceWarning in some test.
        result = app(environ, start_response)
        try:
            return [b"".join(result)]
        finally:
            if hasattr(result, "close"):
                result.close()

    server = make_server("127.0.0.1", 0, buffered, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    live = LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app, server=server, thread=thread)

    def record_exception(sender: Any, exception: BaseException, **extra: Any) -> None:  # noqa: ANN401
        from flask import request

        live.errors.append(f"{request.method} {request.full_path.rstrip('?')}: "
                           f"{type(exception).__name__}: {exception}")

    got_request_exception.connect(record_exception, app, weak=False)
    thread.start()
    return live


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_live_server(tmp_path_factory.mktemp("live-server"))
    yield server
    server.stop()


# --- the browser -------------------------------------------------------------------------------------


def launch_browser(playwright: Any) -> Any:  # noqa: ANN401
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope: Playwright's sync API keeps an event loop that other modules' asyncio should not meet.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_browser(playwright)
        yield chromium
        chromium.close()


@dataclass
class PageWatch:
    """What the pages of one test asked for and complained about."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    # Chromium logs every 4xx/5xx answer as a console error; 422 is how a form with errors answers.
    allowed_statuses: set[int] = field(default_factory=lambda: {422})

    def allow_status(self, status: int) -> None:
        """A test that opens an error page on purpose says so."""
        self.allowed_statuses.add(status)

    def attach(self, page: Any) -> None:  # noqa: ANN401
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def _console(self, message: Any) -> None:  # noqa: ANN401
        if message.type != "error":
            return
        text = message.text
        if urlsplit(message.location.get("url") or "").path == "/favicon.ico":
            return  # Chromium asks for it by itself; the app has none (yet)
        if any(f"status of {status} " in text for status in self.allowed_statuses):
            return
        self.console_errors.append(f"{text} ({message.location.get('url')})")

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if not is_local(url)]


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname in LOCAL_HOSTS


@pytest.fixture
def page_watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def new_page(browser: Any, live_server: LiveServer, page_watch: PageWatch) -> Iterator[Callable[..., Any]]:  # noqa: ANN401
    """Open a page in a new browser context; keyword arguments go to ``browser.new_context``."""
    contexts = []
    live_server.errors.clear()

    def make(**options: Any) -> Any:  # noqa: ANN401
        options.setdefault("locale", "de-DE")
        options.setdefault("base_url", live_server.url)
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page_watch.attach(page)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not live_server.errors, "the app failed while serving:\n" + "\n".join(live_server.errors)
    assert not page_watch.foreign_requests(), f"requests left 127.0.0.1: {page_watch.foreign_requests()}"
    assert not page_watch.page_errors, f"uncaught script errors: {page_watch.page_errors}"
    assert not page_watch.console_errors, f"console errors (CSP violations?): {page_watch.console_errors}"


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:  # noqa: ANN401
    return new_page()


# --- helpers -----------------------------------------------------------------------------------------


def path_of(page: Any) -> str:  # noqa: ANN401
    """The path of the page's address (no host, no query)."""
    return urlsplit(page.url).path


def login(page: Any, email: str, password: str = DEMO_PASSWORD) -> None:  # noqa: ANN401
    """Sign in through the login form and wait for the start page."""
    page.goto("/login")
    form = page.locator("form[action^='/login']")
    form.locator("input[name=email]").fill(email)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()
    page.wait_for_url(lambda url: urlsplit(url).path != "/login")
    page.wait_for_load_state("load")


_AXE_SOURCE: str | None = None


def _axe_source() -> str:
    global _AXE_SOURCE
    if _AXE_SOURCE is None:
        _AXE_SOURCE = AXE_JS.read_text(encoding="utf-8")
    return _AXE_SOURCE


def axe_violations(page: Any) -> list[dict]:  # noqa: ANN401
    """Run axe-core with the WCAG 2.1 A/AA rules on the page as it is now."""
    # The app's CSP forbids inline scripts, so no <script> tag: evaluate the source through the devtools
    # protocol, which the page's CSP does not govern.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source() + "\n;void 0")
    return page.evaluate(
        """async (tags) => {
            const result = await window.axe.run(document, {
                runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary})),
            }));
        }""",
        WCAG_TAGS,
    )


def format_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"][:10]:
            summary = (node["summary"] or "").replace("\n", " / ")
            lines.append(f"    at {node['target']}: {summary}")
        if len(v["nodes"]) > 10:
            lines.append(f"    ... and {len(v['nodes']) - 10} more")
    return "\n".join(lines)


def assert_no_axe_violations(page: Any, context_label: str) -> None:  # noqa: ANN401
    violations = axe_violations(page)
    if violations:
        pytest.fail(
            f"axe-core found {len(violations)} WCAG 2.1 A/AA violation(s) on {context_label} ({page.url}):\n"
            + format_violations(violations),
            pytrace=False,
        )


# Resolves with the status of the next POST that htmx settles. Answers to GETs still in flight (a live
# availability question sent when the click took the focus from a changed field) settle too and are ignored.
_SETTLED = """() => { window.__tourbookSettled = new Promise((resolve) => {
    const timer = setTimeout(() => resolve(-1), 10000);
    const settled = (event) => {
        if ((event.detail.requestConfig?.verb || '').toLowerCase() !== 'post') return;
        document.removeEventListener('htmx:afterSettle', settled);
        clearTimeout(timer); resolve(event.detail.xhr ? event.detail.xhr.status : 0);
    };
    document.addEventListener('htmx:afterSettle', settled);
}); }"""


def submit_by_htmx(page: Any, button: Any, status: int = 422) -> Any:  # noqa: ANN401
    """Click ``button`` of an htmx form and wait until the answer (``status``) is swapped in and settled."""
    page.evaluate(_SETTLED)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        button.click()
    response = answer.value
    assert response.request.headers.get("hx-request") == "true", "the form was not sent by htmx"
    assert response.status == status, f"expected {status}, got {response.status} from {response.url}"
    settled = page.evaluate("() => window.__tourbookSettled")
    assert settled == status, f"htmx did not settle the {status} answer (got {settled})"
    return response


def screenshot_dir() -> Path:
    path = ROOT / "test-artifacts" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
