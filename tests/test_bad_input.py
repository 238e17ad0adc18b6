"""Bad inputs: each one exits 2 with a short error naming the problem and where it is.

Every case runs the real CLI in-process (`llmframe.cli.main`) for both `convert` and `validate`
and checks the whole contract: exit code 2, one `llmframe: error:` line per problem and no
traceback, the file and the line/row/column/message/part named, and nothing written (no output,
no leftover `.NAME.xxxx.tmp`).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clirun import cli as run

import llmframe
from llmframe.cli import main
from llmframe.errors import (
    InputError,
    InvalidInput,
    MediaPathError,
    SchemaMismatch,
    StoreError,
    TemplateError,
    UnsupportedPart,
    UsageError,
)

EXAMPLES = Path(__file__).parent.parent / "examples"
BAD = EXAMPLES / "bad"
GOOD = EXAMPLES / "prompts.jsonl"

Maker = Callable[[Path], Path]
"""Builds a bad input inside the given folder and returns its path."""


# --- helpers -----------------------------------------------------------------------------------


def snapshot(folder: Path) -> set[str]:
    """Every path under `folder`, hidden ones included, relative to it."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def assert_error(err: str, fragments: list[str], *, lines: int = 1) -> None:
    """A short llmframe error: no traceback, `lines` lines, every fragment named."""
    assert "Traceback" not in err
    assert err.startswith("llmframe: error: ")
    assert len(err.strip().splitlines()) == lines, err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


def copy_bad(name: str) -> Maker:
    def make(folder: Path) -> Path:
        return Path(shutil.copy(BAD / name, folder / name))

    return make


def write(name: str, content: str | bytes) -> Maker:
    def make(folder: Path) -> Path:
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return make


def jsonl(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def image_row(row_id: str, url: str) -> dict[str, Any]:
    """A chat row whose one user message is text plus an image at `url` (content part 2)."""
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    return {"id": row_id, "messages": [{"role": "user", "content": content}]}


def chat_row(row_id: str, *messages: dict[str, Any]) -> dict[str, Any]:
    return {"id": row_id, "messages": list(messages)}


USER = {"role": "user", "content": "What is the capital of Canada?"}
FAKE_PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)


# --- makers that need more than one file --------------------------------------------------------


def missing_file(folder: Path) -> Path:
    return folder / "nope.jsonl"


def a_folder(folder: Path) -> Path:
    path = folder / "folder.jsonl"
    path.mkdir()
    return path


def symlinked_file_outside(folder: Path) -> Path:
    """`link.png` inside the folder is a symlink to a real image outside it."""
    (folder.parent / "secret.png").write_bytes(FAKE_PNG)
    (folder / "link.png").symlink_to(folder.parent / "secret.png")
    return write("symlink_file.jsonl", jsonl(image_row("bad-link", "link.png")))(folder)


def symlinked_folder_outside(folder: Path) -> Path:
    """`shared/` inside the folder is a symlink to a folder outside it."""
    elsewhere = folder.parent / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "pic.png").write_bytes(FAKE_PNG)
    (folder / "shared").symlink_to(elsewhere, target_is_directory=True)
    return write("symlink_dir.jsonl", jsonl(image_row("bad-link", "shared/pic.png")))(folder)


def absolute_outside(folder: Path) -> Path:
    """An absolute path to a real image just outside the input's folder."""
    (folder.parent / "secret.png").write_bytes(FAKE_PNG)
    rows = [image_row("ok", "https://example.com/cat.png"), image_row("abs", "")]
    rows[1]["messages"][0]["content"][1]["image_url"]["url"] = str(folder.parent / "secret.png")
    return write("absolute.jsonl", jsonl(*rows))(folder)


def truncated_parquet(folder: Path) -> Path:
    path = folder / "truncated.parquet"
    path.write_bytes((EXAMPLES / "hf_chat.parquet").read_bytes()[:300])
    return path


# --- the bad inputs ----------------------------------------------------------------------------

