"""Suite 4 of issue #8, the bad input catalogue: refused before anything is sent or written.

The catalogue is data, `bad_inputs.catalogue.CASES`: each case is a command line (`run`,
`extract`, `convert`, `validate`) or a Python API call, the files it runs on, what is wrong and a
fragment of the message naming what and where. `test_case_is_refused` plays each one in a fresh
folder and checks the whole contract:

- the CLI exits 2 with an `llmframe: error:` message (typer's usage and `Error:` line for a value
  the argument parser refuses) and no traceback; the API raises the case's `LlmframeError`
  subclass;
- the message holds the case's fragment (file, line or row, column, option, tool);
- the loopback OpenAI server every model points at received no request;
- no file appeared, vanished or changed under the case's folder or beside it (an existing run
  keeps every byte);
- `docs/errors.md` shows the case as it is: what is wrong, its files, the command and the exact
  message, with the folder written `<dir>` and the server's URL `http://127.0.0.1:PORT/v1`.

``python tests/test_suite_bad_input.py --write-docs`` regenerates `docs/errors.md` from the
messages the cases really give; `test_docs_list_every_case_once` catches stale or missing entries.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from bad_inputs.catalogue import (
    API_NAMES,
    BASE_FILES,
    CASES,
    COMMANDS,
    SHOWN_URL,
    TOPICS,
    Case,
)

from llmframe.cli import main
from llmframe.errors import LlmframeError

if TYPE_CHECKING:
    from openai_server import OpenAIServer

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs" / "errors.md"
KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")
REGENERATE = "run `python tests/test_suite_bad_input.py --write-docs`"


# Playing a case ----------------------------------------------------------------------------------


def cli(args: list[str]) -> tuple[int, str, str]:
    """Run ``llmframe ARGS`` in process: the exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exit_info:
            code = exit_info.code
    return (
        (code if isinstance(code, int) else 0 if code is None else 1),
        out.getvalue(),
        err.getvalue(),
    )


@contextlib.contextmanager
def isolated(folder: Path) -> Iterator[None]:
    """Work in `folder` with no provider key set; put both back afterwards."""
    cwd, saved = Path.cwd(), {k: os.environ.pop(k) for k in KEY_VARIABLES if k in os.environ}
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(cwd)
        os.environ.update(saved)


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every path under `root`: a file's bytes, a folder, a symlink's target."""
    found: dict[str, bytes | str] = {}
    for top, folders, files in os.walk(root):
        for name in [*folders, *files]:
            path = Path(top, name)
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = f"-> {os.readlink(path)}"
            elif path.is_dir():
                found[key] = "<folder>"
            else:
                found[key] = path.read_bytes()
    return found


def normalise(text: str, folder: Path, url: str) -> str:
    """`text` with the case's folder as ``<dir>``, the server's URL as `SHOWN_URL` and SHA-256
    fingerprints as ``<sha256>``, so the docs read the same on every machine."""
    for path in (folder, folder.resolve()):
        text = text.replace(str(path), "<dir>")
    for path in (folder.parent, folder.parent.resolve()):
        text = text.replace(str(path), "<dir>/..")
    text = re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", text)  # input fingerprints
    return text.replace(url, SHOWN_URL).strip()


@dataclass(frozen=True)
class Outcome:
    """What a case did: exit code (2 for an API error), output, message, error class."""

    code: int
    stdout: str
    message: str
    error: type[BaseException] | None


def play(case: Case, root: Path, server: OpenAIServer) -> tuple[Outcome, int]:
    """Set the case up in ``root/case`` and run it; also returns the requests it sent."""
    folder = root / "case"
    folder.mkdir()
    for name, content in {**BASE_FILES, **case.files}.items():
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content, encoding="utf-8")
    with isolated(folder):
        if case.setup is not None:
            case.setup(folder, server.base_url)
        before, sent_before = snapshot(root), server.count
        if case.command == "api":
            outcome = _call(case, folder, server.base_url)
        else:
            code, out, err = cli(case.argv(server.base_url))
            outcome = Outcome(code, out, normalise(err, folder, server.base_url), None)
        assert snapshot(root) == before, f"{case.id}: files appeared, vanished or changed"
    return outcome, server.count - sent_before


def _call(case: Case, folder: Path, url: str) -> Outcome:
    try:
        eval(case.cmd, {**API_NAMES, "URL": url})  # the call exactly as the docs show it
    except LlmframeError as exc:
        message = normalise(f"{type(exc).__name__}: {exc}", folder, url)
        return Outcome(2, "", message, type(exc))
    return Outcome(0, "", "", None)


# The docs ----------------------------------------------------------------------------------------

DOCS_INTRO = """\
# Errors: the bad input catalogue

<!-- Generated by `python tests/test_suite_bad_input.py --write-docs` from the catalogue in
tests/bad_inputs/catalogue.py; tests/test_suite_bad_input.py checks that the two agree. -->

llmframe refuses bad input before it spends anything: the whole input, the options, the
models and their keys, the schema and the tools are checked before the first request is sent
and before any file is created. On the command line such an error exits with status 2 and
prints `llmframe: error:` and the problem, naming what is wrong and where: the file, the line
(JSON Lines, a JSON document) or row (CSV, Parquet, a JSON array, counting data rows from 1),
the column, the message and part inside a conversation, the option, the tool. A file with
several problems lists them all, one a line. `llmframe --debug COMMAND ...` raises instead, with
the traceback. A value the argument parser itself refuses (a word for `--concurrency`) prints
the command's usage and an `Error:` line, also with status 2.

