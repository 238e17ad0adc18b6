"""The example notebooks run top to bottom without an error, as `notebooks/execute.py` runs them.

Each is executed in memory (the committed file is not touched) in a fresh ``python3`` kernel,
the one ipykernel installs into this environment, with ``notebooks/`` as the working directory.
The committed file must carry its outputs, and what its cells print must still be what they
print now: re-execute with ``python notebooks/execute.py`` when a change alters it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
import pytest
from local_model import require_local
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
STALE = "re-execute and save it: `python notebooks/execute.py {name}`"
LOCAL_MODEL = {"05-local-model"}
"""Notebooks that run the real local model (`llamacpp/smollm2`)."""


def load_executor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("notebook_executor", NOTEBOOKS / "execute.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def code_cells(notebook: Any) -> list[Any]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def printed(notebook: Any) -> list[str]:
    """What each code cell printed (stdout), joined: the kernel may split one print's text
    into several outputs, by flush timing. polars' and matplotlib's renderings are left out."""
    return [
        "".join(o["text"] for o in cell.outputs if o["output_type"] == "stream")
        for cell in code_cells(notebook)
    ]


def test_there_are_notebooks() -> None:
    assert [p.name for p in PATHS] == [
        "01-quickstart.ipynb",
        "02-compare-models.ipynb",
        "03-extraction.ipynb",
        "04-tools.ipynb",
        "05-local-model.ipynb",
    ]


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_is_committed_executed(path: Path) -> None:
    committed = nbformat.read(path, as_version=4)
    counts = [cell.execution_count for cell in code_cells(committed)]
    assert counts == list(range(1, len(counts) + 1)), STALE.format(name=path.name)
    outputs = [o for cell in code_cells(committed) for o in cell.outputs]
    assert [o for o in outputs if o["output_type"] == "error"] == []


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_executes_and_prints_what_is_committed(path: Path) -> None:
    if path.stem in LOCAL_MODEL:
        require_local()  # the `local` extra: skipped without it, except where CI requires it
    try:
        executed = load_executor().execute(path)
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{exc}", pytrace=False)
    outputs = [o for cell in code_cells(executed) for o in cell.outputs]
    assert [o for o in outputs if o["output_type"] == "error"] == []
    # a warning or a stray log line in a documentation notebook is rot too
    assert [o["text"] for o in outputs if o.get("name") == "stderr"] == []
    committed = nbformat.read(path, as_version=4)
    assert printed(executed) == printed(committed), STALE.format(name=path.name)
