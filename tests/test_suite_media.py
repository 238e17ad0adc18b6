"""Suite 8 of issue #8, media sandbox: a table cannot make llmframe read or send the wrong file.

A local media path must name a regular file under the media root. Refused, each with one error
naming the file, line, column, message and part: ``..``, absolute paths out of the root, symlinks
out of it (file and folder symlinks, relative and absolute, chains of them, a link inside the root
to a link that leaves, a folder link to the root's parent), special files inside it (a FIFO, a
socket, a device such as /dev/zero, a folder, a broken or looping symlink), a NUL in the path.
They are refused by ``llmframe run`` and ``convert`` and by `llmframe.run` and `llmframe.convert`,
through every way a table names media (an OpenAI ``image_url`` or ``file`` part, llmframe's own
``parts`` with a ``uri``), before anything is sent: the loopback server receives no request, no
run directory or output appears, and an audit hook (`sys.addaudithook`) proves that no refused
file, FIFO or device was ever opened. A positive control sends files inside the root (also through
symlinks that stay inside) and sees their bytes arrive, so the same machinery would show a leak.
A file swapped for a symlink out of the root (or a FIFO) after the check is still refused when it
is read, as an error row, and nothing is sent for it.

Found by this suite and fixed in ``llmframe/io/media.py``: a NUL in a path crashed ``validate``,
``convert`` and ``run`` with a ValueError traceback; a FIFO, socket or device inside the root was
refused as "not found" (misleading; it is now named).

Already in ``tests/test_bad_input.py`` (``convert``/``validate`` only): ``../../etc/passwd``,
``/etc/passwd``, an absolute path just outside, one file symlink and one folder symlink out,
``file://``; and `llmframe.validate`/`convert` raising `MediaPathError` for ``..``. Not repeated.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clirun import cli
from openai_server import OpenAIServer

import llmframe
from llmframe.errors import InvalidInput, MediaPathError

GOOD_BYTES = b"\x89PNG\r\n\x1a\n" + b"inside-the-root" + bytes(16)
SECRET_BYTES = b"\x89PNG\r\n\x1a\n" + b"SECRET-OUTSIDE-THE-ROOT" + bytes(16)


# --- "nothing is read": an audit hook that records every file opened ------------------------------

_WATCHED: set[str] = set()
_OPENED: list[str] = []
_HOOKED = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _WATCHED:
        return
    try:
        path = os.fsdecode(args[0])
        if path in _WATCHED or os.path.realpath(path) in _WATCHED:
            _OPENED.append(path)
    except Exception:  # an audit hook must never break the code it watches
        return


@pytest.fixture
def never_opened() -> Iterator[set[str]]:
    """Paths put in the yielded set must not be opened (by anything in this process) in the test."""
    global _HOOKED  # audit hooks cannot be removed: install once, gated by `_WATCHED`
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED = True
    watched: set[str] = set()
    _OPENED.clear()
    yield watched
    _WATCHED.clear()
    assert _OPENED == [], f"refused media was opened: {_OPENED}"


def watch(watched: set[str], *paths: str | Path) -> None:
    for path in paths:
        watched.add(os.path.realpath(path))
    _WATCHED.update(watched)


# --- the media root and what lies around it -------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``in/`` (the input's folder, so the media root) and ``outside/`` next to it.

    Short names: a socket's path must fit in 108 bytes.
    """
    base = tmp_path_factory.mktemp("m")
    outside, root = base / "outside", base / "in"
    (outside / "dir").mkdir(parents=True)
    root.mkdir()
    (outside / "secret.png").write_bytes(SECRET_BYTES)
    (outside / "dir" / "pic.png").write_bytes(SECRET_BYTES)
    (root / "ok.png").write_bytes(GOOD_BYTES)
    (root / "sub").mkdir()
    (root / "sub" / "inner.png").write_bytes(GOOD_BYTES)
    (root / "folder.png").mkdir()
    links = {
        "link_in.png": "ok.png",  # stays inside: allowed
        "dir_in": "sub",  # stays inside: allowed
        "link_out.png": "../outside/secret.png",
        "link_abs.png": str(outside / "secret.png"),
        "chain1.png": "chain2.png",
        "chain2.png": "chain3.png",
        "chain3.png": "../outside/secret.png",
        "sub/hop.png": "../link_out.png",  # inside, to a link inside, that leaves
        "dir_out": "../outside/dir",
        "sub/deeper": "../../outside",
        "up": "..",
        "zero.png": "/dev/zero",
        "passwd.png": "/etc/passwd",
        "pipe_link.png": "pipe.png",
        "loop1.png": "loop2.png",
        "loop2.png": "loop1.png",
        "dangling.png": "missing.png",
    }
    for name, target in links.items():
        (root / name).symlink_to(target)
    os.mkfifo(root / "pipe.png")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(str(root / "sock.png"))  # the socket file stays after the close
    except OSError:  # pragma: no cover - path too long for AF_UNIX, or no unix sockets
        pass
    return base


