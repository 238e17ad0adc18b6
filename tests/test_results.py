"""`llmframe.results.Run` over real run directories written by the engine and the store."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from openai_server import Fault, OpenAIServer
from runfactory import manifest, prompts, response

from llmframe import _run_html, query
from llmframe._launch import RunRequest, launch
from llmframe.errors import StoreError, UsageError
from llmframe.io import ReadOptions
from llmframe.parts import ImagePart, JsonPart, TextPart
from llmframe.results import Run, RunStats
from llmframe.runner import RunOptions, RunSummary
from llmframe.store import RunStore

EXAMPLES = Path(__file__).parent.parent / "examples"
SCRIPT = '<script>alert("x")</script> & <b>bold</b>'
SWATCH = (  # chat-007's data: URL
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91Jpz"
    "AAAAEklEQVR42mP4z8DAAMIM/4EAAB/uBfvxq7p3AAAAAElFTkSuQmCC"
)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
OUTPUT_COLUMNS = [
    "prompt_id",
    "model",
    "status",
    "text",
    "json",
    "finish_reason",
    "error_type",
    "error_message",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "latency_ms",
    "ttft_ms",
    "source",
    "tags",
]


def launch_run(source: Path, out: Path, models: list[str], base_url: str | None = None) -> Any:
    request = RunRequest(
        source=source,
        models=models,
        out=out,
        read=ReadOptions(),
        model_options={},
        options=RunOptions(backoff_base=0.01),
        base_url=base_url,
    )
    return asyncio.run(launch(request))


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunSummary]:
    """examples/chat.jsonl (images: local, https, data: URL) after a prompt holding markup."""
    folder = tmp_path_factory.mktemp("chat")
    shutil.copytree(EXAMPLES / "images", folder / "images")
    first = {"id": "xss", "messages": [{"role": "user", "content": SCRIPT}], "source": "test"}
    lines = [json.dumps(first), *(EXAMPLES / "chat.jsonl").read_text().splitlines()]
    (folder / "chat.jsonl").write_text("\n".join(lines) + "\n")
    summary = launch_run(folder / "chat.jsonl", folder / "run", ["echo"])
    assert (summary.ok, summary.errors) == (15, 0)
    return folder / "run", summary


@pytest.fixture
def chat_run(chat: tuple[Path, RunSummary]) -> Iterator[Run]:
    with Run(chat[0]) as run:
        yield run


class Tags(HTMLParser):
    """Collects the ``img`` sources and ``a`` targets of an HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.images.append(values["src"] or "")
        elif tag == "a":
            self.links.append(values["href"] or "")


