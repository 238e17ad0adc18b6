"""Read the recorded HTTP exchanges in ``../shared/conformance`` (its INDEX.md says how).

vcrpy YAML: ``yaml.safe_load``; a response body that is bytes with ``Content-Encoding: gzip``
is gunzipped; pydantic-ai's ``parsed_body`` variant becomes ``json.dumps(parsed_body)``, as its
``json_body_serializer.deserialize`` does. langchaingo's httprr traces (``.httprr``): after the
``httprr trace v1`` line, each record is ``"<reqlen> <resplen>\n"``, the raw HTTP/1.1 request and
the raw response, whose chunked body is de-chunked. The recordings are read in place and never
written.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

__all__ = ["CONFORMANCE", "Exchange", "load", "load_httprr", "needs_conformance", "recordings"]

CONFORMANCE = Path(__file__).parents[2] / "shared" / "conformance"

needs_conformance = pytest.mark.skipif(
    not CONFORMANCE.is_dir(),
    reason=f"the conformance recordings are not at {CONFORMANCE} (they live in ../shared)",
)


@dataclass(frozen=True)
class Exchange:
    """One recorded request and its response."""

    file: str
    """The recording's file name, e.g. ``openai-chat-text.yaml``."""
    index: int
    method: str
    uri: str
    request_body: bytes | None
    status: int
    headers: dict[str, str]
    """Response headers as recorded (names keep their case; repeated values joined by ``, ``)."""
    body: bytes
    """The response body as the client saw it (gunzipped)."""

    @property
    def id(self) -> str:
        return f"{self.file.removesuffix('.yaml')}[{self.index}]"

    @property
    def path(self) -> str:
        return urlsplit(self.uri).path

    def request_json(self) -> Any:
        assert self.request_body is not None, f"{self.id} has no request body"
        return json.loads(self.request_body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


def _request_body(request: dict[str, Any]) -> bytes | None:
    if "parsed_body" in request:
        return json.dumps(request["parsed_body"]).encode()
    body = request.get("body")
    if isinstance(body, dict):  # some recorders nest it as {"string": ...}
        body = body.get("string")
    return body.encode() if isinstance(body, str) else body


def _response_body(response: dict[str, Any], headers: dict[str, str]) -> bytes:
    if "parsed_body" in response:
        return json.dumps(response["parsed_body"]).encode()
    body = response["body"]["string"]
    if isinstance(body, str):
        return body.encode()
    encoding = next((v for k, v in headers.items() if k.lower() == "content-encoding"), "")
    return gzip.decompress(body) if "gzip" in encoding else body


def load(path: Path) -> list[Exchange]:
    """Every exchange in one vcrpy cassette (or httprr trace, by its ``.httprr`` suffix)."""
    if path.suffix == ".httprr":
        return load_httprr(path)
    cassette = yaml.safe_load(path.read_text(encoding="utf-8"))
    exchanges = []
    for index, interaction in enumerate(cassette["interactions"]):
        request, response = interaction["request"], interaction["response"]
        headers = {k: ", ".join(v) for k, v in (response.get("headers") or {}).items()}
        exchanges.append(
            Exchange(
                file=path.name,
                index=index,
                method=request["method"],
                uri=request["uri"],
                request_body=_request_body(request),
                status=response["status"]["code"],
                headers=headers,
                body=_response_body(response, headers),
            )
        )
    return exchanges


_HTTPRR_HEADER = b"httprr trace v1\n"
_LINE_END = re.compile(r"\r?\n")


def _http_message(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    """(start line, headers, body) of a raw HTTP/1.1 message (some recorded lines end in LF)."""
    head, blank, body = raw.partition(b"\r\n\r\n")
    assert blank, "no blank line after the headers"
    start, *lines = _LINE_END.split(head.decode("latin-1"))
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        assert colon, f"not a header line: {line!r}"
        headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
    return start, headers, body


def _dechunk(body: bytes) -> bytes:
    """The payload of a ``Transfer-Encoding: chunked`` body (trailers, if any, are ignored)."""
    out = bytearray()
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        assert body[size : size + 2] == b"\r\n", "a chunk does not end in CRLF"
        out += body[:size]
        body = body[size + 2 :]


def load_httprr(path: Path) -> list[Exchange]:
    """Every exchange in one httprr v1 trace (langchaingo's ``internal/httprr``)."""
    data = path.read_bytes()
    assert data.startswith(_HTTPRR_HEADER), f"{path.name} is not an httprr v1 trace"
    rest = data[len(_HTTPRR_HEADER) :]
    exchanges = []
    while rest:
        sizes, _, rest = rest.partition(b"\n")
        request_length, response_length = (int(n) for n in sizes.split())
        request, response = rest[:request_length], rest[request_length:][:response_length]
        assert len(response) == response_length, f"{path.name} is truncated"
        rest = rest[request_length + response_length :]
        start, request_headers, request_body = _http_message(request)
        method, uri, _ = start.split(" ")
        length = next(
            (v for k, v in request_headers.items() if k.lower() == "content-length"), None
        )
        assert length is None or int(length) == len(request_body), "request Content-Length"
        status_line, headers, body = _http_message(response)
        encoding = next((v for k, v in headers.items() if k.lower() == "transfer-encoding"), "")
        exchanges.append(
            Exchange(
                file=path.name,
                index=len(exchanges),
                method=method,
                uri=uri,
                request_body=request_body or None,
                status=int(status_line.split(" ")[1]),
                headers=headers,
                body=_dechunk(body) if "chunked" in encoding.lower() else body,
            )
        )
    return exchanges


def recordings(folder: str, *patterns: str) -> list[Path]:
    """The recordings in `folder` whose names match any of `patterns`; none if absent."""
    if not CONFORMANCE.is_dir():
        return []
    return sorted({p for pattern in patterns for p in (CONFORMANCE / folder).glob(pattern)})
