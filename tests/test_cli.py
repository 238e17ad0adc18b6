"""The command line as a newcomer meets it: help, version, docs, the public API's size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from clirun import cli as run_cli

import llmframe
from llmframe.cli import app

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(typer.main.get_command(app).commands)


def test_commands_are_the_ones_this_stage_promises() -> None:
    assert COMMANDS == ["convert", "extract", "models", "run", "schema", "sql", "validate"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_is_in_the_readme(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0
    assert "Usage:" in out
    assert len(out.split("\n\n")[1].strip()) > 20, "the command needs a one-line description"
    assert f"llmframe {command}" in README


def test_version_and_no_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "--version")[:2] == (0, f"llmframe {llmframe.__version__}\n")
    code, out, err = run_cli(capsys)
    assert code == 2
    assert "convert" in out + err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "frobnicate")
    assert code == 2
    assert "frobnicate" in err


def test_console_script_and_module_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "llmframe", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "validate" in result.stdout


def test_unexpected_errors_exit_1_with_a_traceback(tmp_path: Path) -> None:
    script = (
        "import llmframe.api, llmframe.cli\n"
        "def boom(*a, **k):\n    raise RuntimeError('kaboom')\n"
        "llmframe.api.validate = boom\n"
        f"llmframe.cli.main(['validate', {str(tmp_path / 'x.csv')!r}])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "RuntimeError: kaboom" in result.stderr


def test_public_api_is_small_and_resolves() -> None:
    assert len(llmframe.__all__) < 35
    assert len(set(llmframe.__all__)) == len(llmframe.__all__)
    for name in llmframe.__all__:
        assert getattr(llmframe, name) is not None


def test_models_lists_every_provider(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "models", "--json")
    assert code == 0
    import json

    rows = {row["model"]: row for row in json.loads(out)}
    assert set(rows) == {
        "openai/MODEL",
        "openai-responses/MODEL",
        "anthropic/MODEL",
        "gemini/MODEL",
        "ollama/MODEL",
        "llamacpp/MODEL",
        "echo",
    }
    assert rows["llamacpp/MODEL"]["base_url"] == "(in process)"
    assert rows["gemini/MODEL"]["key"] == "GEMINI_API_KEY or GOOGLE_API_KEY"
    assert rows["echo"]["base_url"] == "(in process)"
    assert "image" in rows["anthropic/MODEL"]["takes"]
