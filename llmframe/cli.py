"""The `llmframe` command: typer, kept thin over `llmframe.api`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

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
    template: TemplateOpt = None,
    system: SystemOpt = None,
    id_column: IdColumnOpt = None,
    media_root: MediaRootOpt = None,
) -> None:
    """Convert an input table to a prompts Parquet file or OpenAI chat JSONL."""
    summary = api.convert(
        source, target, template=template, system=system, id_column=id_column, media_root=media_root
    )
    typer.echo(f"wrote {target}: {summary.rows} rows, {summary.messages} messages", err=True)
    for note in summary.notes:
        typer.echo(f"note: {note}", err=True)


@app.command()
def validate(
    source: InputArg,
    template: TemplateOpt = None,
    system: SystemOpt = None,
    id_column: IdColumnOpt = None,
    media_root: MediaRootOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Check an input table without writing anything; list every problem found (exit 2)."""
    summary = api.validate(
        source, template=template, system=system, id_column=id_column, media_root=media_root
    )
    typer.echo(json.dumps(summary.to_dict(), indent=2) if as_json else summary.render())


Opt = Optional  # typer reads annotations at runtime; `X | None` fails there on Python 3.10


@app.command()
def run(
    source: RunInputArg,
    model: Annotated[
        Opt[list[str]],
        typer.Option("--model", "-m", help="provider/model, or `echo`; repeat to fan out."),
    ] = None,
    out: Annotated[
        Opt[Path],
        typer.Option(help="Run directory (default: llmframe-runs/<input>-<hash>); reruns resume."),
    ] = None,
    template: TemplateOpt = None,
    system: SystemOpt = None,
    id_column: IdColumnOpt = None,
    media_root: MediaRootOpt = None,
    base_url: Annotated[
        Opt[str], typer.Option(help="Endpoint base URL, e.g. http://127.0.0.1:8000/v1.")
    ] = None,
    api_key_env: Annotated[
        Opt[str], typer.Option(help="Environment variable holding the API key.")
    ] = None,
    option: Annotated[
        Opt[list[str]],
        typer.Option("--option", "-o", help="Model option key=value (JSON values parsed)."),
    ] = None,
    header: Annotated[
        Opt[list[str]],
        typer.Option("--header", "-H", help="Extra request header Name=value (never stored)."),
    ] = None,
    follow_up: Annotated[
        Opt[str],
        typer.Option(help="Append this user message to every conversation (INPUT may be a run)."),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 16,
    rpm: Annotated[Opt[float], typer.Option(help="Requests per minute at most.")] = None,
    tpm: Annotated[Opt[float], typer.Option(help="Tokens per minute at most.")] = None,
    max_retries: Annotated[int, typer.Option(help="Retries per request.")] = 6,
    timeout: Annotated[float, typer.Option(help="Seconds per attempt.")] = 300.0,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Ask for whole bodies.")] = False,
    limit: Annotated[Opt[int], typer.Option(help="Only the first N prompts.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and print the first requests; send nothing.")
    ] = False,
    retry_errors: Annotated[
        bool, typer.Option("--retry-errors", help="Send the error rows again.")
    ] = False,
    retry_wait: Annotated[
        float, typer.Option(help="Seconds before the first retry; doubles each time (jittered).")
    ] = 1.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run every prompt through every model; write responses and parts into a run directory."""
    from llmframe import _launch
    from llmframe.io import ReadOptions
    from llmframe.runner import RunOptions

    request = _launch.RunRequest(
        source=source,
        models=model or [],
        out=out,
        read=ReadOptions(
            template=template, system=system, id_column=id_column, media_root=media_root
        ),
        model_options=dict(_launch.parse_option(o) for o in option or ()),
        options=RunOptions(
            concurrency=concurrency,
            rpm=rpm,
            tpm=tpm,
            max_retries=max_retries,
            timeout=timeout,
            stream=not no_stream,
            limit=limit,
            retry_errors=retry_errors,
            backoff_base=retry_wait,
        ),
        base_url=base_url,
        api_key_env=api_key_env,
        headers=dict(_launch.parse_header(h) for h in header or ()),
        follow_up=follow_up,
    )
    if dry_run:
        for body in _launch.dry_run(request):
            typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    summary = _launch.run_from_cli(request, progress=not quiet and sys.stderr.isatty())
    typer.echo(_launch.describe(summary), err=True)
    if summary.interrupted:
        raise typer.Exit(130)
    if summary.errors or summary.earlier_errors:
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