ESCAPES = "escapes the media root"
BAD = {
    # uri: what the error says
    "../outside/secret.png": ESCAPES,
    "sub/../../outside/secret.png": ESCAPES,
    "{abs}/outside/secret.png": ESCAPES,
    "{abs}/in/../outside/secret.png": ESCAPES,
    "/etc/passwd": ESCAPES,
    "/dev/zero": ESCAPES,
    "/proc/self/environ": ESCAPES,
    "link_out.png": ESCAPES,
    "link_abs.png": ESCAPES,
    "chain1.png": ESCAPES,
    "sub/hop.png": ESCAPES,
    "dir_out/pic.png": ESCAPES,
    "sub/deeper/secret.png": ESCAPES,
    "up/outside/secret.png": ESCAPES,
    "zero.png": ESCAPES,
    "passwd.png": ESCAPES,
    "pipe.png": "is a named pipe (FIFO), not a regular file",
    "pipe_link.png": "is a named pipe (FIFO), not a regular file",
    "sock.png": "is a socket, not a regular file",
    "folder.png": "is a folder, not a file",
    "loop1.png": "is a broken symbolic link",
    "dangling.png": "is a broken symbolic link",
    "a\x00b.png": "holds a NUL character",
    "file:///etc/passwd": "unsupported URI scheme `file:`",
}
GOOD = ["ok.png", "sub/inner.png", "link_in.png", "dir_in/inner.png", "{abs}/in/ok.png"]


def uri_of(template: str, world: Path) -> str:
    return template.replace("{abs}", str(world))


def forbidden(world: Path) -> list[Path]:
    """Everything a refused path could reach: none of it may be opened."""
    return [
        world / "outside" / "secret.png",
        world / "outside" / "dir" / "pic.png",
        Path("/etc/passwd"),
        Path("/dev/zero"),
        Path("/proc/self/environ"),
        world / "in" / "pipe.png",
        world / "in" / "sock.png",
    ]


def needs(uri: str, world: Path) -> None:
    if uri.startswith("sock") and not (world / "in" / "sock.png").exists():
        pytest.skip("no unix socket here")  # pragma: no cover


SHAPES = ["image_url", "file", "parts-image", "parts-document"]


def media_message(uri: str, shape: str) -> dict[str, Any]:
    """A user message: text, then the media (part 2), in one of the ways a table names media."""
    text = {"type": "text", "text": "What is this?"}
    if shape == "image_url":
        return {"role": "user", "content": [text, {"type": "image_url", "image_url": {"url": uri}}]}
    if shape == "file":
        media = {"type": "file", "file": {"file_data": uri, "filename": "x.png"}}
        return {"role": "user", "content": [text, media]}
    kind = "image" if shape == "parts-image" else "document"
    return {"role": "user", "parts": [text, {"type": kind, "uri": uri, "mime_type": "image/png"}]}


def write_input(world: Path, name: str, uri: str, shape: str = "image_url") -> Path:
    """``in/NAME.jsonl``: a good row (line 1), then the row whose media is `uri` (line 2)."""
    rows = [
        {"id": "good", "messages": [media_message("ok.png", "image_url")]},
        {"id": "bad", "messages": [media_message(uri, shape)]},
    ]
    path = world / "in" / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def assert_one_located_error(err: str, source: Path, fragment: str) -> None:
    assert "Traceback" not in err
    assert err.startswith("llmframe: error: "), err
    assert len(err.strip().splitlines()) == 1, err
    where = f"{source}: line 2: column `messages`: message 1: part 2: "
    assert where in err, err
    assert fragment in err, err


# --- the CLI: run and convert ---------------------------------------------------------------------

CASES = [pytest.param(uri, id=repr(uri)[1:-1]) for uri in BAD]


