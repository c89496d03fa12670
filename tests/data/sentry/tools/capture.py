"""Regenerate the real-client payloads of tests/data/sentry (not run by the tests).

Starts a tiny capture server on 127.0.0.1, points real, unmodified Sentry
clients at it (their own serialization and transports), and saves each event
they send, decompressed, as ``<client>/<case>.envelope`` or ``.json`` (the
``case`` tag of the event names the file). Usage::

    python tests/data/sentry/tools/capture.py CLIENT PYTHON_OR_NODE [SCRIPT]

CLIENT is ``sentry-python-2`` / ``sentry-python-1`` (PYTHON: an interpreter
with that sentry-sdk), ``raven-python`` (an interpreter with ``raven``) or
``sentry-node`` (NODE: ``node``, run where ``@sentry/node`` is installed; set
NODE_PATH) or ``sentry-cli`` (PYTHON: any interpreter; SENTRY_CLI names the binary). The scripts the clients run are beside this file; SCRIPT picks
another one than the client's usual (``app_python_stack.py``, ``app_raven_stack.py``,
``app_node_stack.js``: messages sent with their stack).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import brotli

HERE = Path(__file__).parent
OUT = HERE.parent


def _decode(body: bytes, encoding: str | None) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        return brotli.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


def _case(event: dict) -> str | None:
    tags = event.get("tags") or {}
    if isinstance(tags, list):
        tags = dict(t for t in tags if isinstance(t, list) and len(t) == 2)
    return tags.get("case")


class Capture(BaseHTTPRequestHandler):
    client = ""

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":  # @sentry/node
            body = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = _decode(body, self.headers.get("Content-Encoding"))
        target = OUT / self.client
        target.mkdir(exist_ok=True)
        if self.path.rstrip("/").endswith("store"):
            event = json.loads(body)
            name = _case(event)
            if name:
                (target / f"{name}.json").write_bytes(body)
        else:
            lines = body.split(b"\n")
            for i, line in enumerate(lines[1:], 1):
                try:
                    header = json.loads(line)
                except ValueError:
                    continue
                if isinstance(header, dict) and header.get("type") == "event":
                    name = _case(json.loads(lines[i + 1]))
                    if name:
                        (target / f"{name}.envelope").write_bytes(body)
                    break
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"id": "0"}')

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    client, runtime = sys.argv[1], sys.argv[2]
    Capture.client = client
    server = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dsn = f"http://{'a' * 32}@127.0.0.1:{server.server_port}/1"
    script = {"sentry-python-2": "app_python.py", "sentry-python-1": "app_python.py",
              "raven-python": "app_raven.py", "sentry-node": "app_node.js",
              "sentry-cli": "app_sentry_cli.py"}[client]
    if len(sys.argv) > 3:
        script = sys.argv[3]
    # Run from an unrelated directory as well, so no frame is in-app (a common setup).
    for where in ("app", "elsewhere"):
        with tempfile.TemporaryDirectory() as tmp:
            cwd = HERE if where == "app" else tmp
            subprocess.run([runtime, str(HERE / script), dsn, where], cwd=cwd, check=True,
                           timeout=120)
    server.shutdown()


if __name__ == "__main__":
    main()