def png_src(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


# -- tables --------------------------------------------------------------------------------------


def test_outputs_in_each_format_have_the_same_rows_and_usable_types(chat_run: Run) -> None:
    frame = chat_run.outputs()
    assert isinstance(frame, pl.DataFrame)
    assert frame.shape == (15, 16)
    assert frame.columns == OUTPUT_COLUMNS
    assert frame.schema["input_tokens"] == pl.Int64
    assert frame.schema["latency_ms"] == pl.Float64
    assert frame.schema["json"] == pl.String
    assert frame.schema["tags"] == pl.List(pl.String)
    assert frame["prompt_id"].to_list()[:3] == ["xss", "chat-001", "chat-002"]
    assert frame["text"][0] == "echo: " + SCRIPT

    pandas = chat_run.outputs(as_="pandas")
    assert isinstance(pandas, pd.DataFrame)
    assert pandas.shape == (15, 16)
    assert list(pandas.columns) == OUTPUT_COLUMNS
    assert str(pandas["input_tokens"].dtype) == "Int64"
    assert pandas["reasoning_tokens"].isna().all()
    assert str(pandas["reasoning_tokens"].dtype) == "Int64"  # not float, despite the nulls
    assert pd.api.types.is_string_dtype(pandas["text"])
    assert pandas["text"].tolist() == frame["text"].to_list()

    arrow = chat_run.outputs(as_="arrow")
    assert isinstance(arrow, pa.Table)
    assert arrow.column_names == OUTPUT_COLUMNS
    assert arrow.num_rows == 15
    assert arrow.schema.field("json").type.extension_name == "arrow.json"
    assert arrow.column("input_tokens").to_pylist() == frame["input_tokens"].to_list()


def test_json_columns_are_json_text_in_polars_and_pandas(tmp_path: Path) -> None:
    path = tmp_path / "run"
    with RunStore.create_or_resume(path, manifest(), prompts(1)) as store:
        store.record(response("p0"), [JsonPart(value={"k": [1, 2], "s": "é"})])
    run = Run(path)
    assert run.outputs()["json"].to_list() == ['{"k":[1,2],"s":"é"}']
    assert run.outputs()["json"].str.json_decode().to_list() == [{"k": [1, 2], "s": "é"}]
    assert run.parts(as_="pandas")["json"].tolist() == ['{"k":[1,2],"s":"é"}']
    arrow = run.outputs(as_="arrow").column("json")
    assert arrow.type.extension_name == "arrow.json"
    assert arrow.to_pylist() == ['{"k":[1,2],"s":"é"}']
    nested = run.conversations()["messages"].list.last().struct.field("parts").list.first()
    assert nested.struct.field("json").to_list() == ['{"k":[1,2],"s":"é"}']


@pytest.mark.parametrize("as_", ["polars", "pandas", "arrow"])
def test_every_table_in_every_format(chat_run: Run, as_: Any) -> None:
    expected = {
        "outputs": (15, OUTPUT_COLUMNS),
        "responses": (15, list(query.sql(chat_run.path, "SELECT * FROM responses").column_names)),
        "parts": (15, list(query.sql(chat_run.path, "SELECT * FROM parts").column_names)),
        "prompts": (15, ["id", "messages", "source", "tags"]),
        "conversations": (15, ["id", "messages", "model", "source", "tags"]),
    }
    kind = {"polars": pl.DataFrame, "pandas": pd.DataFrame, "arrow": pa.Table}[as_]
    for name, (rows, columns) in expected.items():
        table = getattr(chat_run, name)(as_=as_)
        assert isinstance(table, kind), name
        assert (len(table), list(table.columns if as_ != "arrow" else table.column_names)) == (
            rows,
            columns,
        ), name


def test_responses_and_parts_follow_the_prompts_order(chat_run: Run) -> None:
    ids = chat_run.prompts()["id"].to_list()
    assert ids[0] == "xss"
    assert chat_run.responses()["prompt_id"].to_list() == ids
    assert chat_run.parts()["prompt_id"].to_list() == ids  # echo answers with one text part
    last_turns = chat_run.conversations()["messages"].list.last().struct.field("role")
    assert last_turns.to_list() == ["assistant"] * 15


def test_prompt_media_bytes_stay_bytes(chat_run: Run) -> None:
    audio = [
        part
        for message in chat_run.prompts().row(by_predicate=pl.col("id") == "chat-010")[1]
        for part in message["parts"]
        if part["type"] == "audio"
    ]
    assert len(audio) == 1
    assert isinstance(audio[0]["data"], bytes)
    assert audio[0]["data"][:4] == b"RIFF"


def test_an_unknown_format_is_a_usage_error(chat_run: Run) -> None:
    with pytest.raises(UsageError, match=r"`as_` must be one of 'polars', 'pandas', 'arrow'"):
        chat_run.outputs(as_="numpy")  # type: ignore[call-overload]


# -- SQL -----------------------------------------------------------------------------------------


def test_sql_returns_a_relation_on_the_kept_connection(chat_run: Run) -> None:
    relation = chat_run.sql("SELECT count(*) AS n FROM outputs WHERE text LIKE '%[image]%'")
    assert relation.fetchall() == [(3,)]  # chat-005, chat-006, chat-007
    text = chat_run.sql("SELECT text FROM outputs WHERE prompt_id = ?", params=["xss"])
    assert text.pl()["text"].to_list() == ["echo: " + SCRIPT]
    sums = chat_run.sql("SELECT sum(output_tokens) AS n, any_value(json) AS j FROM outputs").pl()
    assert sums["n"].cast(pl.Int64).to_list() == [chat_run.summary().output_tokens]
    assert sums.schema["j"] == pl.String
    chat_run.sql("CREATE VIEW mine AS SELECT prompt_id FROM responses WHERE status = 'ok'")
    assert chat_run.sql("SELECT count(*) FROM mine").fetchall() == [(15,)]
    chat_run.refresh()
    with pytest.raises(UsageError, match="SQL failed"):
        chat_run.sql("SELECT * FROM mine")


def test_bad_sql_is_a_usage_error(chat_run: Run) -> None:
    with pytest.raises(UsageError, match="SQL failed"):
        chat_run.sql("SELECT nope FROM outputs")


# -- summary -------------------------------------------------------------------------------------


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def test_summary_is_computed_from_the_files(chat: tuple[Path, RunSummary]) -> None:
    path, summary = chat
    stats = Run(path).summary()
    sums = query.sql(
        path,
        "SELECT sum(input_tokens)::BIGINT AS i, sum(output_tokens)::BIGINT AS o FROM responses",
    ).to_pylist()[0]
    assert (stats.input_tokens, stats.output_tokens) == (sums["i"], sums["o"])
    assert (stats.input_tokens, stats.output_tokens) == (
        summary.input_tokens,
        summary.output_tokens,
    )
    assert (stats.total, stats.ok, stats.error, stats.invalid) == (15, 15, 0, 0)
    assert (stats.reasoning_tokens, stats.cached_tokens) == (0, 0)
    assert (stats.models, stats.prompts, stats.errors_by_type) == (("echo",), 15, {})
    timing = query.sql(path, "SELECT latency_ms, ttft_ms FROM responses").to_pydict()
    latency, ttft = timing["latency_ms"], timing["ttft_ms"]
    assert stats.latency_p50_ms == pytest.approx(percentile(latency, 50))
    assert stats.latency_p90_ms == pytest.approx(percentile(latency, 90))
    assert stats.latency_p99_ms == pytest.approx(percentile(latency, 99))
    assert stats.ttft_p50_ms == pytest.approx(percentile(ttft, 50))
    assert stats.ttft_p90_ms == pytest.approx(percentile(ttft, 90))
    values = stats.to_dict()
    assert values["models"] == ["echo"]
    assert json.loads(json.dumps(values)) == values
    assert RunStats(**{**values, "models": tuple(values["models"])}) == stats


def test_summary_text_and_repr(chat: tuple[Path, RunSummary]) -> None:
    path, summary = chat
    stats = Run(path).summary()
    text = str(stats)
    assert text.splitlines()[0] == "responses: 15 (15 ok, 0 error, 0 invalid)"
    assert f"tokens: {stats.input_tokens} in, {stats.output_tokens} out" in text
    assert "errors:" not in text
    assert repr(Run(path)) == (
        f"Run({str(path)!r}): 15 responses: 15 ok, 0 error, 0 invalid (15 prompts x 1 model(s))"
    )
    assert repr(Run(path, last=summary)).endswith(
        "; last invocation: 15 ok, 0 errors, 0 already done, 0 retries"
    )


def test_error_rows_are_counted_by_type(tmp_path: Path, openai_server: OpenAIServer) -> None:
    source = tmp_path / "p.jsonl"
    source.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"q{i}"}) + "\n" for i in "012"))
    openai_server.plan(Fault("bad_request"), prompt="q1", times=None)
    summary = launch_run(source, tmp_path / "run", ["openai/m"], openai_server.base_url)
    run = Run(tmp_path / "run", last=summary)
    stats = run.summary()
    assert (stats.total, stats.ok, stats.error, stats.invalid) == (3, 2, 1, 0)
    assert stats.errors_by_type == {"ProviderHTTPError": 1}
    answered = query.sql(run.path, "SELECT latency_ms FROM responses WHERE status = 'ok'")
    assert stats.latency_p50_ms == pytest.approx(percentile(answered["latency_ms"].to_pylist(), 50))
    assert "errors: ProviderHTTPError 1" in str(stats)
    page = run._repr_html_()
    assert "ProviderHTTPError: " in page
    assert "2 ok, 1 errors (ProviderHTTPError 1), 0 already done" in page
    assert "interrupted" not in page
    stopped = Run(run.path, last=dataclasses.replace(summary, interrupted=True))
    assert "interrupted: run it again to resume" in stopped._repr_html_()
    assert "interrupted: run it again to resume" in repr(stopped)
    assert "last invocation" not in Run(run.path)._repr_html_()


