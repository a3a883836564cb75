"""Browser fixtures: the real `homeline serve` process on the demo seed, Debian's chromium driven
by Playwright, the mail outbox, and helpers for the family member, the resident and staff.

Chromium or Playwright missing is a skip, and a failure when REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NoReturn

import pytest

from tests.liveserver import LiveServer, free_port, homeline_command, stop, wait_healthy
from tests.story import REQUIRE_BROWSER

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _missing(reason: str) -> NoReturn:
    if REQUIRE_BROWSER:
        pytest.fail(f"browser tests are required (REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`homeline migrate`, `homeline demo`, then `homeline serve` on a free port; SIGTERM at the
    end, and the process must exit on its own."""
    root = tmp_path_factory.mktemp("homeline-browser")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "HOMELINE_VAR": str(root / "var"),
        "PORT": str(port),
        "PUBLIC_URL": url,
        "LOG_FORMAT": "text",
    }
    for name in ("DATABASE_URL", "REDIS_URL", "SMTP_HOST", "SECRET_KEY"):
        env.pop(name, None)
    cli = homeline_command()
    subprocess.run([*cli, "migrate"], env=env, cwd=root, check=True, capture_output=True)
    demo = subprocess.run(
        [*cli, "demo"], env=env, cwd=root, check=True, capture_output=True, text=True
    )
    facility = re.search(r"facility (\d+)", demo.stdout)
    assert facility, demo.stdout
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([*cli, "serve"], env=env, cwd=root, stdout=log, stderr=log)
    try:
        wait_healthy(port, proc, log_path)
        yield LiveServer(
            url=url, port=port, var_dir=root / "var", facility_id=int(facility.group(1))
        )
    finally:
        stop(proc, log_path)


# Module scope, not session: while sync Playwright runs, its event loop is the thread's running
# loop, and the async tests that pytest runs afterwards could not start theirs.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e .[test])")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        _missing("chromium is not installed (apt-get install -y chromium)")
    browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def new_context(
    browser: Browser, live_server: LiveServer
) -> Iterator[Callable[[], BrowserContext]]:
    """Fresh browser profiles (one per person), each failing the test on a page error or a
    console error (a CSP violation shows up there)."""
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def make() -> BrowserContext:
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1024, "height": 800}
        )
        context.set_default_timeout(5000)
        context.on("weberror", lambda error: problems.append(f"page error: {error.error}"))
        context.on(
            "console",
            lambda message: (
                problems.append(f"console {message.type}: {message.text}")
                if message.type == "error" and not _expected_console_error(message.text)
                else None
            ),
        )
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert not problems, "\n".join(problems)


def _expected_console_error(text: str) -> bool:
    # The browser logs every non-2xx fetch; the tests provoke some on purpose (a 422 from
    # sign-up). Those are answers, not page bugs. Likewise a reconnect attempt while a test
    # has taken the context offline on purpose (Chromium logs the websocket's failure itself).
    return "Failed to load resource" in text or "net::ERR_INTERNET_DISCONNECTED" in text