@pytest.mark.parametrize("template", CASES)
def test_run_refuses_before_sending_anything(
    template: str,
    world: Path,
    tmp_path: Path,
    openai_server: OpenAIServer,
    never_opened: set[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    needs(template, world)
    watch(never_opened, *forbidden(world))
    source = write_input(world, "run_bad", uri_of(template, world))
    out = tmp_path / "run"
    code, stdout, err = cli(
        capsys, "run", str(source), "-m", "openai/test-model", "--base-url",
        openai_server.base_url, "--out", str(out),
    )  # fmt: skip
    assert code == 2
    assert stdout == ""
    assert_one_located_error(err, source, BAD[template])
    assert openai_server.count == 0
    assert not out.exists()


@pytest.mark.parametrize("template", CASES)
def test_convert_refuses_and_writes_nothing(
    template: str,
    world: Path,
    tmp_path: Path,
    never_opened: set[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    needs(template, world)
    watch(never_opened, *forbidden(world))
    source = write_input(world, "convert_bad", uri_of(template, world))
    for target in (tmp_path / "out.parquet", tmp_path / "out.jsonl"):
        code, _, err = cli(capsys, "convert", str(source), str(target))
        assert code == 2
        assert_one_located_error(err, source, BAD[template])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("template", ["../outside/secret.png", "chain1.png", "pipe.png"])
def test_every_way_of_naming_media_is_checked(
    template: str,
    shape: str,
    world: Path,
    tmp_path: Path,
    openai_server: OpenAIServer,
    never_opened: set[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    watch(never_opened, *forbidden(world))
    source = write_input(world, "shape_bad", template, shape)
    code, _, err = cli(
        capsys, "run", str(source), "-m", "openai/test-model", "--base-url",
        openai_server.base_url, "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert code == 2
    assert_one_located_error(err, source, BAD[template])
    assert openai_server.count == 0


def test_a_device_is_refused_even_where_the_media_root_holds_it(
    tmp_path: Path, never_opened: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--media-root /dev``: inside the root, and still never opened."""
    watch(never_opened, "/dev/zero", "/dev/null", "/dev/urandom")
    source = tmp_path / "dev.jsonl"
    rows = [{"id": n, "messages": [media_message(n, "image_url")]} for n in ("zero", "urandom")]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    code, _, err = cli(capsys, "validate", str(source), "--media-root", "/dev")
    assert code == 2
    assert "2 problems" in err
    for line, name in (("line 1", "zero"), ("line 2", "urandom")):
        assert (
            f"{line}: column `messages`: message 1: part 2: media path `{name}` is a device" in err
        )
    code, _, err = cli(
        capsys, "convert", str(source), str(tmp_path / "o.parquet"), "--media-root", "/dev"
    )
    assert code == 2
    assert not (tmp_path / "o.parquet").exists()


# --- the Python API -------------------------------------------------------------------------------


def assert_located(exc: MediaPathError, source: Path | None, fragment: str) -> None:
    """Named in full: the file (``<list>`` for in-memory rows), row, column, message and part."""
    assert type(exc) is MediaPathError
    assert not isinstance(exc, InvalidInput)
    assert exc.file == (str(source) if source is not None else "<list>")
    assert exc.row == ("line 2" if source is not None else "row 2")
    assert exc.column == "messages"
    assert exc.where == ["message 1", "part 2"]
    assert fragment in exc.message


@pytest.mark.parametrize("template", CASES)
def test_python_api_run_and_convert_raise_media_path_error(
    template: str,
    world: Path,
    tmp_path: Path,
    openai_server: OpenAIServer,
    never_opened: set[str],
) -> None:
    needs(template, world)
    watch(never_opened, *forbidden(world))
    uri = uri_of(template, world)
    source = write_input(world, "api_bad", uri)
    out = tmp_path / "run"
    with pytest.raises(MediaPathError) as refused:
        llmframe.run(
            source, "openai/test-model", base_url=openai_server.base_url, out=out, progress=False
        )
    assert_located(refused.value, source, BAD[template])
    with pytest.raises(MediaPathError) as refused:
        llmframe.convert(source, tmp_path / "out.parquet")
    assert_located(refused.value, source, BAD[template])
    # In-memory rows, with the media root named: the same refusal, the row numbered.
    rows = [[media_message("ok.png", "image_url")], [media_message(uri, "image_url")]]
    with pytest.raises(MediaPathError) as refused:
        llmframe.run(
            rows, "openai/test-model", base_url=openai_server.base_url, out=out,
            media_root=world / "in", progress=False,
        )  # fmt: skip
    assert_located(refused.value, None, BAD[template])
    assert openai_server.count == 0
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


# --- the positive control: media inside the root is read and sent ---------------------------------


@pytest.mark.parametrize("template", GOOD)
def test_media_inside_the_root_is_read_and_sent(
    template: str,
    world: Path,
    tmp_path: Path,
    openai_server: OpenAIServer,
    never_opened: set[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The check lets these through, and their bytes arrive: a leak would be seen the same way."""
    watch(never_opened, *forbidden(world))
    source = world / "in" / "good.jsonl"
    row = {"id": "g", "messages": [media_message(uri_of(template, world), "image_url")]}
    source.write_text(json.dumps(row) + "\n", encoding="utf-8")
    _OPENED.clear()
    _WATCHED.add(os.path.realpath(world / "in" / "ok.png"))
    _WATCHED.add(os.path.realpath(world / "in" / "sub" / "inner.png"))
    code, _, err = cli(
        capsys, "run", str(source), "-m", "openai/test-model", "--base-url",
        openai_server.base_url, "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert code == 0, err
    assert openai_server.count == 1
    sent = json.dumps(openai_server.requests[0].body)
    assert base64.b64encode(GOOD_BYTES).decode() in sent
    opened = {os.path.realpath(p) for p in _OPENED}
    _OPENED.clear()
    # The hook saw the good file read (so it would see a refused one), and nothing else watched.
    assert opened
    assert opened <= {os.path.realpath(world / "in" / n) for n in ("ok.png", "sub/inner.png")}


def test_a_media_root_that_is_itself_a_symlink_works(
    world: Path, tmp_path: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(world / "in", target_is_directory=True)
    source = tmp_path / "p.jsonl"
    rows = [{"id": "a", "messages": [media_message(u, "image_url")]} for u in ("ok.png",)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    code, _, err = cli(
        capsys, "run", str(source), "-m", "openai/test-model", "--base-url",
        openai_server.base_url, "--out", str(tmp_path / "run"), "--media-root", str(alias),
    )  # fmt: skip
    assert code == 0, err
    assert base64.b64encode(GOOD_BYTES).decode() in json.dumps(openai_server.requests[0].body)


# --- checked again when read ----------------------------------------------------------------------


@pytest.mark.parametrize("swap", ["symlink-out", "fifo"])
def test_a_file_swapped_after_the_check_is_refused_when_read(
    swap: str,
    tmp_path: Path,
    openai_server: OpenAIServer,
    never_opened: set[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Between the input check and the request, ``pic.png`` becomes a link out, or a FIFO."""
    from llmframe import _launch

    root, outside = tmp_path / "in", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.png").write_bytes(SECRET_BYTES)
    (root / "pic.png").write_bytes(GOOD_BYTES)
    watch(never_opened, outside / "secret.png")
    source = root / "p.jsonl"
    rows = [{"id": f"r{i}", "messages": [media_message("pic.png", "image_url")]} for i in range(2)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    checked = _launch.prepare

    def prepare_then_swap(request: Any) -> Any:
        prepared = checked(request)  # the input passed its checks with a regular file
        (root / "pic.png").unlink()
        if swap == "fifo":
            os.mkfifo(root / "pic.png")
            watch(never_opened, root / "pic.png")
        else:
            (root / "pic.png").symlink_to(outside / "secret.png")
        return prepared

    monkeypatch.setattr(_launch, "prepare", prepare_then_swap)
    out = tmp_path / "run"
    code, _, err = cli(
        capsys, "run", str(source), "-m", "openai/test-model", "--base-url",
        openai_server.base_url, "--out", str(out), "--max-retries", "0",
    )  # fmt: skip
    assert code == 1, err  # two error rows
    assert openai_server.count == 0
    rows_out = llmframe.open(out).responses().to_dicts()
    assert [r["error_type"] for r in rows_out] == ["MediaPathError", "MediaPathError"]
    expected = "is a named pipe (FIFO)" if swap == "fifo" else ESCAPES
    for row in rows_out:
        assert f"message 1: part 2: media path `pic.png` {expected}" in row["error_message"]
    assert SECRET_BYTES not in b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
