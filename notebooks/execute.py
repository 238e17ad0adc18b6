"""Execute the example notebooks and save them with their outputs.

    python notebooks/execute.py                  # every notebooks/*.ipynb, in place
    python notebooks/execute.py 01-quickstart.ipynb

Each notebook runs top to bottom in a fresh ``python3`` kernel with ``notebooks/`` as the working
directory (where its run directories go, under the git-ignored ``runs/``), as
``tests/test_notebooks.py`` runs them; a failing cell stops the script with the cell's error.
No timings are recorded in the saved file, so re-executing only changes outputs that really
changed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from traitlets.config import Config

HERE = Path(__file__).resolve().parent
CELL_TIMEOUT = 120  # seconds per cell


def execute(path: Path, *, cwd: Path = HERE) -> nbformat.NotebookNode:
    """The notebook at `path`, executed in a fresh ``python3`` kernel in `cwd` (not saved)."""
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="llmframe-kernel-") as sockets:
        config = Config()
        if os.name == "posix":
            # Unix sockets: private to this user, and no warning about TCP without encryption;
            # their files go to the temporary folder, not the working directory
            config.KernelManager.transport = "ipc"
            config.KernelManager.ip = str(Path(sockets, "kernel"))
        client = NotebookClient(
            notebook,
            kernel_name="python3",
            timeout=CELL_TIMEOUT,
            resources={"metadata": {"path": str(cwd)}},
            record_timing=False,
            config=config,
        )
        client.execute()
    return notebook


def main(argv: list[str]) -> int:
    """Execute and save the named notebooks, or all of them."""
    paths = [Path(a) if Path(a).exists() else HERE / a for a in argv]
    paths = paths or sorted(HERE.glob("*.ipynb"))
    for path in paths:
        start = time.monotonic()
        notebook = execute(path)
        nbformat.write(notebook, path)
        print(f"{path.name}: executed and saved in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
