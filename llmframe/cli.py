"""The `llmframe` command: typer, kept thin over `llmframe.api`."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from llmframe import __version__, api, schema
from llmframe.errors import InvalidInput, LlmframeError

__all__ = ["app", "main"]

app = typer.Typer(
    name="llmframe",
    help="LLM conversations as tabular datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

InputArg = Annotated[
    Path, typer.Argument(metavar="INPUT", help="Input file: Parquet, CSV, JSON Lines or JSON.")
]
RunInputArg = Annotated[
    Path,
    typer.Argument(
        metavar="INPUT", help="Input file (Parquet, CSV, JSON Lines, JSON) or a previous run."
    ),
]
TemplateOpt = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at runtime on Python 3.10
    typer.Option(help='Build each prompt from columns, e.g. "Classify: {review}".'),
]
ColumnOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(help="Column whose text is each row's prompt (kept as a user column)."),
]
SystemOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(help="System prompt for every row (a `system` column wins where set)."),
]
IdColumnOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--id-column", help="Column holding each row's id (default: `id` if present)."),
]
MediaRootOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--media-root", help="Folder local media paths resolve under (default: the input's)."
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmframe {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for llmframe errors.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """LLM conversations as tabular datasets: read, convert and validate prompt tables."""


@app.command("schema")
def schema_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the schemas as JSON.")] = False,
    table: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Only this table: prompts, responses or parts."),
    ] = None,
) -> None:
    """Print the Arrow schemas of the prompts, responses and parts tables."""
    if table is not None and table not in schema.TABLES:
        msg = f"unknown table `{table}`; expected one of: {', '.join(schema.TABLES)}"
        raise typer.BadParameter(msg, param_hint="--table")
    if as_json:
        typer.echo(json.dumps(schema.describe(table), indent=2))
    else:
        typer.echo(schema.render(table))


@app.command()
def convert(
    source: InputArg,
    target: Annotated[
        Path,
        typer.Argument(
            metavar="OUTPUT", help="Output: .parquet (prompts) or .jsonl (OpenAI chat)."
        ),
    ],
    column: ColumnOpt = None,
    template: TemplateOpt = None,
    system: SystemOpt = None,
    id_column: IdColumnOpt = None,
    media_root: MediaRootOpt = None,
) -> None:
    """Convert an input table to a prompts Parquet file or OpenAI chat JSONL."""
    summary = api.convert(
        source,
        target,
        column=column,
        template=template,
        system=system,
        id_column=id_column,
        media_root=media_root,
    )
    typer.echo(f"wrote {target}: {summary.rows} rows, {summary.messages} messages", err=True)
    for note in summary.notes:
        typer.echo(f"note: {note}", err=True)


@app.command()
def validate(
    source: InputArg,
    column: ColumnOpt = None,
    template: TemplateOpt = None,
    system: SystemOpt = None,
    id_column: IdColumnOpt = None,
    media_root: MediaRootOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Check an input table without writing anything; list every problem found (exit 2)."""
    summary = api.validate(
        source,
        column=column,
        template=template,
        system=system,
        id_column=id_column,
        media_root=media_root,
    )
    typer.echo(json.dumps(summary.to_dict(), indent=2) if as_json else summary.render())


Opt = Optional  # typer reads annotations at runtime; `X | None` fails there on Python 3.10


