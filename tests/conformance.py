"""Read the recorded HTTP exchanges in ``../shared/conformance`` (its INDEX.md says how).

vcrpy YAML only: ``yaml.safe_load``; a response body that is bytes with ``Content-Encoding: gzip``
is gunzipped; pydantic-ai's ``parsed_body`` variant becomes ``json.dumps(parsed_body)``, as its
``json_body_serializer.deserialize`` does. The recordings are read in place and never written.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

__all__ = ["CONFORMANCE", "Exchange", "load", "needs_conformance", "recordings"]

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
    """Every exchange in one vcrpy cassette."""
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


def recordings(folder: str, *patterns: str) -> list[Path]:
    """The recordings in `folder` whose names match any of `patterns`; none if absent."""
    if not CONFORMANCE.is_dir():
        return []
    return sorted({p for pattern in patterns for p in (CONFORMANCE / folder).glob(pattern)})
