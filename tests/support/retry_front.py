"""A front between an OTLP exporter and ``lookout serve`` that loses one answer.

It passes every request on, but the answer to the first trace export — already
committed by Lookout — is replaced by ``503`` + ``Retry-After``, as a proxy or a lost
answer would: the exporter retries the same export, and the test checks nothing was
stored twice.
"""

from __future__ import annotations

import http.client
import http.server
import threading
from urllib.parse import urlsplit


class RetryFront(http.server.ThreadingHTTPServer):
    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.target = urlsplit(target)
        self.trace_posts = 0
        self.replaced = 0
        self.lock = threading.Lock()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: RetryFront

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":  # Node's exporters
            body = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        conn = http.client.HTTPConnection(self.server.target.hostname, self.server.target.port,
                                          timeout=30)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "transfer-encoding", "content-length")}
        conn.request("POST", self.path, body, headers)
        resp = conn.getresponse()
        answer = resp.read()
        with self.server.lock:
            first_trace = self.path.endswith("/v1/traces") and self.server.trace_posts == 0
            if self.path.endswith("/v1/traces"):
                self.server.trace_posts += 1
            if first_trace and resp.status == 200:
                self.server.replaced += 1
        if first_trace and resp.status == 200:  # stored, but the client hears "try later"
            self.send_response(503)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_args: object) -> None:
        pass
