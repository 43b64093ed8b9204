"""What the offline API fakes share: a threaded loopback HTTP(S) server, a
handler whose every method goes to one ``serve``, JSON answers, and a
connection dropped after the work was done (the fault clients must survive)."""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import sys
import threading
import urllib.parse
from typing import Any


class JSONHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.answer()

    def do_PUT(self) -> None:
        self.answer()

    def do_POST(self) -> None:
        self.answer()

    def do_DELETE(self) -> None:
        self.answer()

    def do_HEAD(self) -> None:
        self.answer()

    def do_PATCH(self) -> None:
        self.answer()

    def answer(self) -> None:
        """Serve the request; a fault in the fake itself is answered 500 and kept in the server's
        ``crashes`` (a client never sees the connection close unanswered)."""
        try:
            self.serve()
        except Exception as exc:
            crashes: list[str] = getattr(self.server, "crashes", [])
            crashes.append(f"{self.command} {self.path}: {exc!r}")
            self.close_connection = True
            self.reply(500, {"error": {"code": 500, "message": f"The fake failed on {self.command} "
                                                               f"{self.path.split('?')[0]}: {exc!r}"}})

    def serve(self) -> None:
        raise NotImplementedError

    def split(self) -> tuple[str, dict[str, str], bytes]:
        """The request's path, query (last value of each key) and body."""
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        return url.path, {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}, (
            self.rfile.read(length) if length else b"")

    def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.reply_bytes(status, data, "application/json; charset=UTF-8", headers)

    def reply_bytes(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def drop(self) -> None:
        """Close the connection without an answer."""
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


class LoopbackServer(http.server.ThreadingHTTPServer):
    """127.0.0.1 on ``port`` (a free one by default), HTTPS when given an SSL context."""

    daemon_threads = True

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler], port: int = 0,
                 context: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", port), handler)
        self.crashes: list[str] = []  # requests the fake failed on: bugs in the fake
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer (its own timeout, a reset the test dealt it) is
        what the faults are for, not a failure of the server's to print."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        return thread