CASES = [
    pytest.param(missing_file, [], ["nope.jsonl", "file not found"], id="missing-file"),
    pytest.param(a_folder, [], ["folder.jsonl", "is a folder, not a file"], id="a-folder"),
    pytest.param(
        copy_bad("unknown_format.bin"),
        [],
        ["unknown_format.bin", "unknown format: not Parquet, JSON Lines, JSON or CSV"],
        id="unknown-format",
    ),
    pytest.param(copy_bad("empty.jsonl"), [], ["empty.jsonl", "file is empty"], id="empty-file"),
    pytest.param(copy_bad("no_rows.csv"), [], ["no_rows.csv", "no rows"], id="csv-header-only"),
    pytest.param(write("empty.json", "[]\n"), [], ["empty.json", "no rows"], id="json-empty-array"),
    pytest.param(
        copy_bad("malformed_line3.jsonl"),
        [],
        ["malformed_line3.jsonl: line 3: malformed JSON"],
        id="malformed-line-3",
    ),
    pytest.param(
        write("document.json", '[{"prompt": "a"},\n {"prompt": }]\n'),
        [],
        ["document.json: line 2: malformed JSON"],
        id="malformed-json-document",
    ),
    pytest.param(
        copy_bad("no_prompt_column.csv"),
        [],
        [
            "no_prompt_column.csv",
            "no `messages`, `conversations` or `prompt` column",
            "columns are: `text`, `label`",
            "--template",
        ],
        id="no-prompt-column",
    ),
    pytest.param(
        copy_bad("unknown_role.jsonl"),
        [],
        ["unknown_role.jsonl: line 2: column `messages`: message 2: unknown role `wizard`"],
        id="unknown-role",
    ),
    pytest.param(
        copy_bad("unknown_part_type.jsonl"),
        [],
        [
            "unknown_part_type.jsonl: line 2: column `messages`: message 1: content part 2: "
            "unknown part type `hologram`"
        ],
        id="unknown-part-type",
    ),
    pytest.param(
        copy_bad("empty_message.jsonl"),
        [],
        ["empty_message.jsonl: line 2: column `messages`: message 2: user message has no content"],
        id="message-without-content",
    ),
    pytest.param(
        copy_bad("tool_without_id.jsonl"),
        [],
        [
            "tool_without_id.jsonl: line 2: column `messages`: message 3: "
            "tool message has no `tool_call_id`"
        ],
        id="tool-without-call-id",
    ),
    pytest.param(
        copy_bad("null_prompt.jsonl"),
        [],
        ["null_prompt.jsonl: line 2: column `prompt`: null, expected text"],
        id="null-prompt",
    ),
    pytest.param(
        copy_bad("number_prompt.jsonl"),
        [],
        ["number_prompt.jsonl: line 2: column `prompt`: expected text, got int `42`"],
        id="number-prompt",
    ),
    pytest.param(
        copy_bad("invalid_utf8.csv"),
        [],
        ["invalid_utf8.csv: line 4: invalid UTF-8", "0xff"],
        id="invalid-utf8",
    ),
    pytest.param(
        copy_bad("template_rows.csv"),
        ["--template", "Rate {stars}: {review}"],
        ["template_rows.csv", "template names missing column(s) `stars`;"],
        id="template-missing-column",
    ),
    pytest.param(
        copy_bad("template_rows.csv"),
        ["--template", "Rate {review.__class__}"],
        ["template_rows.csv", "`{review.__class__}` uses attribute access"],
        id="template-attribute-access",
    ),
    pytest.param(
        copy_bad("template_rows.csv"),
        ["--template", "Rate {review[0]}"],
        ["template_rows.csv", "`{review[0]}` uses index access"],
        id="template-index-access",
    ),
    pytest.param(
        copy_bad("template_rows.csv"),
        ["--template", "Rate {review"],
        ["template_rows.csv", "template `Rate {review` is malformed", "Hint:"],
        id="template-unclosed-brace",
    ),
    pytest.param(
        copy_bad("duplicate_ids.jsonl"),
        [],
        ["duplicate_ids.jsonl: line 3: column `id`: duplicate id `a` (first at line 1)"],
        id="duplicate-ids",
    ),
    pytest.param(
        copy_bad("media_escape.jsonl"),
        [],
        [
            "media_escape.jsonl: line 2: column `messages`: message 1: part 2: "
            "media path `../../etc/passwd` escapes the media root"
        ],
        id="media-dotdot-escape",
    ),
    pytest.param(
        write("etc_passwd.jsonl", jsonl(image_row("abs", "/etc/passwd"))),
        [],
        [
            "etc_passwd.jsonl: line 1: column `messages`: message 1: part 2: "
            "media path `/etc/passwd` escapes the media root"
        ],
        id="media-absolute-system-file",
    ),
    pytest.param(
        absolute_outside,
        [],
        ["absolute.jsonl: line 2: column `messages`: message 1: part 2: ", "secret.png` escapes"],
        id="media-absolute-outside",
    ),
    pytest.param(
        symlinked_file_outside,
        [],
        [
            "symlink_file.jsonl: line 1: column `messages`: message 1: part 2: "
            "media path `link.png` escapes the media root"
        ],
        id="media-symlinked-file",
    ),
    pytest.param(
        symlinked_folder_outside,
        [],
        [
            "symlink_dir.jsonl: line 1: column `messages`: message 1: part 2: "
            "media path `shared/pic.png` escapes the media root"
        ],
        id="media-symlinked-folder",
    ),
    pytest.param(
        write("missing_media.jsonl", jsonl(image_row("gone", "images/missing.png"))),
        [],
        [
            "missing_media.jsonl: line 1: column `messages`: message 1: part 2: "
            "media file `images/missing.png` not found under the media root"
        ],
        id="media-file-missing",
    ),
    pytest.param(
        write("scheme.jsonl", jsonl(image_row("file-url", "file:///etc/passwd"))),
        [],
        [
            "scheme.jsonl: line 1: column `messages`: message 1: part 2: "
            "unsupported URI scheme `file:`"
        ],
        id="media-file-url",
    ),
    pytest.param(
        copy_bad("bad_data_url.jsonl"),
        [],
        [
            "bad_data_url.jsonl: line 2: column `messages`: message 1: part 2: "
            "malformed data: URL: the data is not valid base64"
        ],
        id="bad-data-url",
    ),
    pytest.param(
        copy_bad("duplicate_ids.jsonl"),
        ["--id-column", "nope"],
        ["`--id-column nope` is not a column of", "duplicate_ids.jsonl", "`id`, `prompt`"],
        id="id-column-missing",
    ),
    pytest.param(
        copy_bad("duplicate_ids.jsonl"),
        ["--media-root", "no/such/folder"],
        ["`--media-root no/such/folder` is not a folder"],
        id="media-root-missing",
    ),
    pytest.param(
        write("ragged.csv", "prompt,topic\nName a colour.,art\nName a fish.,sea,extra\n"),
        [],
        ["ragged.csv: row 2: expected 2 fields, got 3: `Name a fish.,sea,extra`"],
        id="csv-ragged-row",
    ),
    pytest.param(
        write("items.json", '[{"prompt": "Name a colour."}, 42]\n'),
        [],
        ["items.json: row 2: expected a JSON object, got int"],
        id="json-array-of-non-objects",
    ),
    pytest.param(
        write("lines.jsonl", '{"prompt": "Name a colour."}\n["Name a fish."]\n'),
        [],
        ["lines.jsonl: line 2: expected a JSON object, got list"],
        id="jsonl-line-not-an-object",
    ),
    pytest.param(
        write("messages.jsonl", jsonl({"id": "a", "messages": "What is 2 + 2?"})),
        [],
        ["messages.jsonl: line 1: column `messages`: expected a list of messages"],
        id="messages-not-a-list",
    ),
    pytest.param(
        truncated_parquet,
        [],
        ["truncated.parquet: not a readable Parquet file"],
        id="truncated-parquet",
    ),
    pytest.param(
        write("broken.jsonl.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03KO"),
        [],
        ["broken.jsonl.gz: broken gzip data"],
        id="broken-gzip",
    ),
]


