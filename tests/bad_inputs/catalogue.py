"""The bad input catalogue, as data: what each case runs, what is wrong, what it must name.

A `Case` is one bad input: a command line after ``llmframe`` (``{openai}`` stands for a model on
the loopback test server, ``--model openai/m --base-url URL``; ``{url}`` for its URL alone) or a
Python call starting ``llmframe.`` (evaluated with `API_NAMES` and ``URL``), the files it runs on
besides `BASE_FILES`, an optional `setup` (symlinks, an earlier run), and a fragment of the
message that names what is wrong and where. `tests/test_suite_bad_input.py` plays them and
writes `docs/errors.md` from them.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import llmframe
from llmframe.errors import (
    InputError,
    InvalidInput,
    LlmframeError,
    MediaPathError,
    RunMismatch,
    SchemaMismatch,
    StoreError,
    UsageError,
)

__all__ = ["API_NAMES", "BASE_FILES", "CASES", "COMMANDS", "SHOWN_URL", "TOPICS", "Case"]

COMMANDS = ("run", "extract", "convert", "validate", "api")
SHOWN_URL = "http://127.0.0.1:PORT/v1"
"""The test server's URL as the docs show it."""

Setup = Callable[[Path, str], None]
"""Prepares more than files in the case's folder; gets the folder and the server's URL."""


@dataclass(frozen=True)
class Case:
    """One bad input: how it is given, what is wrong, and what the message must name."""

    id: str
    what: str
    """What is wrong, for the docs."""
    cmd: str
    """The command line after ``llmframe``, or a Python call starting ``llmframe.``."""
    expect: str
    """A fragment of the message (the folder written ``<dir>``) naming what and where."""
    error: type[LlmframeError] = LlmframeError
    """For a Python call: the class it raises."""
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    setup: Setup | None = None
    parser: bool = False
    """The value is refused by the argument parser: typer's usage and `Error:` line."""

    @property
    def command(self) -> str:
        """``run``, ``extract``, ``convert``, ``validate``, or ``api`` for a Python call."""
        return "api" if self.cmd.startswith("llmframe.") else self.cmd.split()[0]

    def _expand(self, url: str) -> str:
        return self.cmd.replace("{openai}", f"--model openai/m --base-url {url}").replace(
            "{url}", url
        )

    def argv(self, url: str) -> list[str]:
        """The CLI arguments, with the server at `url`."""
        return shlex.split(self._expand(url))

    def shown(self) -> str:
        """The command line or call as the docs show it."""
        if self.command == "api":
            return self.cmd.replace("URL", json.dumps(SHOWN_URL))
        return f"llmframe {self._expand(SHOWN_URL)}"


def jsonl(*records: Any) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def chat(*messages: dict[str, Any], row_id: str = "c1") -> dict[str, Any]:
    return {"id": row_id, "messages": list(messages)}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def asking(*parts: dict[str, Any]) -> str:
    """A chat JSONL line: the user asks ``What is in it?`` with `parts` (content part 2 on)."""
    return jsonl(chat(user([{"type": "text", "text": "What is in it?"}, *parts])))


def image_url(url: str) -> str:
    return asking({"type": "image_url", "image_url": {"url": url}})


# The files every case's folder starts with -------------------------------------------------------

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
BASE_FILES: dict[str, str | bytes] = {
    "prompts.jsonl": jsonl(
        {"id": "p1", "prompt": "Name a colour."}, {"id": "p2", "prompt": "Name a fish."}
    ),
    "reviews.csv": "review,stars\nGreat phone,5\nBroke after a week,1\n",
    "tools.json": json.dumps([WEATHER]) + "\n",
}
FAKE_PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)


# Setups that need more than files ----------------------------------------------------------------


def _outside(folder: Path) -> Path:
    """A real image just outside the case's folder (escaping, not missing, is the problem)."""
    outside = folder.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.png").write_bytes(FAKE_PNG)
    return outside / "secret.png"


def dotdot_out(folder: Path, url: str) -> None:
    _outside(folder)


def absolute_outside(folder: Path, url: str) -> None:
    (folder / "absolute.jsonl").write_text(image_url(str(_outside(folder))), encoding="utf-8")


def symlink_out(folder: Path, url: str) -> None:
    (folder / "cat.png").symlink_to(_outside(folder))


def truncated_parquet(folder: Path, url: str) -> None:
    whole = folder / "whole.parquet"
    pq.write_table(pa.table({"review": ["Great phone"] * 50, "stars": [5] * 50}), whole)
    (folder / "reviews.parquet").write_bytes(whole.read_bytes()[:200])
    whole.unlink()


def a_folder(name: str) -> Setup:
    def make(folder: Path, url: str) -> None:
        (folder / name).mkdir()

    return make


def earlier_run(options: Mapping[str, Any] | None = None) -> Setup:
    """A finished run of prompts.jsonl in `run/`, answered by the loopback server."""

    def make(folder: Path, url: str) -> None:
        llmframe.run("prompts.jsonl", model="openai/m", base_url=url, out="run", options=options)

    return make


