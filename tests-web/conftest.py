"""Browser tests: the real `kairan` binary on a throwaway database, driven in Debian's
headless Chromium by Playwright. `scripts/test` runs them after `swift test` with the
database server and smtp-sink it started (KAIRAN_TEST_DATABASE_URL, KAIRAN_TEST_SMTP)."""
import json
import os
import re
import pathlib
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import sync_playwright

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
PASSWORD = "correct horse battery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `kairan serve` process (API, pages and workers) and what tests need to reach it."""

    def __init__(self, binary, database_url, smtp):
        self.binary = binary
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.options = ["--database-url", database_url]
        # Session tokens the tests took over the API, for the log check at the end.
        self.tokens_seen = []
        self.log = open(ROOT / ".build" / "web-tests-server.log", "w")
        self.process = subprocess.Popen(
            # Every test signs residents up from 127.0.0.1: more than the default 20 an hour.
            [binary, "serve", "--port", str(self.port), "--public-url", self.url, "--inbound-smtp", "off", "--registrations-per-hour", "1000",
             "--smtp-relay", smtp, "--smtp-security", "none", "--files-dir", tempfile.mkdtemp(prefix="kairan-web-files-"), *self.options],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(self.url + "/readyz", timeout=2).status == 200:
                    return
            except (urllib.error.URLError, ConnectionError):
                pass
            if self.process.poll() is not None:
                raise RuntimeError("kairan exited; see .build/web-tests-server.log")
            time.sleep(0.3)
        raise RuntimeError("kairan did not become ready")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()

    def create_account(self, email, name, *flags):
        """An account with town roles, made as the town's IT staff would: `kairan user create`."""
        subprocess.run([self.binary, "user", "create", "--email", email, "--display-name", name, *flags, *self.options],
                       input=PASSWORD + "\n", text=True, check=True, capture_output=True)

    def api(self, method, path, body=None, token=None):
        """A JSON API call; returns (status, decoded body)."""
        request = urllib.request.Request(self.url + path, method=method,
                                         data=None if body is None else json.dumps(body).encode())
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def token(self, email):
        status, body = self.api("POST", "/v1/sessions", {"email": email, "password": PASSWORD})
        assert status == 201, body
        self.tokens_seen.append(body["token"])
        return body["token"]


@pytest.fixture(scope="session")
def server():
    admin_url = os.environ["KAIRAN_TEST_DATABASE_URL"]
    name = "web_" + uuid.uuid4().hex[:10]
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {name}"], check=True)
    database_url = admin_url.replace("/postgres?", f"/{name}?", 1)
    binary = os.environ.get("KAIRAN_BINARY", str(ROOT / ".build" / "debug" / "kairan"))
    running = Server(binary, database_url, os.environ["KAIRAN_TEST_SMTP"])
    yield running
    running.stop()
    # Every flow above sent addresses, names and posts through the server: its log may hold
    # no full mail address (APPI); addresses appear only as "t***@domain".
    log = (ROOT / ".build" / "web-tests-server.log").read_text(encoding="utf-8", errors="replace")
    leaked = re.findall(r"[A-Za-z0-9._%+-]{2,}@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", log)
    assert not leaked, f"the server logged full mail addresses: {leaked[:3]}"
    # Nor what people wrote: every name, title, post and notice the flows typed is Japanese,
    # and the server's own log lines are English, so any Japanese text in the log is a leak.
    quoted = re.findall(r".{0,40}[\u3040-\u30ff\u4e00-\u9fff]+", log)
    assert not quoted, f"the server logged what people wrote: {quoted[:3]}"
    # Nor a session: the cookies and bearer tokens the flows used are 43-character secrets.
    for token in running.tokens_seen:
        assert token not in log, "the server logged a session token"


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=os.environ.get("KAIRAN_CHROMIUM", "/usr/bin/chromium"),
            args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


AXE = Axe()
WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def check_accessibility(page):
    """axe-core's WCAG 2.1 A/AA rules on the page as it is now: no violations. (axe is a
    script: in a context with JavaScript off it cannot run, and the same pages are checked
    in the tests that have it on.)"""
    if getattr(page.context, "no_script", False):
        return
    results = AXE.run(page, options=WCAG_AA)
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"


def screenshot(page, name):
    """The page at phone and desktop width, for docs/screenshots and the README."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(original)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.jp"