@pytest.mark.parametrize("command", ["convert", "validate"])
@pytest.mark.parametrize(("make", "flags", "fragments"), CASES)
def test_bad_input_exits_2_naming_problem_and_place(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    make: Maker,
    flags: list[str],
    fragments: list[str],
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    monkeypatch.chdir(folder)
    source = make(folder)
    before = snapshot(tmp_path)
    target = folder / "out.parquet"
    args = [command, str(source), *([str(target)] if command == "convert" else []), *flags]

    code, out, err = run(capsys, *args)

    assert code == 2
    assert out == ""
    assert_error(err, fragments)
    assert not target.exists()
    assert snapshot(tmp_path) == before


def test_malformed_line_3_blames_only_line_3(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "validate", str(BAD / "malformed_line3.jsonl"))
    assert "line 3" in err
    assert not any(f"line {n}" in err for n in (1, 2, 4))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads a mode-000 file")
def test_unreadable_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = shutil.copy(GOOD, tmp_path / "locked.jsonl")
    os.chmod(source, 0)
    try:
        code, _, err = run(capsys, "convert", str(source), str(tmp_path / "out.parquet"))
    finally:
        os.chmod(source, 0o644)
    assert code == 2
    assert_error(err, ["locked.jsonl", "cannot read", "Permission denied"])
    assert not (tmp_path / "out.parquet").exists()


# --- several problems at once ------------------------------------------------------------------


def test_validate_lists_every_malformed_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "two_bad.jsonl"
    source.write_text(
        '{"prompt": "a"}\n{"prompt": "b",\n{"prompt": "c"}\n{prompt: "d"}\n', encoding="utf-8"
    )
    code, _, err = run(capsys, "validate", str(source))
    assert code == 2
    assert_error(err, ["two_bad.jsonl: 2 problems"], lines=3)
    first, second = err.splitlines()[1:]
    assert "two_bad.jsonl: line 2: malformed JSON" in first
    assert "two_bad.jsonl: line 4: malformed JSON" in second


def test_malformed_lines_and_row_problems_are_listed_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "mixed.jsonl"
    source.write_text(
        '{"prompt": "a"}\n{"prompt": oops\n{"prompt": null}\n{"prompt": "d"}\n', encoding="utf-8"
    )
    code, _, err = run(capsys, "validate", str(source))
    assert code == 2
    assert_error(err, ["mixed.jsonl: 2 problems"], lines=3)
    first, second = err.splitlines()[1:]
    assert "mixed.jsonl: line 2: malformed JSON" in first
    assert "mixed.jsonl: line 3: column `prompt`: null, expected text" in second


def test_ragged_csv_rows_are_all_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "ragged.csv"
    source.write_text("prompt,topic\na,b\nc,d,e\nf,g\nh\n", encoding="utf-8")
    code, _, err = run(capsys, "validate", str(source))
    assert code == 2
    assert_error(err, ["ragged.csv: 2 problems"], lines=3)
    assert "row 2: expected 2 fields, got 3: `c,d,e`" in err.splitlines()[1]
    assert "row 4: expected 2 fields, got 1: `h`" in err.splitlines()[2]


def test_json_array_lists_every_non_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "items.json"
    source.write_text('[{"prompt": "a"}, 2, "three", null]', encoding="utf-8")
    code, _, err = run(capsys, "validate", str(source))
    assert code == 2
    assert_error(err, ["items.json: 3 problems"], lines=4)
    assert [line.split(": ", 2)[1:] for line in err.splitlines()[1:]] == [
        ["row 2", "expected a JSON object, got int"],
        ["row 3", "expected a JSON object, got str"],
        ["row 4", "expected a JSON object, got NoneType"],
    ]


MANY_CHAT_PROBLEMS = [
    chat_row("ok-1", USER),
    chat_row("r-role", USER, {"role": "wizard", "content": "Abracadabra."}),
    chat_row("r-part", {"role": "user", "content": [{"type": "hologram", "hologram": {}}]}),
    chat_row("r-tool", USER, {"role": "tool", "content": "14 degrees"}),
    image_row("r-escape", "../secret.png"),
    chat_row("ok-1", {"role": "user", "content": "Same id as line 1."}),
    image_row("r-data", "data:image/png;base64,@@@"),
    chat_row("r-empty", {"role": "user", "content": None}),
    chat_row("ok-2", USER),
]
MANY_CHAT_EXPECTED = [
    ("line 2", "column `messages`: message 2: unknown role `wizard`"),
    ("line 3", "column `messages`: message 1: content part 1: unknown part type `hologram`"),
    ("line 4", "column `messages`: message 2: tool message has no `tool_call_id`"),
    ("line 5", "column `messages`: message 1: part 2: media path `../secret.png` escapes"),
    ("line 6", "column `id`: duplicate id `ok-1` (first at line 1)"),
    ("line 7", "column `messages`: message 1: part 2: malformed data: URL"),
    ("line 8", "column `messages`: message 1: user message has no content"),
]
MANY_PROMPT_PROBLEMS = [
    {"id": "p1", "prompt": "Name a colour."},
    {"id": "p2", "prompt": None},
    {"id": "p3", "prompt": 7},
    {"id": "p4", "prompt": "   "},
    {"id": None, "prompt": "Name a fish."},
    {"id": "p6", "prompt": "Name a tree.", "options": "not json"},
    {"id": "p1", "prompt": "Name a bird."},
    {"id": "p8", "prompt": "Name a river.", "tools": {"not": "a list"}},
]
MANY_PROMPT_EXPECTED = [
    ("line 2", "column `prompt`: null, expected text"),
    ("line 3", "column `prompt`: expected text, got int `7`"),
    ("line 4", "column `prompt`: empty text"),
    ("line 5", "column `id`: expected text or a whole number as the id, got null"),
    ("line 6", "column `options`: `options` must be a JSON object"),
    ("line 7", "column `id`: duplicate id `p1` (first at line 1)"),
    ("line 8", "column `tools`: `tools` must be a JSON array"),
]


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        pytest.param(MANY_CHAT_PROBLEMS, MANY_CHAT_EXPECTED, id="chat"),
        pytest.param(MANY_PROMPT_PROBLEMS, MANY_PROMPT_EXPECTED, id="prompt"),
    ],
)
@pytest.mark.parametrize("command", ["validate", "convert"])
def test_every_problem_is_listed_once_with_its_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    records: list[dict[str, Any]],
    expected: list[tuple[str, str]],
) -> None:
    source = tmp_path / "many.jsonl"
    source.write_text(jsonl(*records), encoding="utf-8")
    (tmp_path / "secret.png").write_bytes(FAKE_PNG)  # escaping, not missing, is the problem
    before = snapshot(tmp_path)
    target = tmp_path / "out.parquet"
    args = [command, str(source), *([str(target)] if command == "convert" else [])]

    code, _, err = run(capsys, *args)

    assert code == 2
    assert_error(err, [f"many.jsonl: {len(expected)} problems"], lines=1 + len(expected))
    problems = err.splitlines()[1:]
    for line, message in expected:
        hits = [p for p in problems if f"many.jsonl: {line}: {message}" in p]
        assert len(hits) == 1, (line, message, err)
    assert snapshot(tmp_path) == before


