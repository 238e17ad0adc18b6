"""``python -m llmframe``: the same as the `llmframe` command."""

from llmframe.cli import main

main()