def earlier_extraction(folder: Path, url: str) -> None:
    """A finished extraction of reviews.csv into out.parquet (its run in out.run/)."""
    llmframe.extract(
        "reviews.csv", "sentiment str", model="openai/m", base_url=url, column="review",
        out="out.parquet",
    )  # fmt: skip


# Sample tools for the API cases ------------------------------------------------------------------


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


def get_weather_too(city: str) -> str:
    """Current weather for a city, again."""
    return f"rainy in {city}"


get_weather_too.__name__ = "get_weather"


def search(*terms: str) -> list[str]:
    """Search for any number of terms."""
    return list(terms)


API_NAMES: dict[str, Any] = {
    "llmframe": llmframe,
    "get_weather": get_weather,
    "get_weather_too": get_weather_too,
    "search": search,
}

# The catalogue -----------------------------------------------------------------------------------

_EXTRACT = "extract reviews.csv --column review --schema"
"""The start of most `extract` cases: the reviews' text against a schema."""
_RUN_API = 'llmframe.run(["hi"], model="openai/m", base_url=URL, out="run"'
"""The start of most `llmframe.run` cases."""

FILES = [
    Case(
        "run-file-missing",
        "The input file does not exist.",
        "run nope.jsonl {openai} --out run",
        "nope.jsonl: file not found",
    ),
    Case(
        "validate-file-empty",
        "The input file is empty.",
        "validate empty.jsonl",
        "empty.jsonl: file is empty",
        files={"empty.jsonl": ""},
    ),
    Case(
        "convert-not-a-table",
        "The input is not Parquet, JSON Lines, JSON or CSV.",
        "convert blob.bin out.parquet",
        "blob.bin: unknown format",
        files={"blob.bin": b"\x00\x01\x02\x03 not a table \xfe\xff"},
    ),
    Case(
        "convert-input-is-a-folder",
        "The input path is a folder.",
        "convert data.jsonl out.parquet",
        "data.jsonl: is a folder, not a file",
        setup=a_folder("data.jsonl"),
    ),
    Case(
        "validate-malformed-json-line",
        "Line 3 of a JSON Lines file is not valid JSON.",
        "validate lines.jsonl",
        "lines.jsonl: line 3: malformed JSON",
        files={"lines.jsonl": '{"prompt": "a"}\n{"prompt": "b"}\n{"prompt": "c",\n{"prompt": 1}\n'},
    ),
    Case(
        "run-bad-gzip",
        "A `.gz` input whose compressed data is cut short.",
        "run prompts.jsonl.gz {openai} --out run",
        "prompts.jsonl.gz: broken gzip data",
        files={"prompts.jsonl.gz": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03KO"},
    ),
    Case(
        "extract-truncated-parquet",
        "A Parquet file cut off after 200 bytes.",
        "extract reviews.parquet --column review --schema 'sentiment str' {openai} "
        "--out out.parquet",
        "reviews.parquet: not a readable Parquet file",
        setup=truncated_parquet,
    ),
    Case(
        "validate-csv-ragged-row",
        "A CSV row with more fields than the header.",
        "validate ragged.csv",
        "ragged.csv: row 2: expected 2 fields, got 3",
        files={"ragged.csv": "prompt,topic\nName a colour.,art\nName a fish.,sea,extra\n"},
    ),
    Case(
        "convert-output-format-unknown",
        "The output's extension says neither Parquet nor JSON Lines.",
        "convert prompts.jsonl out.txt",
        "cannot tell the output format of `out.txt`",
    ),
    Case(
        "convert-output-is-a-folder",
        "The output path is an existing folder.",
        "convert prompts.jsonl out.parquet",
        "cannot write `out.parquet`",
        setup=a_folder("out.parquet"),
    ),
]

COLUMNS = [
    Case(
        "run-no-prompt-column",
        "No column says what to send, and neither `--column` nor `--template` is given.",
        "run notes.csv {openai} --out run",
        "notes.csv: no `messages`, `conversations` or `prompt` column",
        files={"notes.csv": "text,label\nhello,1\n"},
    ),
    Case(
        "validate-null-prompt",
        "A null `prompt` on line 2.",
        "validate nulls.jsonl",
        "nulls.jsonl: line 2: column `prompt`: null, expected text",
        files={"nulls.jsonl": jsonl({"prompt": "a"}, {"prompt": None})},
    ),
    Case(
        "run-prompt-not-text",
        "A number where the prompt's text should be.",
        "run numbers.jsonl {openai} --out run",
        "numbers.jsonl: line 2: column `prompt`: expected text, got int `42`",
        files={"numbers.jsonl": jsonl({"prompt": "a"}, {"prompt": 42})},
    ),
    Case(
        "extract-column-missing",
        "`--column` names a column the input does not have.",
        "extract reviews.csv --column body --schema 'sentiment str' {openai} --out out.parquet",
        "reviews.csv: no column `body`; columns are: `review`, `stars`",
    ),
    Case(
        "extract-column-not-text",
        "`--column` names a column of numbers.",
        "extract reviews.csv --column stars --schema 'sentiment str' {openai} --out out.parquet",
        "reviews.csv: row 1: column `stars`: expected text, got int `5`",
    ),
    Case(
        "convert-messages-not-a-list",
        "A `messages` cell holding a string.",
        "convert messages.jsonl out.parquet",
        "messages.jsonl: line 1: column `messages`: expected a list of messages",
        files={"messages.jsonl": jsonl({"id": "a", "messages": "What is 2 + 2?"})},
    ),
    Case(
        "run-duplicate-ids",
        "Two rows with the same id.",
        "run ids.jsonl {openai} --out run",
        "ids.jsonl: line 3: column `id`: duplicate id `a` (first at line 1)",
        files={"ids.jsonl": jsonl(*({"id": i, "prompt": "x"} for i in "aba"))},
    ),
    Case(
        "validate-id-column-missing",
        "`--id-column` names a column the input does not have.",
        "validate prompts.jsonl --id-column key",
        "`--id-column key` is not a column of prompts.jsonl",
    ),
    Case(
        "run-options-cell-not-an-object",
        "A per-row `options` cell that is a JSON list.",
        "run opts.jsonl {openai} --out run",
        "opts.jsonl: line 1: column `options`: `options` must be a JSON object",
        files={"opts.jsonl": jsonl({"prompt": "hi", "options": "[1]"})},
    ),
]

ROLES_AND_PARTS = [
    Case(
        "validate-unknown-role",
        "An OpenAI chat message with the role `wizard`.",
        "validate roles.jsonl",
        "roles.jsonl: line 1: column `messages`: message 2: unknown role `wizard`",
        files={"roles.jsonl": jsonl(chat(user("hi"), {"role": "wizard", "content": "Poof."}))},
    ),
    Case(
        "run-sharegpt-unknown-speaker",
        "A ShareGPT turn `from` a speaker llmframe does not know.",
        "run share.json {openai} --out run",
        "share.json: row 1: column `conversations`: message 1: unknown role `alien`",
        files={"share.json": json.dumps([{"conversations": [{"from": "alien", "value": "hi"}]}])},
    ),
    Case(
        "convert-tool-message-without-call-id",
        "A `tool` message that does not say which call it answers.",
        "convert tool.jsonl out.parquet",
        "tool.jsonl: line 1: column `messages`: message 2: tool message has no `tool_call_id`",
        files={"tool.jsonl": jsonl(chat(user("Weather?"), {"role": "tool", "content": "14"}))},
    ),
    Case(
        "validate-unknown-part-type",
        "A content part of type `hologram`.",
        "validate parts.jsonl",
        "parts.jsonl: line 1: column `messages`: message 1: content part 2: "
        "unknown part type `hologram`",
        files={"parts.jsonl": asking({"type": "hologram", "hologram": {}})},
    ),
    Case(
        "run-image-without-uri-or-data",
        "An image part (llmframe's own message schema) with neither `uri` nor `data`.",
        "run image.jsonl {openai} --out run",
        "image.jsonl: line 1: column `messages`: message 1: part 2: "
        "image part needs `uri` or `data`",
        files={
            "image.jsonl": jsonl(
                chat({"role": "user", "parts": [{"type": "text", "text": "hi"}, {"type": "image"}]})
            )
        },
    ),
    Case(
        "convert-image-url-without-url",
        "An OpenAI `image_url` part without its `url`.",
        "convert image.jsonl out.parquet",
        "image.jsonl: line 1: column `messages`: message 1: content part 2: image_url needs `url`",
        files={"image.jsonl": asking({"type": "image_url", "image_url": {}})},
    ),
    Case(
        "run-audio-for-anthropic",
        "An audio part for a provider that takes no audio.",
        "run audio.jsonl --model anthropic/claude-x --base-url {url} --out run",
        "audio.jsonl: id `c1`: `anthropic/claude-x` cannot take an audio part (message 1, part 2)",
        files={
            "audio.jsonl": asking(
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
            )
        },
    ),
    Case(
        "convert-jsonl-cannot-carry-json-part",
        "A JSON part, which OpenAI chat JSONL cannot carry (Parquet can).",
        "convert ours.jsonl out.jsonl",
        "out.jsonl: id `x`: message 2: ",
        files={
            "ours.jsonl": jsonl(
                chat(
                    {"role": "user", "parts": [{"type": "text", "text": "hi"}]},
                    {"role": "assistant", "parts": [{"type": "json", "json": {"a": 1}}]},
                    row_id="x",
                )
            )
        },
    ),
    Case(
        "run-system-after-user-gemini",
        "A system message after the user's, for Gemini (one system instruction, first): refused "
        "up front rather than as an error row per such row.",
        "run late.jsonl --model gemini/gemini-x --base-url {url} --out run",
        "late.jsonl: line 1: column `messages`: message 2",
        files={"late.jsonl": jsonl(chat(user("hi"), {"role": "system", "content": "Be brief."}))},
    ),
]

TEMPLATES = [
    Case(
        "run-template-unknown-column",
        "The template names a column the input does not have.",
        "run reviews.csv --template 'Review of {product}: {review}' {openai} --out run",
        "reviews.csv: template names missing column(s) `product`",
    ),
    Case(
        "validate-template-unclosed-brace",
        "A template with an unclosed brace.",
        "validate reviews.csv --template 'Rate {review'",
        "reviews.csv: template `Rate {review` is malformed",
    ),
    Case(
        "convert-template-attribute-access",
        "A template that reaches into an attribute (nothing is evaluated).",
        "convert reviews.csv out.parquet --template 'Rate {review.__class__}'",
        "reviews.csv: template field `{review.__class__}` uses attribute access",
    ),
    Case(
        "run-template-and-column",
        "Both `--template` and `--column`.",
        "run reviews.csv --column review --template '{review}' {openai} --out run",
        "give `--column` or `--template`, not both",
    ),
]

SCHEMAS = [
    Case(
        "extract-schema-dsl-unknown-type",
        "A field DSL type word that does not exist.",
        f"{_EXTRACT} 'name, price money' {{openai}} --out out.parquet",
        "unknown type `money` at column 13",
    ),
    Case(
        "extract-schema-dsl-duplicate-field",
        "The same field twice in the DSL.",
        f"{_EXTRACT} 'score int, score float' {{openai}} --out out.parquet",
        "duplicate field `score` at column 12",
    ),
    Case(
        "extract-schema-bad-json-schema",
        "An inline JSON Schema with an unknown `type`.",
        f"{_EXTRACT} "
        """'{"type": "object", "properties": {"score": {"type": "integr"}}}' """
        "{openai} --out out.parquet",
        "the inline JSON schema is not a valid JSON Schema at properties/score/type",
    ),
    Case(
        "extract-schema-root-not-an-object",
        "A JSON Schema whose root is an array, not an object with properties.",
        f"""{_EXTRACT} '{{"type": "array", "items": {{"type": "string"}}}}' """
        "{openai} --out out.parquet",
        "the extraction schema must be an object with `properties`",
    ),
    Case(
        "extract-schema-remote-ref",
        "A `$ref` to a schema on the web (nothing is fetched).",
        f"{_EXTRACT} schema.json {{openai}} --out out.parquet",
        "schema field `seller`: only local `$ref`s (#/$defs/...) are supported",
        files={
            "schema.json": json.dumps(
                {"type": "object", "properties": {"seller": {"$ref": "https://x.test/s.json"}}}
            )
        },
    ),
    Case(
        "extract-schema-malformed-json",
        "Inline JSON that does not parse.",
        f"""{_EXTRACT} '{{"type": "object", "properties":' {{openai}} --out out.parquet""",
        "inline JSON schema: bad JSON at line 1, column 33",
    ),
    Case(
        "extract-schema-file-missing",
        "A schema file that does not exist.",
        f"{_EXTRACT} nope.json {{openai}} --out out.parquet",
        "schema file `nope.json` not found",
    ),
    Case(
        "extract-schema-import-missing",
        "A `module:Class` schema whose module cannot be imported.",
        f"{_EXTRACT} nosuchpkg.models:Review {{openai}} --out out.parquet",
        "cannot import `nosuchpkg.models` for schema `nosuchpkg.models:Review`",
    ),
    Case(
        "extract-no-schema",
        "No `--schema` at all.",
        "extract reviews.csv --column review {openai} --out out.parquet",
        "Error: Invalid value for --schema: give the fields to extract",
        parser=True,
    ),
]

OPTIONS = [
    Case(
        "run-option-not-key-value",
        "A `-o` without `=`.",
        "run prompts.jsonl {openai} --out run -o temperature",
        "model option `temperature` is not `key=value`",
    ),
    Case(
        "extract-option-set-by-schema",
        "A model option the schema sets itself (`response_format` for OpenAI).",
        f"{_EXTRACT} 'sentiment str' {{openai}} --out out.parquet "
        """-o 'response_format={"type": "json_object"}'""",
        "option `response_format.type` is set by the output schema",
    ),
    Case(
        "run-header-not-name-value",
        "A `--header` without `=` (its text is not echoed: it may hold a credential).",
        "run prompts.jsonl {openai} --out run --header Bearer-sk-123",
        "header is not `Name=value`",
    ),
    Case(
        "run-follow-up-empty",
        "An empty `--follow-up`.",
        "run prompts.jsonl {openai} --out run --follow-up ' '",
        "`--follow-up` is empty",
    ),
    Case(
        "extract-repair-negative",
        "A negative number of repair turns.",
        f"{_EXTRACT} 'sentiment str' {{openai}} --out out.parquet --repair -1",
        "`--repair` must be at least 0, got -1",
    ),
    Case(
        "run-concurrency-not-a-number",
        "A `--concurrency` that is not a number.",
        "run prompts.jsonl {openai} --out run --concurrency many",
        "Error: Invalid value for '--concurrency'",
        parser=True,
    ),
    Case(
        "run-concurrency-zero",
        "`--concurrency 0`.",
        "run prompts.jsonl {openai} --out run --concurrency 0",
        "`--concurrency` must be at least 1, got 0",
    ),
    Case(
        "extract-concurrency-negative",
        "A negative `--concurrency`.",
        f"{_EXTRACT} 'sentiment str' {{openai}} --out out.parquet --concurrency -4",
        "`--concurrency` must be at least 1, got -4",
    ),
    Case(
        "run-rpm-zero",
        "`--rpm 0`.",
        "run prompts.jsonl {openai} --out run --rpm 0",
        "`--rpm` must be positive, got 0.0",
    ),
    Case(
        "run-tpm-negative",
        "A negative `--tpm`.",
        "run prompts.jsonl {openai} --out run --tpm -100",
        "`--tpm` must be positive, got -100.0",
    ),
    Case(
        "run-timeout-zero",
        "`--timeout 0`.",
        "run prompts.jsonl {openai} --out run --timeout 0",
        "`--timeout` must be positive, got 0.0",
    ),
    Case(
        "run-max-retries-negative",
        "A negative `--max-retries`.",
        "run prompts.jsonl {openai} --out run --max-retries -1",
        "`--max-retries` must be at least 0, got -1",
    ),
    Case(
        "run-retry-wait-negative",
        "A negative `--retry-wait`.",
        "run prompts.jsonl {openai} --out run --retry-wait -1",
        "`--retry-wait` must not be negative, got -1.0",
    ),
    Case(
        "run-limit-zero",
        "`--limit 0`.",
        "run prompts.jsonl {openai} --out run --limit 0",
        "`--limit` must be positive, got 0",
    ),
]

MODELS = [
    Case(
        "run-unknown-provider",
        "A model whose provider does not exist.",
        "run prompts.jsonl --model nope/x --out run",
        "unknown model `nope/x`",
    ),
    Case(
        "run-model-without-provider",
        "A model name without its `provider/` prefix.",
        "run prompts.jsonl --model gpt-4o-mini --out run",
        "unknown model `gpt-4o-mini`",
    ),
    Case(
        "run-missing-key-anthropic",
        "A hosted provider whose key variable is not set.",
        "run prompts.jsonl --model anthropic/claude-x --out run",
        "no API key for `anthropic/claude-x`: set `ANTHROPIC_API_KEY`",
    ),
    Case(
        "extract-missing-key-gemini",
        "A hosted provider whose key variable is not set.",
        f"{_EXTRACT} 'sentiment str' --model gemini/gemini-x --out out.parquet",
        "no API key for `gemini/gemini-x`: set `GEMINI_API_KEY`",
    ),
    Case(
        "run-missing-key-named-variable",
        "`--api-key-env` names a variable that is not set (its name is not echoed: it may be "
        "a key pasted by mistake).",
        "run prompts.jsonl --model openai/gpt-4o-mini --api-key-env MY_UNSET_KEY --out run",
        "no API key for `openai/gpt-4o-mini`: the variable named by `--api-key-env` is not set",
    ),
    Case(
        "run-no-model",
        "No `--model` and no `model` column.",
        "run prompts.jsonl --out run",
        "no model: pass `--model`",
    ),
    Case(
        "run-row-model-unknown",
        "A per-row `model` cell naming an unknown provider.",
        "run models.jsonl --out run",
        "models.jsonl: line 1: column `model`: unknown model `nope/x`",
        files={"models.jsonl": jsonl({"prompt": "hi", "model": "nope/x"})},
    ),
]

TOOLS = [
    Case(
        "run-tools-duplicate-names",
        "Two tools with one name.",
        "run prompts.jsonl {openai} --out run --tools dup.json",
        "tools file `dup.json`: tool `get_weather`: duplicate name (tool 1 has it too)",
        files={"dup.json": json.dumps([WEATHER, WEATHER])},
    ),
    Case(
        "run-tools-parameters-not-an-object",
        "A tool whose `parameters` is not an object schema.",
        "run prompts.jsonl {openai} --out run --tools params.json",
        "tools file `params.json`: tool `get_weather`: `parameters` must be a JSON Schema object",
        files={"params.json": json.dumps([{**WEATHER, "parameters": {"type": "string"}}])},
    ),
    Case(
        "run-tools-unknown-key",
        "A misspelt key in a tool definition (never dropped silently).",
        "run prompts.jsonl {openai} --out run --tools typo.json",
        "tools file `typo.json`: tool `get_weather`: unknown key `paramters`",
        files={"typo.json": json.dumps([{"name": "get_weather", "paramters": {}}])},
    ),
    Case(
        "run-tools-bad-name",
        "A tool name with a space.",
        "run prompts.jsonl {openai} --out run --tools names.json",
        "tools file `names.json`: tool `get weather`: the name must be 1 to 64 ASCII letters",
        files={"names.json": json.dumps([{"name": "get weather"}])},
    ),
    Case(
        "run-tools-file-missing",
        "A `--tools` file that does not exist.",
        "run prompts.jsonl {openai} --out run --tools nope.json",
        "tools file `nope.json` not found",
    ),
    Case(
        "run-tool-choice-unknown",
        "`--tool-choice` names no tool.",
        "run prompts.jsonl {openai} --out run --tools tools.json --tool-choice get_time",
        "`--tool-choice` `get_time` names no tool (the tools are: `get_weather`)",
    ),
    Case(
        "run-tool-choice-required-ollama",
        "A tool choice the provider cannot express (Ollama cannot force a call).",
        "run prompts.jsonl --model ollama/llama3 --base-url {url} --out run --tools tools.json "
        "--tool-choice required",
        "`tool_choice` `required` is not supported for Ollama",
    ),
    Case(
        "run-tools-column-bad-parameters",
        "A per-row `tools` cell whose tool has array `parameters`.",
        "run rowtools.jsonl {openai} --out run",
        "rowtools.jsonl: line 2: column `tools`: tool `lookup`: "
        "`parameters` must be a JSON Schema object",
        files={
            "rowtools.jsonl": jsonl(
                {"prompt": "hi"},
                {"prompt": "hi", "tools": [{"name": "lookup", "parameters": {"type": "array"}}]},
            )
        },
    ),
    Case(
        "validate-tools-column-duplicate-names",
        "A per-row `tools` cell offering one name twice.",
        "validate rowtools.jsonl",
        "rowtools.jsonl: line 1: column `tools`: tool `get_weather`: duplicate name",
        files={"rowtools.jsonl": jsonl({"prompt": "hi", "tools": [WEATHER, WEATHER]})},
    ),
    Case(
        "run-option-set-by-tools",
        "`-o tools=...` beside `--tools`, which would silently replace it.",
        "run prompts.jsonl {openai} --out run --tools tools.json -o tools=1",
        "option `tools` is set by",
    ),
]

MEDIA = [
    Case(
        "run-media-dotdot",
        "An image path that climbs out of the media root with `..`.",
        "run dotdot.jsonl {openai} --out run",
        "dotdot.jsonl: line 1: column `messages`: message 1: part 2: "
        "media path `../outside/secret.png` escapes the media root",
        files={"dotdot.jsonl": image_url("../outside/secret.png")},
        setup=dotdot_out,
    ),
    Case(
        "convert-media-absolute-outside",
        "An absolute image path outside the media root.",
        "convert absolute.jsonl out.parquet",
        "absolute.jsonl: line 1: column `messages`: message 1: part 2: "
        "media path `<dir>/../outside/secret.png` escapes the media root",
        setup=absolute_outside,
    ),
    Case(
        "validate-media-symlink-out",
        "An image inside the folder that is a symlink to a file outside it.",
        "validate link.jsonl",
        "link.jsonl: line 1: column `messages`: message 1: part 2: "
        "media path `cat.png` escapes the media root",
        files={"link.jsonl": image_url("cat.png")},
        setup=symlink_out,
    ),
    Case(
        "run-media-file-missing",
        "An image file that does not exist.",
        "run missing.jsonl {openai} --out run",
        "missing.jsonl: line 1: column `messages`: message 1: part 2: "
        "media file `images/cat.png` not found under the media root",
        files={"missing.jsonl": image_url("images/cat.png")},
    ),
    Case(
        "convert-media-file-url",
        "A `file:` URL (URLs are never fetched; only http(s) and data: are kept).",
        "convert fileurl.jsonl out.parquet",
        "fileurl.jsonl: line 1: column `messages`: message 1: part 2: "
        "unsupported URI scheme `file:`",
        files={"fileurl.jsonl": image_url("file:///etc/passwd")},
    ),
    Case(
        "run-media-root-not-a-folder",
        "`--media-root` names no folder.",
        "run prompts.jsonl {openai} --out run --media-root media",
        "`--media-root media` is not a folder",
    ),
]

RUNS_AND_OUTPUTS = [
    Case(
        "run-existing-different-options",
        "`run/` was made with `temperature` 0; the same command with `-o temperature=1`.",
        "run prompts.jsonl {openai} --out run -o temperature=1",
        "`run` holds a run made with other settings:\n  option `temperature`: 0 in the run, 1 now",
        setup=earlier_run({"temperature": 0}),
    ),
    Case(
        "run-existing-different-input",
        "`run/` was made from `prompts.jsonl`; another input into the same run.",
        "run other.jsonl {openai} --out run",
        "`run` holds a run made with other settings:\n  input: fingerprint ",
        files={"other.jsonl": jsonl({"id": "p1", "prompt": "Name a tree."})},
        setup=earlier_run(),
    ),
    Case(
        "run-existing-different-tools",
        "`run/` was made without tools; the same command with `--tools`.",
        "run prompts.jsonl {openai} --out run --tools tools.json",
        "`run` holds a run made with other settings:\n  tools: absent in the run",
        setup=earlier_run(),
    ),
    Case(
        "extract-existing-different-schema",
        "`out.run/` was extracted with `sentiment str`; the same output with `sentiment int`.",
        f"{_EXTRACT} 'sentiment int' {{openai}} --out out.parquet",
        "`out.run` holds a run made with other settings:\n  schema `properties.sentiment.type`: "
        '"string" in the run, "integer" now',
        setup=earlier_extraction,
    ),
    Case(
        "run-out-is-a-file",
        "`--out` names an existing file, not a run folder.",
        "run prompts.jsonl {openai} --out reviews.csv",
        "cannot create run folder `reviews.csv`: File exists",
    ),
    Case(
        "extract-out-not-parquet",
        "`extract --out` must be a .parquet file.",
        f"{_EXTRACT} 'sentiment str' {{openai}} --out out.csv",
        "`--out` must be a .parquet file, got `out.csv`",
    ),
    Case(
        "extract-out-folder-missing",
        "`extract --out` in a folder that does not exist.",
        f"{_EXTRACT} 'sentiment str' {{openai}} --out results/out.parquet",
        "`--out`: folder `results` does not exist",
    ),
    Case(
        "extract-no-out",
        "No `--out` (and no `--dry-run`).",
        f"{_EXTRACT} 'sentiment str' {{openai}}",
        "Error: Invalid value for --out: give the output Parquet file",
        parser=True,
    ),
    Case(
        "convert-output-is-the-input",
        "`convert` onto its own input, which would overwrite it.",
        "convert prompts.jsonl prompts.jsonl",
        "prompts.jsonl",
    ),
]

PYTHON_API = [
    Case(
        "api-run-unknown-model",
        "A model whose provider does not exist.",
        'llmframe.run(["hi"], model="nope/x", out="run")',
        "UsageError: unknown model `nope/x`",
        error=UsageError,
    ),
    Case(
        "api-run-missing-key",
        "A hosted provider whose key variable is not set.",
        'llmframe.run(["hi"], model="openai/gpt-4o-mini", out="run")',
        "UsageError: no API key for `openai/gpt-4o-mini`: set `OPENAI_API_KEY`",
        error=UsageError,
    ),
    Case(
        "api-run-data-not-readable",
        "Data of a type llmframe cannot read.",
        'llmframe.run(42, model="openai/m", base_url=URL, out="run")',
        "UsageError: cannot read a int",
        error=UsageError,
    ),
    Case(
        "api-run-empty-list",
        "An empty list of prompts.",
        'llmframe.run([], model="openai/m", base_url=URL, out="run")',
        "UsageError: no rows: the list is empty",
        error=UsageError,
    ),
    Case(
        "api-run-mixed-list",
        "A list mixing prompts and something else.",
        'llmframe.run(["hi", None], model="openai/m", base_url=URL, out="run")',
        "UsageError: a list of data must hold only prompts (str)",
        error=UsageError,
    ),
    Case(
        "api-run-conversation-unknown-role",
        "A conversation with an unknown role.",
        'llmframe.run([[{"role": "wizard", "content": "Poof."}]], model="openai/m", '
        'base_url=URL, out="run")',
        "SchemaMismatch: <list>: row 1: column `messages`: message 1: unknown role `wizard`",
        error=SchemaMismatch,
    ),
    Case(
        "api-run-rows-without-prompt",
        "Row dicts with no prompt column and no `column=`.",
        'llmframe.run([{"text": "hi"}], model="openai/m", base_url=URL, out="run")',
        "SchemaMismatch: <list>: no `messages`, `conversations` or `prompt` column",
        error=SchemaMismatch,
    ),
    Case(
        "api-run-concurrency-zero",
        "`concurrency=0`.",
        f"{_RUN_API}, concurrency=0)",
        "UsageError: `--concurrency` must be at least 1, got 0",
        error=UsageError,
    ),
    Case(
        "api-run-rpm-negative",
        "A negative `rpm`.",
        f"{_RUN_API}, rpm=-1)",
        "UsageError: `--rpm` must be positive, got -1",
        error=UsageError,
    ),
    Case(
        "api-run-tool-lambda",
        "A lambda as a tool (it has no name to offer).",
        f"{_RUN_API}, tools=[lambda city: city])",
        "UsageError: tool 1 (a lambda) has no usable name",
        error=UsageError,
    ),
    Case(
        "api-run-tool-varargs",
        "A function taking `*terms` as a tool.",
        f"{_RUN_API}, tools=[search])",
        "UsageError: function `search` cannot be a tool: parameter `*terms`",
        error=UsageError,
    ),
    Case(
        "api-run-tool-duplicate-functions",
        "Two functions with one name.",
        f"{_RUN_API}, tools=[get_weather, get_weather_too])",
        "UsageError: two tools are named `get_weather`",
        error=UsageError,
    ),
    Case(
        "api-run-tool-choice-unknown",
        "`tool_choice` names no tool.",
        f'{_RUN_API}, tools=[get_weather], tool_choice="get_time")',
        "UsageError: `--tool-choice` `get_time` names no tool (the tools are: `get_weather`)",
        error=UsageError,
    ),
    Case(
        "api-run-max-steps-zero",
        "`max_steps=0`.",
        f"{_RUN_API}, tools=[get_weather], max_steps=0)",
        "UsageError: `max_steps` must be at least 1",
        error=UsageError,
    ),
    Case(
        "api-run-tools-not-a-list",
        "`tools` that is neither a path nor a list.",
        f"{_RUN_API}, tools=5)",
        "UsageError: `tools` must be a file path or a list",
        error=UsageError,
    ),
    Case(
        "api-run-existing-different-options",
        '`run/` was made with `options={"temperature": 0}`; the same call with 1.',
        'llmframe.run("prompts.jsonl", model="openai/m", base_url=URL, out="run", '
        'options={"temperature": 1})',
        "RunMismatch: `run` holds a run made with other settings:\n"
        "  option `temperature`: 0 in the run, 1 now",
        error=RunMismatch,
        setup=earlier_run({"temperature": 0}),
    ),
    Case(
        "api-extract-schema-not-a-model",
        "A class that is not a pydantic model as the schema.",
        'llmframe.extract(["Great phone"], int, model="openai/m", base_url=URL, out="out.parquet")',
        "UsageError: `int` is not a pydantic model",
        error=UsageError,
    ),
    Case(
        "api-extract-schema-wrong-type",
        "A schema that is neither text, a dict nor a class.",
        'llmframe.extract(["Great phone"], 5, model="openai/m", base_url=URL, out="out.parquet")',
        "UsageError: `schema` must be a str, dict or pydantic model class, got int",
        error=UsageError,
    ),
    Case(
        "api-extract-schema-invalid-dict",
        "A dict that is not a valid JSON Schema.",
        'llmframe.extract(["Great phone"], {"type": "object", "properties": {"score": '
        '{"type": 3}}}, model="openai/m", base_url=URL, out="out.parquet")',
        "UsageError: the schema is not a valid JSON Schema at properties/score/type",
        error=UsageError,
    ),
    Case(
        "api-extract-out-not-parquet",
        "`out=` that is not a .parquet file.",
        'llmframe.extract(["Great phone"], "sentiment str", model="openai/m", base_url=URL, '
        'out="out.csv")',
        "UsageError: `--out` must be a .parquet file, got `out.csv`",
        error=UsageError,
    ),
    Case(
        "api-extract-option-set-by-schema",
        "A model option the schema sets itself.",
        'llmframe.extract(["Great phone"], "sentiment str", model="openai/m", base_url=URL, '
        'out="out.parquet", options={"response_format": {"type": "text"}})',
        "UsageError: option `response_format.type` is set by the output schema",
        error=UsageError,
    ),
    Case(
        "api-validate-unknown-role",
        "An OpenAI chat message with the role `wizard`.",
        'llmframe.validate("roles.jsonl")',
        "SchemaMismatch: roles.jsonl: line 1: column `messages`: message 2: unknown role `wizard`",
        error=SchemaMismatch,
        files={"roles.jsonl": jsonl(chat(user("hi"), {"role": "wizard", "content": "Poof."}))},
    ),
    Case(
        "api-validate-several-problems",
        "Two bad lines: both are reported, in `InvalidInput.problems`.",
        'llmframe.validate("lines.jsonl")',
        "InvalidInput: lines.jsonl: 2 problems found\nlines.jsonl: line 2: malformed JSON",
        error=InvalidInput,
        files={"lines.jsonl": '{"prompt": "a"}\n{"prompt": "b",\n{"prompt": null}\n'},
    ),
    Case(
        "api-read-prompts-missing-file",
        "`read_prompts` of a file that does not exist.",
        'llmframe.read_prompts("nope.csv")',
        "InputError: nope.csv: file not found",
        error=InputError,
    ),
    Case(
        "api-convert-media-escape",
        "`convert` of a row whose image climbs out of the media root.",
        'llmframe.convert("dotdot.jsonl", "out.parquet")',
        "MediaPathError: dotdot.jsonl: line 1: column `messages`: message 1: part 2: "
        "media path `../outside/secret.png` escapes the media root",
        error=MediaPathError,
        files={"dotdot.jsonl": image_url("../outside/secret.png")},
        setup=dotdot_out,
    ),
    Case(
        "api-convert-output-format-unknown",
        "`convert` to an extension that is neither Parquet nor JSON Lines.",
        'llmframe.convert("prompts.jsonl", "out.txt")',
        "UsageError: cannot tell the output format of `out.txt`",
        error=UsageError,
    ),
    Case(
        "api-open-missing-run",
        "`open` of a run folder that does not exist.",
        'llmframe.open("nope")',
        "StoreError: no run at `nope`: the folder does not exist",
        error=StoreError,
    ),
    Case(
        "api-run-options-not-a-mapping",
        "`options=` that is not a mapping.",
        f"{_RUN_API}, options=[1])",
        "UsageError: `options`",
        error=UsageError,
    ),
]

TOPICS: dict[str, list[Case]] = {
    "Files": FILES,
    "Columns": COLUMNS,
    "Roles and parts": ROLES_AND_PARTS,
    "Templates": TEMPLATES,
    "Schemas": SCHEMAS,
    "Options, concurrency and rate limits": OPTIONS,
    "Model names and keys": MODELS,
    "Tool definitions": TOOLS,
    "Media paths": MEDIA,
    "Existing runs and outputs": RUNS_AND_OUTPUTS,
    "The Python API": PYTHON_API,
}
"""The catalogue by topic, in the order the docs show it."""
CASES: list[Case] = [case for cases in TOPICS.values() for case in cases]