From Python the same problems raise a subclass of `llmframe.errors.LlmframeError`:
`UsageError` (arguments, options, models and keys, schemas, tools), `InputError` and its
subclasses `SchemaMismatch`, `MediaPathError`, `TemplateError` and `InvalidInput` (several
problems, in `.problems`) for the data, and `StoreError` and `RunMismatch` for run folders and
output files. The `.file`, `.row` and `.column` of an `InputError` say where.

Each case below is a test in `tests/test_suite_bad_input.py`: the command exits 2 (the call
raises the class shown) with exactly the message shown, the loopback test server that every
model points at receives no request, and no file appears or changes (an existing run keeps every
byte). Each runs in a folder (`<dir>`) holding `prompts.jsonl` (two prompts, ids `p1` and `p2`),
`reviews.csv` (columns `review` and `stars`), `tools.json` (one tool, `get_weather`) and the
files the case lists; `http://127.0.0.1:PORT/v1` is the test server and `<sha256>` an input's
fingerprint.
"""

_TITLES = {
    "run": "`llmframe run`",
    "extract": "`llmframe extract`",
    "convert": "`llmframe convert`",
    "validate": "`llmframe validate`",
    "api": "the Python API",
}
_SECTION = re.compile(r"^### `([^`]+)`\n(.*?)(?=^#{1,3} |\Z)", re.MULTILINE | re.DOTALL)


def _file_block(name: str, content: str | bytes) -> str:
    if isinstance(content, bytes):
        return f"`{name}`: {len(content)} bytes of binary data\n"
    text = content if len(content) <= 400 else content[:400] + "..."
    return f"`{name}`:\n\n```text\n{text.rstrip()}\n```\n"


def section(case: Case, message: str) -> str:
    """A case as the docs show it: what is wrong, its files, the command, the message."""
    parts = [f"### `{case.id}`\n", case.what + "\n"]
    parts.extend(_file_block(name, content) for name, content in case.files.items())
    language = "python" if case.command == "api" else "sh"
    parts.append(f"```{language}\n{case.shown()}\n```\n")
    parts.append(f"```text\n{message}\n```\n")
    return "\n".join(parts)


def render(messages: Mapping[str, str]) -> str:
    """The whole of docs/errors.md for these messages (by case id)."""
    table = ["| command | cases |", "| --- | --- |"]
    table += [f"| {_TITLES[command]} | {_count(command)} |" for command in COMMANDS]
    table.append(f"| all | {len(CASES)} |")
    chunks = [DOCS_INTRO, "\n".join(table) + "\n"]
    for topic, cases in TOPICS.items():
        chunks.append(f"## {topic}\n")
        chunks.extend(section(case, messages[case.id]) for case in cases)
    return "\n".join(chunks)


def _count(command: str) -> int:
    return sum(case.command == command for case in CASES)


def doc_sections(text: str) -> dict[str, str]:
    """The sections of docs/errors.md by case id, in order (duplicates keep the last)."""
    return {m.group(1): m.group(0).strip() + "\n" for m in _SECTION.finditer(text)}


def write_docs() -> None:
    """Play every case and write docs/errors.md from the messages they really give."""
    from netguard import guard_network  # the script's folder is on sys.path
    from openai_server import OpenAIServer

    messages: dict[str, str] = {}
    with guard_network(), OpenAIServer() as server:
        for case in CASES:
            server.reset()
            with tempfile.TemporaryDirectory() as tmp:
                outcome, sent = play(case, Path(tmp), server)
            assert outcome.code == 2, (case.id, outcome)
            assert not sent, (case.id, sent)
            messages[case.id] = outcome.message
    DOCS.write_text(render(messages), encoding="utf-8")
    print(f"wrote {DOCS.relative_to(ROOT)}: {len(CASES)} cases")


# The tests ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docs_text() -> str:
    if not DOCS.is_file():
        pytest.fail(f"{DOCS} is missing: {REGENERATE}")
    return DOCS.read_text(encoding="utf-8")


def test_catalogue_is_wide() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
    for case in CASES:
        assert case.command in COMMANDS, case.id
        assert case.id.startswith(f"{case.command}-"), case.id
    assert all(any(c.command == command for c in CASES) for command in COMMANDS)


def check_refused(case: Case, outcome: Outcome, sent: int) -> None:
    """Exit 2 (or the case's class raised), no request, a message naming what and where."""
    assert sent == 0, f"{sent} request(s) sent"
    assert outcome.code == 2, outcome
    assert outcome.stdout == ""
    assert "Traceback" not in outcome.message
    if case.command == "api":
        assert outcome.error is case.error  # class names are part of the data contract
        assert issubclass(outcome.error, LlmframeError)
    elif case.parser:
        assert outcome.message.startswith("Usage: llmframe"), outcome.message
    else:
        assert outcome.message.startswith("llmframe: error: "), outcome.message
    assert case.expect in outcome.message


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_is_refused(
    case: Case, tmp_path: Path, openai_server: OpenAIServer, docs_text: str
) -> None:
    outcome, sent = play(case, tmp_path, openai_server)
    check_refused(case, outcome, sent)
    documented = doc_sections(docs_text).get(case.id)
    assert documented == section(case, outcome.message), (
        f"docs/errors.md disagrees about `{case.id}`: {REGENERATE}"
    )


def test_docs_list_every_case_once(docs_text: str) -> None:
    ids = [m.group(1) for m in _SECTION.finditer(docs_text)]
    assert ids == [case.id for case in CASES], f"stale or missing cases: {REGENERATE}"
    for command in COMMANDS:
        assert f"| {_TITLES[command]} | {_count(command)} |" in docs_text, REGENERATE


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-docs"]:
        sys.exit("usage: python tests/test_suite_bad_input.py --write-docs")
    write_docs()
