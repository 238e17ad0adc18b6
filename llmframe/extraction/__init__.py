"""Structured extraction: schemas in, typed Arrow columns out.

`--schema` input: `parse_dsl` and `schema_to_dsl` convert the concise field DSL, and
`load_schema` accepts every `--schema` form (JSON Schema dict, inline JSON, `.json` file,
pydantic model or `package.module:ClassName`, field DSL) and returns a JSON Schema dict.
"""

from llmframe.extraction.dsl import SchemaDslError, parse_dsl, schema_to_dsl
from llmframe.extraction.load import load_schema

__all__ = ["SchemaDslError", "load_schema", "parse_dsl", "schema_to_dsl"]
