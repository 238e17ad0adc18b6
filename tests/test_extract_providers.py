"""`llmframe.extract` end to end on every provider wire, with its recorded structured output.

Each case takes one J-flagged recording of ../shared/conformance (INDEX.md): the schema its
request sent becomes the extraction schema, and its response (streamed or whole, as recorded) is
what a loopback server of that wire answers. The request that arrives must carry the provider's
native structured-output fields (`structured_output`, as the real provider was sent them), and
the typed row must hold exactly the recorded JSON answer. Then the repair turn on every wire: a
first answer whose text breaks the schema (the recorded body, edited) must go back as the
model's turn in that wire's shape, followed by a user turn quoting the validation error, and the
recorded answer to that second request makes the row ok.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from aiohttp import web
from anthropic_server import AnthropicServer
from anthropic_server import Reply as AnthropicReply
from conformance import CONFORMANCE, Exchange, load, needs_conformance
from gemini_server import GeminiServer
from gemini_server import Reply as GeminiReply
from loopback import LoopbackServer
from ollama_server import OllamaServer
from ollama_server import Reply as OllamaReply
from openai_responses_server import Answer, ReplayServer

import llmframe
from llmframe.extraction.answer import repair_message
from llmframe.extraction.contract import schema_name
from llmframe.providers import get_provider
from llmframe.providers.endpoints import ENDPOINTS

JsonBody = dict[str, Any]


# Loopback servers: each serves the given bodies in order and logs the JSON requests --------------


@dataclass(frozen=True)
class Served:
    """A running server: where to send requests, and the JSON bodies it received so far."""

    base_url: str
    received: Callable[[], list[JsonBody]]


class ChatReplayServer(LoopbackServer):
    """``POST /v1/chat/completions`` answered with recorded bytes, in order.

    `openai_server.OpenAIServer` answers with echo's bodies; this one sends a recorded body as
    it is, as the other wires' servers do.
    """

    def __init__(self, *bodies: bytes) -> None:
        super().__init__(thread_name="chat-replay-server")
        self._lock = threading.Lock()
        self._bodies = deque(bodies)
        self._received: list[JsonBody] = []
        self.base_url = f"{self.origin}/v1"

    @property
    def received(self) -> list[JsonBody]:
        with self._lock:
            return list(self._received)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        with self._lock:
            self._received.append(body)
            answer = self._bodies.popleft() if self._bodies else None
        if answer is None:
            return web.json_response({"error": {"message": "no reply queued"}}, status=400)
        return web.Response(body=answer, content_type="application/json")


@contextmanager
def serve_chat(bodies: list[bytes]) -> Iterator[Served]:
    with ChatReplayServer(*bodies) as server:
        yield Served(server.base_url, lambda: server.received)


@contextmanager
def serve_responses(bodies: list[bytes]) -> Iterator[Served]:
    queued = deque(bodies)

    def answer(body: JsonBody) -> Answer:
        if not queued:
            return Answer(400, "application/json", b'{"error": {"message": "no reply queued"}}')
        return Answer(200, "application/json", queued.popleft())

    with ReplayServer(answer) as server:
        yield Served(server.base_url, lambda: [body for _, body in server.requests])


@contextmanager
def serve_anthropic(bodies: list[bytes]) -> Iterator[Served]:
    def exhausted(body: JsonBody) -> AnthropicReply:
        error = {"type": "error", "error": {"type": "invalid_request_error", "message": "no reply"}}
        return AnthropicReply(json.dumps(error).encode(), status=400)

    with AnthropicServer(exhausted) as server:
        server.script(
            *(AnthropicReply(b, content_type="text/event-stream", chunk=97) for b in bodies)
        )
        yield Served(server.base_url, lambda: [r.body for r in server.requests])


@contextmanager
def serve_gemini(bodies: list[bytes]) -> Iterator[Served]:
    with GeminiServer() as server:
        server.script(*(GeminiReply(b) for b in bodies))
        yield Served(server.base_url, lambda: [r.body for r in server.requests])


@contextmanager
def serve_ollama(bodies: list[bytes]) -> Iterator[Served]:
    with OllamaServer() as server:
        server.queue(
            *(OllamaReply(b, content_type="application/x-ndjson", chunk=97) for b in bodies)
        )
        yield Served(server.base_url, lambda: server.requests)


# Reading and editing recorded bodies -----------------------------------------------------------


def sse_data(body: bytes) -> list[JsonBody]:
    """The JSON of each ``data:`` line of an SSE body, read plainly."""
    lines = body.decode().splitlines()
    return [json.loads(line.removeprefix("data:")) for line in lines if line.startswith("data:")]


def ndjson(body: bytes) -> list[JsonBody]:
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


def replace_once(body: bytes, old: str, new: str) -> bytes:
    """`body` with its one occurrence of `old` replaced by `new` (a stream edited in place)."""
    assert body.count(old.encode()) == 1, f"{old!r} is not in the recording exactly once"
    return body.replace(old.encode(), new.encode())


def chat_text(body: bytes) -> str:
    return json.loads(body)["choices"][0]["message"]["content"]


def with_chat_text(body: bytes, text: str) -> bytes:
    whole = json.loads(body)
    whole["choices"][0]["message"]["content"] = text
    return json.dumps(whole).encode()


def responses_text(body: bytes) -> str:
    (message,) = json.loads(body)["output"]
    (content,) = message["content"]
    return content["text"]


def with_responses_text(body: bytes, text: str) -> bytes:
    whole = json.loads(body)
    whole["output"][0]["content"][0]["text"] = text
    return json.dumps(whole).encode()


def responses_model_turn(text: str, body: bytes) -> JsonBody:
    """A stored response's message goes back with its id and status (the server keeps it)."""
    (message,) = json.loads(body)["output"]
    assert message["type"] == "message"
    return {
        "type": "message",
        "role": "assistant",
        "id": message["id"],
        "status": message["status"],
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def anthropic_text(body: bytes) -> str:
    deltas = [e["delta"] for e in sse_data(body) if e["type"] == "content_block_delta"]
    assert all(d["type"] == "text_delta" for d in deltas)
    return "".join(d["text"] for d in deltas)


def gemini_text(body: bytes) -> str:
    (candidate,) = json.loads(body)["candidates"]
    (part,) = candidate["content"]["parts"]
    return part["text"]


def with_gemini_text(body: bytes, text: str) -> bytes:
    whole = json.loads(body)
    whole["candidates"][0]["content"]["parts"][0]["text"] = text
    return json.dumps(whole).encode()


def ollama_text(body: bytes) -> str:
    return "".join(line["message"]["content"] for line in ndjson(body))


# The cases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wire:
    """One provider wire, its JSON-schema recording and how to read its requests."""

    id: str
    file: str
    model: str
    """``<provider>/<the recorded model>``."""
    stream: bool
    """Whether the recording is streamed (the run streams too)."""
    serve: Callable[[list[bytes]], Any]
    schema: Callable[[JsonBody], JsonBody]
    """The schema the recorded request sent."""
    prompt: Callable[[JsonBody], str]
    """The user text of the recorded request (the extraction's input)."""
    config: Callable[[JsonBody], JsonBody]
    """Where a request carries the `structured_output` options (the body, or a part of it)."""
    conversation: Callable[[JsonBody], list[Any]]
    user: Callable[[str], Any]
    """A user turn holding only `text`, in the wire's shape."""
    model_turn: Callable[[str, bytes], Any]
    """The model's answer `text` (from a response `body`) sent back, in the wire's shape."""
    answer: Callable[[bytes], str]
    """The answer text of a recorded response body."""
    broken: Callable[[bytes], bytes]
    """The recorded body edited so that its answer is not valid against the schema."""
    error: str
    """The validation error of the broken answer."""
    dtypes: dict[str, pl.DataType]
    """The typed columns the schema gives."""
    usage: tuple[int, int]
    """The recorded response's input and output tokens."""

    def exchange(self) -> Exchange:
        (exchange,) = load(CONFORMANCE / self.file)
        assert (exchange.method, exchange.status) == ("POST", 200)
        return exchange


BOOK_DTYPES: dict[str, pl.DataType] = {
    "title": pl.String(),
    "author": pl.Struct({"first_name": pl.String(), "last_name": pl.String()}),
    "rating": pl.Int64(),
}
# The book recordings ask for `rating` 7 (an integer); the broken answer says it in words.
BOOK_ERROR = "at `rating`: 'seven' is not of type 'integer'"


def broken_book(text: str) -> str:
    answer = json.loads(text)
    assert answer["rating"] == 7
    return json.dumps({**answer, "rating": "seven"})


WIRES = [
    Wire(
        id="openai-chat",
        file="openai/openai-chat-json-schema-strict.yaml",
        model="openai/gpt-4o",
        stream=False,
        serve=serve_chat,
        schema=lambda body: body["response_format"]["json_schema"]["schema"],
        prompt=lambda body: body["messages"][0]["content"],
        config=lambda body: body,
        conversation=lambda body: body["messages"],
        user=lambda text: {"role": "user", "content": text},
        model_turn=lambda text, body: {"role": "assistant", "content": text},
        answer=chat_text,
        broken=lambda body: with_chat_text(body, broken_book(chat_text(body))),
        error=BOOK_ERROR,
        dtypes=BOOK_DTYPES,
        usage=(172, 29),
    ),
    Wire(
        id="openai-responses",
        file="openai/openai-responses-json-schema-strict.yaml",
        model="openai-responses/gpt-4o",
        stream=False,
        serve=serve_responses,
        schema=lambda body: body["text"]["format"]["schema"],
        prompt=lambda body: body["input"][0]["content"],
        config=lambda body: body,
        conversation=lambda body: body["input"],
        user=lambda text: {"role": "user", "content": text},
        model_turn=responses_model_turn,
        answer=responses_text,
        broken=lambda body: with_responses_text(body, broken_book(responses_text(body))),
        error=BOOK_ERROR,
        dtypes=BOOK_DTYPES,
        usage=(166, 30),
    ),
    Wire(
        id="anthropic",
        file="anthropic/anthropic-messages-stream-json-schema.yaml",
        model="anthropic/claude-sonnet-4-5",
        stream=True,
        serve=serve_anthropic,
        schema=lambda body: body["output_config"]["format"]["schema"],
        prompt=lambda body: body["messages"][0]["content"][0]["text"],
        config=lambda body: body,
        conversation=lambda body: body["messages"],
        user=lambda text: {"role": "user", "content": text},
        model_turn=lambda text, body: {
            "role": "assistant",
            "content": [{"type": "text", "text": text}],
        },
        answer=anthropic_text,
        # The age is in one text delta (JSON-escaped in the SSE data): write it in words.
        broken=lambda body: replace_once(body, r"\"age\": 4,", r"\"age\": \"four\","),
        error="at `age`: 'four' is not of type 'integer'",
        dtypes={"name": pl.String(), "age": pl.Int64(), "bio": pl.String()},
        usage=(230, 94),
    ),
    Wire(
        id="gemini",
        file="gemini/gemini-json-schema.yaml",
        model="gemini/gemini-2.0-flash",
        stream=False,
        serve=serve_gemini,
        schema=lambda body: body["generationConfig"]["responseJsonSchema"],
        prompt=lambda body: body["contents"][0]["parts"][0]["text"],
        config=lambda body: body["generationConfig"],
        conversation=lambda body: body["contents"],
        user=lambda text: {"role": "user", "parts": [{"text": text}]},
        model_turn=lambda text, body: {"role": "model", "parts": [{"text": text}]},
        answer=gemini_text,
        # The required `country` left out.
        broken=lambda body: with_gemini_text(body, '{"city": "Mexico City"}'),
        error="'country' is a required property",
        dtypes={"city": pl.String(), "country": pl.String()},
        usage=(8, 20),
    ),
    Wire(
        id="ollama",
        file="ollama/ollama-chat-stream-format-json-schema.httprr",
        model="ollama/gemma3:1b",
        stream=True,
        serve=serve_ollama,
        schema=lambda body: body["format"],
        prompt=lambda body: body["messages"][0]["content"],
        config=lambda body: body,
        conversation=lambda body: body["messages"],
        user=lambda text: {"role": "user", "content": text},
        model_turn=lambda text, body: {"role": "assistant", "content": text},
        answer=ollama_text,
        # The number quoted, a string: two NDJSON lines of the stream edited.
        broken=lambda body: replace_once(
            replace_once(body, '"content":" "}', '"content":" \\""}'),
            '"content":"}"}',
            '"content":"\\"}"}',
        ),
        error="at `feet`: '6076' is not of type 'number'",
        dtypes={"feet": pl.Float64()},
        usage=(25, 10),
    ),
]

pytestmark = needs_conformance


def extract(wire: Wire, served: Served, run_dir: Path) -> pl.DataFrame:
    recorded = wire.exchange().request_json()
    return llmframe.extract(
        [wire.prompt(recorded)],
        wire.schema(recorded),
        model=wire.model,
        base_url=served.base_url,
        run_dir=run_dir,
        stream=wire.stream,
        max_retries=0,
        progress=False,
    )


def native_options(wire: Wire) -> JsonBody:
    """What the wire's provider asks for natively, given the recorded schema."""
    schema = wire.schema(wire.exchange().request_json())
    provider = get_provider(ENDPOINTS[wire.model.partition("/")[0]].wire)
    return dict(provider.structured_output(schema, schema_name(schema)).options)


def assert_row_holds_the_recorded_answer(wire: Wire, frame: pl.DataFrame) -> None:
    answer = json.loads(wire.answer(wire.exchange().body))
    assert frame.height == 1
    row = frame.row(0, named=True)
    assert (row["_status"], row["_error"], row["_model"]) == ("ok", None, wire.model)
    assert {name: frame.schema[name] for name in wire.dtypes} == wire.dtypes
    assert {name: row[name] for name in wire.dtypes} == answer
    assert list(answer) == list(wire.dtypes)  # every field of the answer became a column


def assert_turns_add_up(wire: Wire, run_dir: Path, turns: int) -> None:
    """The run's one response row counts every turn's attempt and tokens."""
    (row,) = llmframe.open(run_dir).responses().to_dicts()
    assert (row["status"], row["attempts"]) == ("ok", turns)
    assert (row["input_tokens"], row["output_tokens"]) == tuple(turns * n for n in wire.usage)


@pytest.mark.parametrize("wire", WIRES, ids=[w.id for w in WIRES])
def test_the_recorded_answer_becomes_the_typed_row(wire: Wire, tmp_path: Path) -> None:
    exchange = wire.exchange()
    with wire.serve([exchange.body]) as served:
        frame = extract(wire, served, tmp_path / "run")
        (sent,) = served.received()

    options = native_options(wire)
    assert {key: wire.config(sent)[key] for key in options} == options
    # ... which are the fields the real provider was sent, and answered.
    assert {key: wire.config(exchange.request_json())[key] for key in options} == options
    assert sent.get("stream", False) is wire.stream  # Gemini says it in the path instead
    prompt = wire.prompt(exchange.request_json())
    assert wire.conversation(sent)[-1] == wire.user(prompt)
    assert_row_holds_the_recorded_answer(wire, frame)
    assert_turns_add_up(wire, tmp_path / "run", 1)


@pytest.mark.parametrize("wire", WIRES, ids=[w.id for w in WIRES])
def test_an_answer_breaking_the_schema_gets_a_repair_turn(wire: Wire, tmp_path: Path) -> None:
    exchange = wire.exchange()
    broken = wire.broken(exchange.body)
    bad_text = wire.answer(broken)
    json.loads(bad_text)  # valid JSON, only not valid against the schema
    with wire.serve([broken, exchange.body]) as served:
        frame = extract(wire, served, tmp_path / "run")
        first, second = served.received()

    assert wire.conversation(second) == [
        *wire.conversation(first),
        wire.model_turn(bad_text, broken),
        wire.user(repair_message(wire.error)),
    ]
    options = native_options(wire)
    for sent in (first, second):
        assert {key: wire.config(sent)[key] for key in options} == options
    assert_row_holds_the_recorded_answer(wire, frame)
    assert_turns_add_up(wire, tmp_path / "run", 2)
