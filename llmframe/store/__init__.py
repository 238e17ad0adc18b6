"""The run directory (DESIGN.md section 2): manifest, prompts, journal, responses and parts.

A run is written by `RunStore` (one per writer, under that writer's lock) and read by
`open_run` (no lock). See `llmframe.store.layout` for the files, `llmframe.store.journal` for the
journal format and `llmframe.store.snapshot` for the dedupe rule.
"""

from llmframe.store.manifest import Manifest
from llmframe.store.run import RunStore, StoreOptions
from llmframe.store.view import RunView, open_run

__all__ = ["Manifest", "RunStore", "RunView", "StoreOptions", "open_run"]
