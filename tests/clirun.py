"""Running the `llmframe` command in process, as the tests do."""

from __future__ import annotations

import pytest

from llmframe.cli import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``llmframe ARGS``: the exit code, stdout and stderr (of this call only)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0 if code is None else 1), captured.out, captured.err
