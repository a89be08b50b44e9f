"""Browser fixtures: the demo city served by uvicorn in a thread, driven by Debian chromium.

One live server and one browser per session (per xdist worker); each test gets a fresh
browser context, so cookies never leak between tests. Pages are Chinese by default, so
contexts say ``Accept-Language: zh-CN`` unless a test asks otherwise (Chromium's own default
is en-US, which the platform would answer in English).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from pydantic import SecretStr

from gongshu.bootstrap import build
from gongshu.demo.load import load_demo
from gongshu.identity.models import User
from gongshu.kernel.settings import Settings
from gongshu.migrations import upgrade
from tests.browser.helpers import LiveServer, new_context
from tests.conftest import require_or_skip

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _wait_until_up(server: uvicorn.Server, thread: threading.Thread, url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the live server stopped while starting")
        if server.started:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    raise RuntimeError(f"the live server did not answer {url}/healthz within 20 s")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The demo city on a temporary SQLite home, served on a free local port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        platform = build(
            Settings(
                env="test",
                home=tmp_path_factory.mktemp("browser-home"),
                host="127.0.0.1",
                port=port,
                password_hash_profile="fast",
                secret_key=SecretStr("browser-test-secret-key-that-is-long-enough"),
            )
        )
        try:
            upgrade(platform.engine)
            load_demo(platform.uow, passwords=platform.passwords, datastore=platform.datastore)
            with platform.uow() as uow:
                rows = uow.session.execute(sa.select(User.username, User.display_name))
                names = {username: display_name for username, display_name in rows}
            # No websockets (their deprecation warnings would fail the run), no lifespan.
            config = uvicorn.Config(
                platform.app,
                ws="none",
                lifespan="off",
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=5,
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, name="live-server", daemon=True
            )
            thread.start()
            url = f"http://127.0.0.1:{port}"
            try:
                _wait_until_up(server, thread, url)
                yield LiveServer(url=url, platform=platform, display_names=names)
            finally:
                server.should_exit = True
                thread.join(timeout=10)
        finally:
            platform.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium, never a downloaded one."""
    if not CHROMIUM.exists():
        require_or_skip("browser tests: /usr/bin/chromium is missing")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    """A fresh browser context for one test."""
    made = new_context(browser, live_server)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A page in the test's own context."""
    return context.new_page()