# --- output problems ---------------------------------------------------------------------------


def test_output_with_unknown_extension_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "convert", str(GOOD), str(tmp_path / "out.txt"))
    assert code == 2
    assert_error(err, ["cannot tell the output format of", "out.txt", ".parquet", ".jsonl"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["out.parquet", "out.jsonl"])
def test_output_path_that_is_a_folder_exits_2_and_leaves_no_temporary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    (tmp_path / name).mkdir()
    code, _, err = run(capsys, "convert", str(GOOD), str(tmp_path / name))
    assert code == 2
    assert_error(err, [f"cannot write `{tmp_path / name}`", "Is a directory"])
    assert snapshot(tmp_path) == {name}


def test_output_folder_that_is_a_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("", encoding="utf-8")
    target = tmp_path / "taken" / "out.parquet"
    code, _, err = run(capsys, "convert", str(GOOD), str(target))
    assert code == 2
    assert_error(err, [f"cannot write `{target}`"])
    assert snapshot(tmp_path) == {"taken"}


def test_jsonl_output_that_cannot_carry_a_part_names_the_row_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The writer fails after the first row is in the temporary file; nothing is left."""
    text = {"type": "text", "text": "hi"}
    source = tmp_path / "ours.jsonl"
    source.write_text(
        jsonl(
            chat_row("ok", {"role": "user", "parts": [text]}),
            chat_row(
                "x",
                {"role": "user", "parts": [text]},
                {"role": "assistant", "parts": [{"type": "json", "json": {"a": 1}}]},
            ),
        ),
        encoding="utf-8",
    )
    code, _, err = run(capsys, "convert", str(source), str(tmp_path / "out.jsonl"))
    assert code == 2
    assert_error(err, ["out.jsonl: id `x`: message 2: ", "cannot carry a json part", "Parquet"])
    assert snapshot(tmp_path) == {"ours.jsonl"}
    with pytest.raises(UnsupportedPart, match="id `x`: message 2"):
        llmframe.convert(source, tmp_path / "out.jsonl")
    assert snapshot(tmp_path) == {"ours.jsonl"}


# --- --debug, and the good path still works ----------------------------------------------------


def test_debug_raises_the_llmframe_error_instead_of_exiting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SchemaMismatch, match="unknown role `wizard`"):
        main(["--debug", "validate", str(BAD / "unknown_role.jsonl")])
    assert "llmframe: error:" not in capsys.readouterr().err


def test_good_file_still_converts_and_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.parquet"
    code, _, err = run(capsys, "convert", str(GOOD), str(target))
    assert code == 0, err
    assert target.is_file()
    assert snapshot(tmp_path) == {"out.parquet"}
    code, out, _ = run(capsys, "validate", str(target))
    assert code == 0
    assert "11 rows" in out


# --- the Python API raises the documented classes ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "where"),
    [
        pytest.param(
            "unknown_role.jsonl",
            {},
            SchemaMismatch,
            ("line 2", "messages", ["message 2"]),
            id="unknown-role",
        ),
        pytest.param(
            "unknown_part_type.jsonl",
            {},
            SchemaMismatch,
            ("line 2", "messages", ["message 1", "content part 2"]),
            id="unknown-part",
        ),
        pytest.param(
            "media_escape.jsonl",
            {},
            MediaPathError,
            ("line 2", "messages", ["message 1", "part 2"]),
            id="media-escape",
        ),
        pytest.param(
            "bad_data_url.jsonl",
            {},
            MediaPathError,
            ("line 2", "messages", ["message 1", "part 2"]),
            id="bad-data-url",
        ),
        pytest.param(
            "template_rows.csv",
            {"template": "Rate {stars}: {review}"},
            TemplateError,
            (None, None, []),
            id="template-missing-column",
        ),
        pytest.param(
            "template_rows.csv",
            {"template": "{review.__class__}"},
            TemplateError,
            (None, None, []),
            id="template-attribute",
        ),
        pytest.param(
            "null_prompt.jsonl", {}, SchemaMismatch, ("line 2", "prompt", []), id="null-prompt"
        ),
        pytest.param(
            "malformed_line3.jsonl", {}, InputError, ("line 3", None, []), id="malformed-json"
        ),
        pytest.param(
            "duplicate_ids.jsonl", {}, InputError, ("line 3", "id", []), id="duplicate-ids"
        ),
    ],
)
@pytest.mark.parametrize("function", ["validate", "convert"])
def test_python_api_raises_located_input_errors(
    tmp_path: Path,
    function: str,
    name: str,
    kwargs: dict[str, str],
    error: type[InputError],
    where: tuple[str | None, str | None, list[str]],
) -> None:
    source = Path(shutil.copy(BAD / name, tmp_path / name))
    before = snapshot(tmp_path)
    if function == "validate":
        call = functools.partial(llmframe.validate, source, **kwargs)
    else:
        call = functools.partial(llmframe.convert, source, tmp_path / "out.parquet", **kwargs)
    with pytest.raises(error) as exc_info:
        call()
    exc = exc_info.value
    assert type(exc) is error
    assert not isinstance(exc, InvalidInput)
    assert exc.file == str(source)
    assert (exc.row, exc.column, exc.where) == where
    assert snapshot(tmp_path) == before


def test_python_api_collects_problems_in_invalid_input(tmp_path: Path) -> None:
    source = tmp_path / "many.jsonl"
    source.write_text(jsonl(*MANY_CHAT_PROBLEMS), encoding="utf-8")
    (tmp_path / "secret.png").write_bytes(FAKE_PNG)
    with pytest.raises(InvalidInput) as exc_info:
        llmframe.validate(source)
    problems = exc_info.value.problems
    assert exc_info.value.file == str(source)
    assert sorted((p.row, type(p).__name__) for p in problems) == [
        ("line 2", "SchemaMismatch"),
        ("line 3", "SchemaMismatch"),
        ("line 4", "SchemaMismatch"),
        ("line 5", "MediaPathError"),
        ("line 6", "InputError"),
        ("line 7", "MediaPathError"),
        ("line 8", "SchemaMismatch"),
    ]
    assert all(p.file == str(source) for p in problems)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        pytest.param(
            lambda out: llmframe.convert(GOOD, out.with_suffix(".txt")),
            "cannot tell the output format",
            id="unknown-output-extension",
        ),
        pytest.param(
            lambda out: llmframe.convert(BAD / "duplicate_ids.jsonl", out, id_column="nope"),
            "`--id-column nope` is not a column",
            id="id-column-missing",
        ),
        pytest.param(
            lambda out: llmframe.validate(GOOD, media_root=out.parent / "nowhere"),
            "is not a folder",
            id="media-root-missing",
        ),
    ],
)
def test_python_api_raises_usage_error_for_bad_options(
    tmp_path: Path, call: Callable[[Path], object], match: str
) -> None:
    with pytest.raises(UsageError, match=match):
        call(tmp_path / "out.parquet")
    assert list(tmp_path.iterdir()) == []


def test_python_api_raises_store_error_for_an_unwritable_output(tmp_path: Path) -> None:
    (tmp_path / "out.parquet").mkdir()
    with pytest.raises(StoreError, match="cannot write"):
        llmframe.convert(GOOD, tmp_path / "out.parquet")
    assert snapshot(tmp_path) == {"out.parquet"}
