"""Generate the deliberately broken inputs in ``examples/bad/`` used by error-path tests.

Run from anywhere::

    python examples/bad/make_bad.py

Each file holds exactly one defect, named by the file. Where a file has several rows, the rows
around the defect are valid so tests can check that the error points at the right line/row.
``template_rows.csv`` is the exception: it is a *valid* input for ``--template`` tests.
Output is deterministic.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


VALID_CHAT: dict[str, Any] = {
    "id": "ok-1",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        user("What is the capital of Canada?"),
    ],
}

WEATHER_CALL: dict[str, Any] = {
    "id": "call_9fXk21",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris","unit":"celsius"}'},
}

WEATHER_RESULT = '{"city":"Paris","temperature":14,"unit":"celsius"}'


def image_row(row_id: str, url: str) -> dict[str, Any]:
    return {
        "id": row_id,
        "messages": [
            user(
                [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ]
            )
        ],
    }


def build() -> dict[str, bytes]:
    files: dict[str, bytes] = {}

    files["empty.jsonl"] = b""
    files["no_rows.csv"] = b"prompt,topic\n"

    files["malformed_line3.jsonl"] = (
        b'{"prompt": "Name three primary colours."}\n'
        b'{"prompt": "What is 12 squared?"}\n'
        b'{"prompt": "oops",\n'
        b'{"prompt": "Spell necessary backwards."}\n'
    )

    files["no_prompt_column.csv"] = (
        b"text,label\n"
        b"The battery lasts all day,positive\n"
        b"Screen cracked within a week,negative\n"
        b'"Fine, nothing special",neutral\n'
    )

    files["unknown_role.jsonl"] = jsonl(
        [
            VALID_CHAT,
            {
                "id": "bad-role",
                "messages": [
                    user("Cast a spell on my code so the tests pass."),
                    {"role": "wizard", "content": "Abracadabra, your tests are green."},
                ],
            },
        ]
    )

    files["unknown_part_type.jsonl"] = jsonl(
        [
            VALID_CHAT,
            {
                "id": "bad-part",
                "messages": [
                    user(
                        [
                            {"type": "text", "text": "Describe this message."},
                            {"type": "hologram", "hologram": {"url": "holo://r2d2/leia.holo"}},
                        ]
                    )
                ],
            },
        ]
    )

    files["empty_message.jsonl"] = jsonl(
        [
            VALID_CHAT,
            {
                "id": "bad-empty",
                "messages": [
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": None},
                ],
            },
        ]
    )

    files["tool_without_id.jsonl"] = jsonl(
        [
            VALID_CHAT,
            {
                "id": "bad-tool",
                "messages": [
                    user("What's the weather in Paris?"),
                    {"role": "assistant", "content": None, "tool_calls": [WEATHER_CALL]},
                    {"role": "tool", "content": WEATHER_RESULT},
                ],
            },
        ]
    )

    files["null_prompt.jsonl"] = jsonl(
        [
            {"prompt": "Give me a synonym for happy."},
            {"prompt": None},
            {"prompt": "Give me an antonym for brave."},
        ]
    )

    files["number_prompt.jsonl"] = jsonl(
        [
            {"prompt": "What is the answer to life, the universe and everything?"},
            {"prompt": 42},
            {"prompt": "Who wrote The Hitchhiker's Guide to the Galaxy?"},
        ]
    )

    files["invalid_utf8.csv"] = (
        b"prompt,topic\n"
        b"Explain photosynthesis simply.,biology\n"
        b"What causes tides?,physics\n"
        b"Translate caf\xff au lait into German.,translation\n"
        b"Name a prime number above 100.,maths\n"
    )

    files["duplicate_ids.jsonl"] = jsonl(
        [
            {"id": "a", "prompt": "Write a limerick about a cat."},
            {"id": "b", "prompt": "Write a limerick about a dog."},
            {"id": "a", "prompt": "Write a limerick about a goldfish."},
        ]
    )

    files["media_escape.jsonl"] = jsonl(
        [
            image_row("ok-img", "https://upload.wikimedia.org/wikipedia/commons/3/3a/Cat03.jpg"),
            image_row("bad-path", "../../etc/passwd"),
        ]
    )

    files["bad_data_url.jsonl"] = jsonl(
        [
            VALID_CHAT,
            image_row("bad-data-url", "data:image/png;base64,@@@notbase64"),
        ]
    )

    rng = random.Random(20240117)
    noise = bytes(rng.randrange(256) for _ in range(120))
    files["unknown_format.bin"] = b"\x00\x13\x37LLMF\x00\x00\x01\xfe" + noise + b"\x00\x00"

    files["template_rows.csv"] = (
        "review,product\n"
        '"Arrived quickly, works exactly as described.",Nimbus X2 wireless earbuds\n'
        '"The lid doesn\'t seal, so it leaks in my bag.",Thermo travel mug\n'
        '"Très confortable, je la porte tous les jours 😊",Merino wool beanie\n'
    ).encode()

    return files


def main() -> None:
    for name, data in build().items():
        (HERE / name).write_bytes(data)


if __name__ == "__main__":
    main()
