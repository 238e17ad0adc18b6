"""A local OpenAI-compatible server for notebooks, demos and tests: `EchoServer`.

`EchoServer` serves the offline model ``echo`` over real HTTP on 127.0.0.1, so anything that
speaks the OpenAI Chat Completions API (llmframe with ``base_url=``, the ``openai`` client, curl)
can be pointed at it without a key or the network::

    from llmframe.testing import EchoServer

    with EchoServer(latency_ms=200) as server:
        run = llmframe.run("prompts.csv", model="openai/my-model", base_url=server.base_url)

It uses only the standard library (`http.server.ThreadingHTTPServer` in a daemon thread), so it
needs nothing beyond llmframe itself. The answers are echo's own (`echo_completion`,
`echo_chunks` in `llmframe.providers.echo`): the same body gets the same answer from
``model="echo"`` in-process and from this server. Routes:

- ``POST /v1/chat/completions``: echo's answer, whole (JSON) or streamed (server-sent events in
  a chunked response) when the body has ``"stream": true``. A bad request gets an
  OpenAI-shaped 400. Latency is the body's ``latency_ms`` where given, else the server's
  `latency_ms`, spread over a stream as echo spreads it (half before the first chunk).
- ``GET /v1/models``: a model list naming ``echo``. The server answers to any model name,
  which it repeats in its answers, so ``openai/<name>`` can stand in for a real model.

It binds the loopback only, never another interface: it answers anyone without a key.
"""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from llmframe.providers.echo import (
    DONE,
    EchoError,
    chunk_delays,
    echo_chunks,
    echo_completion,
    error_body,
    latency_seconds,
    sse_event,
)

__all__ = ["EchoServer"]

_HOST = "127.0.0.1"
_CHAT = "/v1/chat/completions"
_MODELS = "/v1/models"
_MAX_BODY = 64 * 2**20  # inline media makes big bodies; beyond this is a mistake
_POLL = 0.05  # seconds between the serving loop's shutdown checks: `stop()` waits about this
_MODEL_LIST = {
    "object": "list",
    "data": [{"id": "echo", "object": "model", "created": 0, "owned_by": "llmframe"}],
}


class EchoServer:
    """An OpenAI-compatible HTTP server on 127.0.0.1 answering with the offline model ``echo``.

    `port` 0 (the default) takes a free ephemeral port; `latency_ms` is the simulated latency of
    each answer whose body does not set its own (it may be changed while the server runs).
    ``start()`` returns the server, and the server is a context manager that starts and stops
    itself.
    """

    def __init__(self, port: int = 0, *, latency_ms: float = 0) -> None:
        latency_seconds({"latency_ms": latency_ms})  # the same check echo applies to a body
        self._port = port
        self.latency_ms = latency_ms
        self._lock = threading.Lock()
        self._count = 0
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._httpd is not None else "stopped"
        return f"<EchoServer {where} latency_ms={self.latency_ms} requests={self.requests}>"

    # -- what a user reads ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port served on (the one chosen, once started with port 0)."""
        if self._httpd is None:
            msg = "the server is not running: call `start()` first"
            raise RuntimeError(msg)
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The OpenAI base URL to give a client, ``http://127.0.0.1:PORT/v1``."""
        return f"http://{_HOST}:{self.port}/v1"

    @property
    def requests(self) -> int:
        """How many HTTP requests the server has received since it was created."""
        with self._lock:
            return self._count

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> EchoServer:
        """Bind 127.0.0.1 and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            msg = "the server is already running"
            raise RuntimeError(msg)
        self._stopping.clear()
        httpd = _Server((_HOST, self._port))
        httpd.echo = self
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": _POLL},
            name=f"llmframe-echo-server-{httpd.server_address[1]}",
            daemon=True,
        )
        thread.start()
        self._httpd, self._thread = httpd, thread
        return self

    def stop(self) -> None:
        """Stop serving and free the port; answers still streaming are cut short."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> EchoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- used by the handler -------------------------------------------------------------------

    def _received(self) -> None:
        with self._lock:
            self._count += 1

    def _sleep(self, seconds: float) -> bool:
        """Wait `seconds`; False when the server is stopping (the answer should stop too)."""
        return not self._stopping.wait(seconds) if seconds > 0 else not self._stopping.is_set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = socket.SOMAXCONN  # socketserver's 5 resets a burst of clients
    echo: EchoServer

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def server_bind(self) -> None:
        """Bind without `HTTPServer`'s reverse DNS lookup of the address, slow on some hosts."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def close_connections(self) -> None:
        """Shut every open connection, idle keep-alive ones included, so no socket outlives us."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that leaves mid-answer is normal; anything else is reported as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked streams
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stall
    server_version = "llmframe-echo"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        """Register the connection, so `stop()` can close it."""
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        """Forget the connection."""
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a notebook cell should not fill with access logs."""

    # -- routes --------------------------------------------------------------------------------

    def do_GET(self) -> None:
        """``GET /v1/models``."""
        self.server.echo._received()
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == _MODELS:
            self._json(HTTPStatus.OK, _MODEL_LIST)
        elif path == _CHAT:
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, "use POST for chat completions")
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no route GET {path}")

    def do_POST(self) -> None:
        """``POST /v1/chat/completions``."""
        self.server.echo._received()
        path = self.path.split("?", 1)[0].rstrip("/")
        body = self._read_body()
        if body is None:
            return
        if path != _CHAT:
            self._error(HTTPStatus.NOT_FOUND, f"no route POST {path}")
            return
        try:
            payload = json.loads(body)
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, "the request body is not valid JSON")
            return
        try:
            if not isinstance(payload, Mapping):
                msg = "the request body must be a JSON object"
                raise EchoError(msg)
            own = "latency_ms" in payload
            latency = latency_seconds(payload) if own else self.server.echo.latency_ms / 1000
            streamed = payload.get("stream") is True
            answer = echo_chunks(payload) if streamed else echo_completion(payload)
        except EchoError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        if isinstance(answer, list):
            self._stream(answer, latency)
        elif self.server.echo._sleep(latency):
            self._json(HTTPStatus.OK, answer)
        else:
            self.close_connection = True

    def do_PUT(self) -> None:
        """Not served."""
        self._not_allowed()

    do_DELETE = do_PATCH = do_PUT

    # -- reading and writing -------------------------------------------------------------------

    def _not_allowed(self) -> None:
        self.server.echo._received()
        if self._read_body() is not None:
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"echo does not serve {self.command}")

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering a body that cannot be read."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self.close_connection = True
            self._error(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length, not a chunked body")
            return None
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self.close_connection = True
            self._error(HTTPStatus.BAD_REQUEST, "bad or too large Content-Length")
            return None
        return self.rfile.read(length)

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._json(status, error_body(message))

    def _json(self, status: HTTPStatus, value: Any) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, chunks: list[dict[str, Any]], latency: float) -> None:
        """Server-sent events, one HTTP chunk per event, paced by echo's `chunk_delays`."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for delay, chunk in zip(chunk_delays(latency, len(chunks)), chunks, strict=True):
            if not self.server.echo._sleep(delay):
                self.close_connection = True  # stopping: end mid-stream, as a dying server does
                return
            self._chunk(sse_event(chunk))
        self._chunk(DONE)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
