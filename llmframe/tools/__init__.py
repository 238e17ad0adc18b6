"""Tools: definitions (files, columns, Python functions), wire forms, the execution loop."""
