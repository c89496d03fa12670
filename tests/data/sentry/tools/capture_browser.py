"""Regenerate ``sentry-browser/`` of tests/data/sentry (not run by the tests).

The real ``@sentry/browser`` (npm, its ES modules loaded through an import map)
runs in headless Chromium on a page served by one local server, sending to the
capture server of ``capture.py`` on another origin, as a browser app does::

    python tests/data/sentry/tools/capture_browser.py /path/to/node_modules

Needs Playwright (Python) and ``/usr/bin/chromium``.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from capture import OUT, Capture
from playwright.sync_api import sync_playwright

HERE = Path(__file__).parent
CASES = 4  # events app_browser.js sends
PACKAGES = {  # bare module name -> its ES module entry, under node_modules
    "@sentry/browser": "@sentry/browser/build/npm/esm/prod/index.js",
    "@sentry/browser-utils": "@sentry/browser-utils/build/esm/index.js",
    "@sentry/core": "@sentry/core/build/esm/index.js",
    "@sentry/core/browser": "@sentry/core/build/esm/browser.js",
    "@sentry/feedback": "@sentry/feedback/build/npm/esm/index.js",
    "@sentry/replay": "@sentry/replay/build/npm/esm/index.js",
    "@sentry/replay-canvas": "@sentry/replay-canvas/build/npm/esm/index.js",
    "@sentry/conventions/attributes": "@sentry/conventions/dist/attributes.mjs",
    "@sentry/conventions/metrics": "@sentry/conventions/dist/metrics.mjs",
    "@sentry/conventions/op": "@sentry/conventions/dist/op.mjs",
    "web-vitals": "web-vitals/dist/web-vitals.js",
}


class CorsCapture(Capture):
    """The capture server, answering the browser's cross-origin requests."""

    client = "sentry-browser"

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Access-Control-Allow-Methods", "POST")
        self.end_headers()


def page_server(node_modules: Path) -> ThreadingHTTPServer:
    imports = {name: f"/node_modules/{path}" for name, path in PACKAGES.items()}
    html = ("<!doctype html><title>shop</title><script type=importmap>"
            + json.dumps({"imports": imports})
            + "</script><script type=module src=/app_browser.js></script>").encode()

    class Page(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/app.html"):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(html)
                return
            super().do_GET()

        def translate_path(self, path: str) -> str:
            path = path.split("?", 1)[0]
            if path.startswith("/node_modules/"):
                return str(node_modules / path.removeprefix("/node_modules/"))
            return str(HERE / path.lstrip("/"))

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Page))


def main() -> None:
    node_modules = Path(sys.argv[1])
    capture = ThreadingHTTPServer(("127.0.0.1", 0), CorsCapture)
    pages = page_server(node_modules)
    for server in (capture, pages):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    # "localhost" for the DSN, 127.0.0.1 for the page: two origins.
    dsn = f"http://{'a' * 32}@localhost:{capture.server_port}/1"
    target = OUT / CorsCapture.client
    before = {p: p.stat().st_mtime for p in target.glob("*.envelope")}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"http://127.0.0.1:{pages.server_port}/app.html?dsn={dsn}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            fresh = [q for q in target.glob("*.envelope") if before.get(q) != q.stat().st_mtime]
            if len(fresh) >= CASES:
                break
            page.wait_for_timeout(200)
        else:
            raise SystemExit(f"only {len(fresh)} of {CASES} events arrived; page errors: {errors}")
        browser.close()
    capture.shutdown()
    pages.shutdown()


if __name__ == "__main__":
    main()