def test_percentiles_leave_out_error_rows_and_count_invalid_ones(tmp_path: Path) -> None:
    path = tmp_path / "run"
    with RunStore.create_or_resume(path, manifest(), prompts(5)) as store:
        for i, ms in enumerate([100.0, 200.0, 300.0]):
            store.record(response(f"p{i}", latency_ms=ms, ttft_ms=ms / 10), [])
        store.record(response("p3", "m1", "invalid", latency_ms=400.0), [])
        store.record(response("p4", "m1", "error", latency_ms=9000.0, ttft_ms=9000.0), [])
    stats = Run(path).summary()
    assert (stats.total, stats.ok, stats.error, stats.invalid) == (5, 3, 1, 1)
    assert stats.errors_by_type == {"RateLimited": 1}
    answered = [100.0, 200.0, 300.0, 400.0]
    assert stats.latency_p50_ms == pytest.approx(250.0)
    assert stats.latency_p90_ms == pytest.approx(percentile(answered, 90))
    assert stats.latency_p99_ms == pytest.approx(percentile(answered, 99))
    assert stats.ttft_p50_ms == pytest.approx(20.0)
    assert stats.ttft_p90_ms == pytest.approx(percentile([10.0, 20.0, 30.0], 90))


# -- HTML ----------------------------------------------------------------------------------------


