"""A loopback server that takes structured output the way llama-cpp-python's server does.

`LlamaCppLikeServer` is `openai_server.OpenAIServer` (echo's answers, the same faults and log)
with one difference, measured against ``python -m llama_cpp.server`` 0.3.x:

- ``response_format: {"type": "json_schema", ...}`` is refused with HTTP 500 and the body below:
  the server validates requests with pydantic, its ``response_format`` type allows only
  ``text`` and ``json_object``, and its error handler turns the validation error into a 500;
- ``{"type": "json_object", "schema": S}`` is answered with JSON valid against ``S``, as the
  real server constrains the answer with a grammar made from ``S`` (here: echo's answer for a
  ``json_schema`` of ``S``).

`refuse` names the ``response_format`` types refused (``{"json_schema"}`` by default; add
``"json_object"`` for a server that takes neither), and `status` the status they get.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from openai_server import Fault, OpenAIServer

__all__ = ["LlamaCppLikeServer", "refusal_body"]


def refusal_body(kind: str) -> dict[str, Any]:
    """llama-cpp-python's answer to a ``response_format`` of type `kind` (HTTP 500)."""
    message = (
        "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
        "'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': "
        f"'{kind}', 'ctx': {{'expected': \"'text' or 'json_object'\"}}}}\n\n  File "
        '"/venv/lib/python3.11/site-packages/llama_cpp/server/app.py", line 376, in '
        "create_chat_completion\n    POST /v1/chat/completions"
    )
    return {
        "error": {"message": message, "type": "internal_server_error", "param": None, "code": None}
    }


class LlamaCppLikeServer(OpenAIServer):
    """`OpenAIServer` that refuses ``json_schema`` and constrains ``json_object`` + ``schema``."""

    def __init__(self, *, refuse: frozenset[str] = frozenset({"json_schema"}), status: int = 500):
        super().__init__()
        self.refuse = refuse
        self.status = status

    async def _respond(
        self,
        request: web.Request,
        body: Any,
        fault: Fault | None,
        headers: dict[str, str],
        latency: float,
    ) -> web.StreamResponse:
        fmt = body.get("response_format") if isinstance(body, dict) else None
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind in self.refuse:
            return web.json_response(refusal_body(str(kind)), status=self.status)
        if kind == "json_object" and isinstance(fmt, dict) and "schema" in fmt:
            constrained = {"type": "json_schema", "json_schema": {"schema": fmt["schema"]}}
            body = {**body, "response_format": constrained}
        return await super()._respond(request, body, fault, headers, latency)