ModelOpt = Annotated[
    Opt[list[str]],
    typer.Option("--model", "-m", help="provider/model, or `echo`; repeat to fan out."),
]
BaseUrlOpt = Annotated[
    Opt[str], typer.Option(help="Endpoint base URL, e.g. http://127.0.0.1:8000/v1.")
]
ApiKeyEnvOpt = Annotated[Opt[str], typer.Option(help="Environment variable holding the API key.")]
OptionOpt = Annotated[
    Opt[list[str]],
    typer.Option("--option", "-o", help="Model option key=value (JSON values parsed)."),
]
HeaderOpt = Annotated[
    Opt[list[str]],
    typer.Option("--header", "-H", help="Extra request header Name=value (never stored)."),
]
ConcurrencyOpt = Annotated[int, typer.Option(help="Requests in flight at once.")]
RpmOpt = Annotated[Opt[float], typer.Option(help="Requests per minute at most.")]
TpmOpt = Annotated[Opt[float], typer.Option(help="Tokens per minute at most.")]
MaxRetriesOpt = Annotated[int, typer.Option(help="Retries per request.")]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds per attempt.")]
NoStreamOpt = Annotated[bool, typer.Option("--no-stream", help="Ask for whole bodies.")]
LimitOpt = Annotated[Opt[int], typer.Option(help="Only the first N prompts.")]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Check and print the first requests; send nothing.")
]
RetryErrorsOpt = Annotated[bool, typer.Option("--retry-errors", help="Send the error rows again.")]
RetryWaitOpt = Annotated[
    float, typer.Option(help="Seconds before the first retry; doubles each time (jittered).")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


@dataclass(frozen=True)
class _Engine:
    """The options `run` and `extract` share: models, endpoint and how to send."""

    models: list[str]
    base_url: str | None
    api_key_env: str | None
    options: list[str]
    headers: list[str]
    concurrency: int
    rpm: float | None
    tpm: float | None
    max_retries: int
    timeout: float
    no_stream: bool
    limit: int | None
    retry_errors: bool
    retry_wait: float

    def request(self, source: Path, out: Path | None, read: Any, **more: Any) -> Any:
        """The `RunRequest` for these options."""
        from llmframe import _launch
        from llmframe.runner import RunOptions

        return _launch.RunRequest(
            source=source,
            models=self.models,
            out=out,
            read=read,
            model_options=dict(_launch.parse_option(o) for o in self.options),
            options=RunOptions(
                concurrency=self.concurrency,
                rpm=self.rpm,
                tpm=self.tpm,
                max_retries=self.max_retries,
                timeout=self.timeout,
                stream=not self.no_stream,
                limit=self.limit,
                retry_errors=self.retry_errors,
                backoff_base=self.retry_wait,
            ),
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            headers=dict(_launch.parse_header(h) for h in self.headers),
            **more,
        )


def _send(request: Any, *, dry_run: bool, quiet: bool) -> Any:
    """Print the first requests (`dry_run`), or run with a progress bar; None after a dry run."""
    from llmframe import _launch

    if dry_run:
        for body in _launch.dry_run(request):
            typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return None
    summary = _launch.run_from_cli(request, progress=not quiet and sys.stderr.isatty())
    typer.echo(_launch.describe(summary), err=True)
    if summary.interrupted:
        raise typer.Exit(130)
    return summary


@app.command()
def run(
    source: RunInputArg,
    model: ModelOpt = None,
    out: Annotated[
        Opt[Path],
        typer.Option(help="Run directory (default: llmframe-runs/<input>-<hash>); reruns resume."),
    ] = None,
    column: ColumnOpt = None,
    template: TemplateOpt = None,
    system: SystemOpt = None,
    id_column: IdColumnOpt = None,
    media_root: MediaRootOpt = None,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    option: OptionOpt = None,
    header: HeaderOpt = None,
    follow_up: Annotated[
        Opt[str],
        typer.Option(help="Append this user message to every conversation (INPUT may be a run)."),
    ] = None,
    tools_file: Annotated[
        Opt[Path],
        typer.Option("--tools", help="JSON or YAML file of tool definitions offered to the model."),
    ] = None,
    tool_choice: Annotated[
        Opt[str], typer.Option(help="auto, none, required, or the name of a tool to call.")
    ] = None,
    concurrency: ConcurrencyOpt = 16,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    max_retries: MaxRetriesOpt = 6,
    timeout: TimeoutOpt = 300.0,
    no_stream: NoStreamOpt = False,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    retry_errors: RetryErrorsOpt = False,
    retry_wait: RetryWaitOpt = 1.0,
    quiet: QuietOpt = False,
) -> None:
    """Run every prompt through every model; write responses and parts into a run directory.

    Tool calls the model makes (`--tools`) are stored as tool_call parts; tools from a file are
    never run (pass Python functions to `llmframe.run(tools=...)` for that).
    """
    from llmframe.io import ReadOptions
    from llmframe.tools.config import tool_config

    engine = _Engine(
        model or [], base_url, api_key_env, option or [], header or [], concurrency, rpm, tpm,
        max_retries, timeout, no_stream, limit, retry_errors, retry_wait,
    )  # fmt: skip
    read = ReadOptions(
        template=template,
        column=column,
        system=system,
        id_column=id_column,
        media_root=media_root,
    )
    tools = tool_config(tools_file, tool_choice)
    request = engine.request(source, out, read, follow_up=follow_up, tools=tools)
    summary = _send(request, dry_run=dry_run, quiet=quiet)
    if summary is not None and (summary.errors or summary.earlier_errors):
        raise typer.Exit(1)


@app.command()
def extract(
    source: Annotated[
        Opt[Path],
        typer.Argument(metavar="INPUT", help="Input file: Parquet, CSV, JSON Lines or JSON."),
    ] = None,
    schema_spec: Annotated[
        Opt[str],
        typer.Option(
            "--schema",
            help='Field DSL ("name, age int, tags list[str]"), JSON Schema (.json file or inline)'
            " or a pydantic model package.module:Class.",
        ),
    ] = None,
    column: ColumnOpt = None,
    template: TemplateOpt = None,
    model: ModelOpt = None,
    out: Annotated[
        Opt[Path], typer.Option(help="Output Parquet file: your columns plus one per field.")
    ] = None,
    multi: Annotated[
        bool, typer.Option("--multi", help="The schema is one item; each row may give many.")
    ] = False,
    repair: Annotated[
        int, typer.Option(help="Repair turns for an invalid answer (the error is sent back).")
    ] = 1,
    instructions: Annotated[
        Opt[str], typer.Option(help="System prompt (default: extract what the schema describes).")
    ] = None,
    print_schema: Annotated[
        bool, typer.Option("--print-schema", help="Print the JSON Schema meant, then exit.")
    ] = False,
    run_dir: Annotated[
        Opt[Path], typer.Option(help="Run directory (default: OUT with .run); reruns resume.")
    ] = None,
    id_column: IdColumnOpt = None,
    media_root: MediaRootOpt = None,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    option: OptionOpt = None,
    header: HeaderOpt = None,
    concurrency: ConcurrencyOpt = 16,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    max_retries: MaxRetriesOpt = 6,
    timeout: TimeoutOpt = 300.0,
    no_stream: NoStreamOpt = False,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    retry_errors: RetryErrorsOpt = False,
    retry_wait: RetryWaitOpt = 1.0,
    quiet: QuietOpt = False,
) -> None:
    """Extract typed columns from each row's text: validated JSON that fits a schema."""
    from llmframe.extraction.job import Extraction, check_out, default_run_dir, write_output
    from llmframe.io import ReadOptions

    if schema_spec is None:
        msg = "give the fields to extract"
        raise typer.BadParameter(msg, param_hint="--schema")
    extraction = Extraction.load(schema_spec, multi=multi, repair=repair)
    if print_schema:
        typer.echo(json.dumps(extraction.output().schema, indent=2, ensure_ascii=False))
        return
    if source is None:
        msg = "give the input file"
        raise typer.BadParameter(msg, param_hint="INPUT")
    if out is None and not dry_run:
        msg = "give the output Parquet file"
        raise typer.BadParameter(msg, param_hint="--out")
    if out is not None:
        check_out(out)
    engine = _Engine(
        model or [], base_url, api_key_env, option or [], header or [], concurrency, rpm, tpm,
        max_retries, timeout, no_stream, limit, retry_errors, retry_wait,
    )  # fmt: skip
    read = ReadOptions(
        template=template,
        column=column,
        system=instructions or extraction.instructions,
        id_column=id_column,
        media_root=media_root,
    )
    where = run_dir or (default_run_dir(out) if out is not None else None)
    request = engine.request(source, where, read, output=extraction.output())
    summary = _send(request, dry_run=dry_run, quiet=quiet)
    if summary is None or out is None:
        return
    table = extraction.table(summary.path, request.models)
    write_output(table, out)
    statuses = table.column("_status").to_pylist()
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in ("ok", "invalid", "error"))
    typer.echo(f"wrote {out}: {len(statuses)} rows ({counts})", err=True)
    if set(statuses) - {"ok"}:
        raise typer.Exit(1)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL over prompts, responses, parts, outputs...")],
    run_dir: Annotated[Path, typer.Option("--run", help="The run directory.")],
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or parquet.")] = "table",
    output: Annotated[Opt[Path], typer.Option(help="Write to this file.")] = None,
) -> None:
    """Query a run with DuckDB: views prompts, responses, parts, outputs, conversations."""
    from llmframe import query as run_query

    if fmt not in ("table", "csv", "json", "parquet"):
        msg = f"unknown format `{fmt}`; expected table, csv, json or parquet"
        raise typer.BadParameter(msg, param_hint="--format")
    table = run_query.sql(run_dir, query)
    text = run_query.format_result(table, fmt, output)  # type: ignore[arg-type]
    if text:
        typer.echo(text)


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the providers: model naming, key variable, base URL, what each takes and gives."""
    from llmframe.providers import plugin_names
    from llmframe.providers.endpoints import ENDPOINTS, resolve_endpoint
    from llmframe.providers.profiles import PROFILES, Profile

    endpoints = [*ENDPOINTS.values(), *(resolve_endpoint(n) for n in plugin_names())]
    rows = []
    for endpoint in endpoints:
        if endpoint is None:
            continue
        profile = PROFILES.get(endpoint.wire, Profile(takes=(), gives=(), streaming="?"))
        keys = endpoint.key_env if isinstance(endpoint.key_env, tuple) else (endpoint.key_env,)
        rows.append(
            {
                "model": "echo" if endpoint.name == "echo" else f"{endpoint.name}/MODEL",
                "key": " or ".join(k for k in keys if k) or "-",
                "base_url": "(in process)" if endpoint.transport else endpoint.base_url,
                "takes": list(profile.takes),
                "gives": list(profile.gives),
                "streaming": profile.streaming,
                "plugin": endpoint.name not in ENDPOINTS,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['model']}\n  key: {row['key']}\n  base URL: {row['base_url']}")
        typer.echo(f"  takes: {', '.join(row['takes'])}\n  gives: {', '.join(row['gives'])}")


def _debug_requested(args: list[str]) -> bool:
    """Whether ``--debug`` was given as the root option (before the command's name)."""
    for arg in args:
        if arg == "--debug":
            return True
        if not arg.startswith("-"):
            return False
    return False


def _report(error: LlmframeError) -> None:
    if isinstance(error, InvalidInput):
        where = f"{error.file}: " if error.file else ""
        typer.echo(f"llmframe: error: {where}{len(error.problems)} problems", err=True)
        for problem in error.problems:
            typer.echo(f"  {problem}", err=True)
    else:
        typer.echo(f"llmframe: error: {error}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: llmframe errors exit 2 with one line each, anything unexpected exits 1."""
    args = sys.argv[1:] if argv is None else argv
    try:
        app(args=args, prog_name="llmframe")
    except LlmframeError as error:
        if _debug_requested(args):
            raise
        _report(error)
        sys.exit(2)


if __name__ == "__main__":
    main()