def test_html_escapes_model_text(chat_run: Run) -> None:
    page = chat_run._repr_html_()
    assert "<script" not in page
    assert "<b>bold" not in page
    assert "echo: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold" in page
    assert "5 more row(s)" in page  # 15 rows, 10 shown
    assert "chat-009" in page
    assert "chat-010" not in page


def test_html_thumbnails_inline_local_and_data_images_and_link_urls(chat_run: Run) -> None:
    tags = Tags(chat_run._repr_html_())
    cat, chart = ((EXAMPLES / "images" / name).read_bytes() for name in ("cat.png", "chart.png"))
    assert tags.images == [png_src(cat), png_src(chart), "data:image/png;base64," + SWATCH]
    assert tags.links == ["https://upload.wikimedia.org/wikipedia/commons/3/3a/Cat03.jpg"]


def test_html_names_images_too_large_to_inline(
    chat_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_run_html, "MAX_THUMBNAIL_BYTES", 100)  # cat.png 129 B, chart.png 96 B
    page = chat_run._repr_html_()
    chart = (EXAMPLES / "images" / "chart.png").read_bytes()
    assert Tags(page).images == [png_src(chart), "data:image/png;base64," + SWATCH]
    assert "[prompt image 1: images/cat.png, 129 B, too large to preview]" in page


@pytest.mark.parametrize(
    ("part", "shown"),
    [
        ({"uri": "../secret.png"}, "[t: ../secret.png (not readable)]"),
        ({"uri": "images/missing.png"}, "[t: images/missing.png (not readable)]"),
        ({"uri": "ftp://host/x.png"}, "[t: ftp: URL not shown]"),
        ({"data": b"<svg/>", "mime_type": "image/svg+xml"}, "[t: image/svg+xml, 6 B]"),
        ({"uri": "data:image/png;base64,@@"}, "[t: malformed data: URL]"),
    ],
)
def test_thumbnail_refuses_what_it_should_not_show(
    tmp_path: Path, part: dict[str, Any], shown: str
) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path.parent / "secret.png").write_bytes(PNG)
    html = _run_html.thumbnail(part, "t", str(tmp_path / "images" / ".."))
    assert html == f'<span style="color:#888">{shown}</span>'


# -- runs being written, and not runs ------------------------------------------------------------


def test_a_run_in_progress_is_read_and_refresh_sees_new_records(tmp_path: Path) -> None:
    path = tmp_path / "run"
    store = RunStore.create_or_resume(path, manifest(), prompts(3, topic=["a", "b", "c"]))
    try:
        store.record(response("p0"), [TextPart(text="zero")])
        store.record(response("p1"), [ImagePart(data=PNG, mime_type="image/png")])
        run = Run(path)
        assert run.outputs()["prompt_id"].to_list() == ["p0", "p1"]
        for as_ in ("polars", "pandas", "arrow"):
            data = run.parts(as_=as_)["data"]
            values = data.to_pylist() if as_ == "arrow" else list(data)
            assert values == [None, PNG], as_
        page = run._repr_html_()
        assert Tags(page).images == [png_src(PNG)]
        assert 'title="response image 1"' in page
        store.record(response("p2"), [TextPart(text="two")])
        assert run.summary().total == 2  # the connection still shows the run as opened
        run.refresh()
        stats = run.summary()
        assert (stats.total, stats.ok, stats.prompts, stats.models) == (3, 3, 3, ("m1",))
        assert (stats.input_tokens, stats.output_tokens) == (9, 15)
        assert stats.latency_p50_ms == 250.0
        assert stats.ttft_p50_ms is None
        assert run.outputs()["text"].to_list() == ["zero", None, "two"]
    finally:
        store.close()


def test_an_empty_run_has_an_empty_summary(tmp_path: Path) -> None:
    path = tmp_path / "run"
    RunStore.create_or_resume(path, manifest(), prompts(2)).close()
    run = Run(path)
    stats = run.summary()
    assert (stats.total, stats.prompts, stats.latency_p50_ms, stats.models) == (0, 2, None, ("m1",))
    assert run.outputs().shape == (0, 14)
    assert "latency ms: p50 -, p90 -, p99 -" in str(stats)
    assert "<tbody></tbody>" in run._repr_html_()


def test_a_missing_or_foreign_folder_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="the folder does not exist"):
        Run(tmp_path / "nowhere")
    with pytest.raises(StoreError, match=r"is not an llmframe run \(no manifest.json\)"):
        Run(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(StoreError, match="is not a run directory: it is a file"):
        Run(tmp_path / "file.txt")


def test_importing_results_imports_no_dataframe_library() -> None:
    code = (
        "import sys, llmframe.results; "
        "print([m for m in ('polars', 'pandas', 'duckdb') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
