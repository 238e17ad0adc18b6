"""Generate the example input files shipped in ``examples/``.

Run from anywhere::

    python examples/make_examples.py

Every file is written next to this script. Output is deterministic, so running the script
again reproduces the committed files byte for byte (the Parquet file embeds the pyarrow
version in its footer, so it only matches when the same pyarrow version is used).

Binary media (PNG images, a WAV clip and a PDF) are built by hand with ``struct`` and
``zlib`` so the script needs nothing beyond the standard library and ``pyarrow``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import math
import struct
import wave
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent

Pixel = tuple[int, int, int]
Message = dict[str, Any]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------
# Binary media
# --------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    """Return one PNG chunk: length, type, data and CRC-32 over type + data."""
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def make_png(rows: Sequence[Sequence[Pixel]]) -> bytes:
    """Encode an RGB image (rows of ``(r, g, b)`` pixels) as an 8-bit truecolor PNG."""
    height = len(rows)
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise ValueError("all rows must have the same width")
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = bytearray()
    for row in rows:
        raw.append(0)  # filter type 0 (None) for every scanline
        for r, g, b in row:
            raw += bytes((r, g, b))
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + _png_chunk(b"IEND", b"")
    )


def check_png(data: bytes) -> tuple[int, int]:
    """Validate signature, chunk order, CRCs and pixel data size; return ``(width, height)``."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("bad PNG signature")
    pos = len(PNG_SIGNATURE)
    kinds: list[bytes] = []
    idat = b""
    width = height = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"bad CRC in {kind!r} chunk")
        if kind == b"IHDR":
            width, height, depth, color, _, _, _ = struct.unpack(">IIBBBBB", body)
            if (depth, color) != (8, 2):
                raise ValueError("expected 8-bit RGB")
        elif kind == b"IDAT":
            idat += body
        kinds.append(kind)
        pos += 12 + length
    if kinds[0] != b"IHDR" or kinds[-1] != b"IEND" or b"IDAT" not in kinds:
        raise ValueError(f"bad chunk layout: {kinds}")
    if len(zlib.decompress(idat)) != height * (1 + 3 * width):
        raise ValueError("decompressed pixel data has the wrong size")
    return width, height


def cat_pixels() -> list[list[Pixel]]:
    """An 8x8 pixel-art ginger cat face on a light blue background."""
    palette: dict[str, Pixel] = {
        ".": (200, 225, 245),  # background
        "o": (230, 140, 50),  # orange fur
        "d": (170, 90, 30),  # darker stripes / ears
        "g": (60, 160, 70),  # green eyes
        "p": (240, 150, 170),  # pink nose
    }
    art = [
        "d......d",
        "dd....dd",
        "odoooodo",
        "oggooggo",
        "oooppooo",
        "odoooodo",
        ".oooooo.",
        "..oooo..",
    ]
    return [[palette[ch] for ch in line] for line in art]


def chart_pixels() -> list[list[Pixel]]:
    """An 8x8 bar chart: four coloured bars of rising height on white with a grey axis."""
    white: Pixel = (255, 255, 255)
    axis: Pixel = (90, 90, 90)
    bars: list[tuple[int, Pixel]] = [
        (2, (66, 133, 244)),
        (4, (219, 68, 55)),
        (5, (244, 180, 0)),
        (7, (15, 157, 88)),
    ]
    size = 8
    rows = [[white] * size for _ in range(size)]
    for y in range(size):
        rows[y][0] = axis
    rows[size - 1] = [axis] * size
    for i, (height, colour) in enumerate(bars):
        x = 1 + 2 * i  # bars at x = 1, 3, 5, 7; gaps in between
        for y in range(size - 1 - height, size - 1):
            rows[y][x] = colour
    return rows


def swatch_pixels() -> list[list[Pixel]]:
    """A 2x2 red/green/blue/white swatch, used inline as a data URL."""
    return [[(255, 0, 0), (0, 255, 0)], [(0, 0, 255), (255, 255, 255)]]


def make_wav(seconds: float = 0.05, rate: int = 8000, freq: float = 440.0) -> bytes:
    """A short mono 16-bit PCM sine beep as a complete RIFF/WAVE file."""
    frames = bytearray()
    for n in range(int(seconds * rate)):
        sample = int(12000 * math.sin(2 * math.pi * freq * n / rate))
        frames += struct.pack("<h", sample)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return buffer.getvalue()


def make_pdf() -> bytes:
    """A one-page PDF 1.4 invoice with a correct cross-reference table."""
    lines = [
        "Invoice INV-2024-0117",
        "Bill to: Northwind Traders, 12 Harbour St, Bristol",
        "Consulting services, March 2024: 10 h x 125.00 EUR",
        "Total due: 1250.00 EUR by 2024-04-15",
    ]
    text = ["BT", "/F1 12 Tf", "72 720 Td", "16 TL"]
    for line in lines:
        text.append(f"({line}) Tj T*")
    text.append("ET")
    stream = "\n".join(text).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


# --------------------------------------------------------------------------------------
# reviews.csv
# --------------------------------------------------------------------------------------

REVIEWS: list[tuple[str, str, int, str]] = [
    (
        "r001",
        "Aeropress Go coffee maker",
        5,
        "Makes a clean, bright cup in under two minutes. Cleanup is just popping out the puck. "
        "I've stopped buying coffee on the way to work.",
    ),
    (
        "r002",
        "TrailLite 2-person tent",
        2,
        'The listing says "fully waterproof," but the seams leaked on the first night of rain. '
        "Poles and zips feel solid, though.",
    ),
    (
        "r003",
        "Nimbus X2 wireless earbuds",
        4,
        "Great sound for the price and the case fits in a coin pocket. Lost a star because the "
        "left bud drops out of pairing about once a day.",
    ),
    (
        "r004",
        "USB-C cable, 2 m (braided)",
        1,
        "Stopped charging my phone after nine days. Returned it.",
    ),
    (
        "r005",
        "FoldAway laptop stand",
        3,
        "Pros: light, folds flat, fits in my backpack.\n"
        "Cons: the hinge started squeaking after a month and it wobbles when I type hard.",
    ),
    (
        "r006",
        "Lumière bedside lamp",
        5,
        "Très bon rapport qualité-prix. La lumière chaude est parfaite pour lire le soir, "
        "et le variateur tactile fonctionne très bien.",
    ),
    (
        "r007",
        "Nimbus X2 wireless earbuds",
        5,
        "音がとてもクリアで、バッテリーも一日中持ちます。買ってよかったです！",
    ),
    (
        "r008",
        "Glow-in-the-dark star stickers",
        3,
        "Kids love them 🎉🌟 but the glow fades after about 20 minutes, and a few fell off the "
        "ceiling within a week 😕",
    ),
    (
        "r009",
        "ChefMate 8-inch skillet",
        4,
        'My partner called it "the only pan we need" and honestly, she\'s right. Heavy, even '
        "heat, but the handle gets hot in the oven.",
    ),
    (
        "r010",
        "SmartPlug Mini (2-pack)",
        1,
        "The app wants an account, location access and my contacts just to switch a lamp on. "
        "No thanks.\nUpdate: support never replied to my email either.",
    ),
    (
        "r011",
        "Aeropress Go coffee maker",
        4,
        "Good, not magic. If you already own a V60 you won't notice a huge difference, but "
        "it's much easier to take camping.",
    ),
    (
        "r012",
        "Mochila urbana 20 L",
        2,
        "La mochila es bonita, pero la cremallera se rompió en dos semanas. Decepcionante 👎",
    ),
]


# --------------------------------------------------------------------------------------
# prompts.jsonl
# --------------------------------------------------------------------------------------

PROMPTS: list[dict[str, Any]] = [
    {
        "prompt": "Explain the difference between a process and a thread in two sentences.",
        "system": "You are a concise computer science tutor.",
        "topic": "operating systems",
        "difficulty": 2,
    },
    {
        "prompt": "Write a haiku about the first snow of winter.",
        "system": None,
        "topic": "poetry",
        "difficulty": 1,
    },
    {
        "prompt": "What is the derivative of x^3 * sin(x)?",
        "system": "Show your work step by step, then give the final answer on its own line.",
        "topic": "calculus",
        "difficulty": 3,
    },
    {
        "prompt": "Summarize the causes of the 1929 stock market crash in three bullet points.",
        "system": None,
        "topic": "history",
        "difficulty": 3,
    },
    {
        "prompt": 'Translate into Japanese: "The meeting has been moved to Thursday afternoon."',
        "system": "You are a professional translator. Reply with the translation only.",
        "topic": "translation",
        "difficulty": 2,
    },
    {
        "prompt": "¿Cuál es la capital de Australia y por qué no es Sídney?",
        "system": None,
        "topic": "geography",
        "difficulty": 1,
    },
    {
        "prompt": "Write a Python function that returns the n-th Fibonacci number in O(log n).",
        "system": "You are a senior Python engineer. Use type hints and include a docstring.",
        "topic": "programming",
        "difficulty": 4,
    },
    {
        "prompt": "Find the bug in this function:\n\n"
        "def mean(xs):\n"
        "    return sum(xs) / len(xs) - 1\n",
        "system": None,
        "topic": "programming",
        "difficulty": 2,
    },
    {
        "prompt": "Prove that there are infinitely many prime numbers.",
        "system": None,
        "topic": "number theory",
        "difficulty": 4,
    },
    {
        "prompt": "Suggest three names for a bakery that specializes in sourdough 🍞.",
        "system": None,
        "topic": "branding",
        "difficulty": 1,
    },
    {
        "prompt": "Why can a Bloom filter return false positives but never false negatives?",
        "system": "Answer for an audience of junior backend developers.",
        "topic": "data structures",
        "difficulty": 3,
    },
]


# --------------------------------------------------------------------------------------
# chat.jsonl (OpenAI Chat Completions messages)
# --------------------------------------------------------------------------------------


def chat_rows(swatch_png: bytes, wav: bytes, pdf: bytes) -> list[dict[str, Any]]:
    weather_paris = '{"city":"Paris","unit":"celsius"}'
    return [
        {
            "id": "chat-001",
            "messages": [
                {"role": "user", "content": "What's a good name for a grey kitten?"},
            ],
            "source": "hand-written",
            "tags": ["single-turn", "creative"],
        },
        {
            "id": "chat-002",
            "messages": [
                {
                    "role": "system",
                    "content": "You are a helpful assistant for a hardware store. Keep answers "
                    "under 80 words.",
                },
                {
                    "role": "user",
                    "content": "Which drill bit should I use for ceramic wall tiles?",
                },
            ],
            "source": "support-logs",
            "tags": ["system-prompt", "retail"],
        },
        {
            "id": "chat-003",
            "messages": [
                {"role": "system", "content": "You are a careful code reviewer."},
                {
                    "role": "developer",
                    "content": "Always answer in Markdown. Flag security issues first.",
                },
                {
                    "role": "user",
                    "content": "Review this:\n\n```python\nimport os\n"
                    "os.system('rm -rf ' + user_input)\n```",
                },
            ],
            "source": "hand-written",
            "tags": ["developer-message", "code-review", "security"],
        },
        {
            "id": "chat-004",
            "messages": [
                {"role": "user", "content": "I'm planning a 3-day trip to Lisbon in May."},
                {
                    "role": "assistant",
                    "content": "Nice choice! May is warm but not crowded yet. Do you prefer "
                    "museums, food, or day trips?",
                },
                {"role": "user", "content": "Mostly food, and maybe one day trip."},
                {
                    "role": "assistant",
                    "content": "Then spend a morning at Time Out Market and try pastéis de "
                    "nata in Belém. For the day trip, Sintra is 40 minutes by train.",
                },
                {"role": "user", "content": "Is Sintra doable without a car?"},
            ],
            "source": "hand-written",
            "tags": ["multi-turn", "travel"],
        },
        {
            "id": "chat-005",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What breed is this cat?"},
                        {"type": "image_url", "image_url": {"url": "images/cat.png"}},
                        {"type": "text", "text": "And does this chart show growth or decline?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "images/chart.png", "detail": "low"},
                        },
                    ],
                },
            ],
            "source": "hand-written",
            "tags": ["vision", "local-image"],
        },
        {
            "id": "chat-006",
            "messages": [
                {"role": "system", "content": "Describe images for a screen reader user."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Please write alt text for this photo."},
                        {
                            "type": "image_url",
                            "image_url": {
                                "url": "https://upload.wikimedia.org/wikipedia/commons/3/3a/"
                                "Cat03.jpg",
                                "detail": "high",
                            },
                        },
                    ],
                },
            ],
            "source": "accessibility-eval",
            "tags": ["vision", "remote-image"],
        },
        {
            "id": "chat-007",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64," + b64(swatch_png)},
                        },
                        {
                            "type": "text",
                            "text": "List the colours in this 2×2 swatch, left to right, top "
                            "to bottom.",
                        },
                    ],
                },
            ],
            "source": "hand-written",
            "tags": ["vision", "data-url"],
        },
        {
            "id": "chat-008",
            "messages": [
                {"role": "user", "content": "What's the weather like in Paris right now?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_7QxW2mZkP1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": weather_paris},
                        }
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": "call_7QxW2mZkP1",
                    "content": '{"city":"Paris","temperature":14,"unit":"celsius",'
                    '"condition":"light rain"}',
                },
                {
                    "role": "assistant",
                    "content": "It's 14 °C in Paris with light rain. Take an umbrella!",
                },
            ],
            "source": "tool-use-demo",
            "tags": ["tools", "function-calling"],
        },
        {
            "id": "chat-009",
            "messages": [
                {
                    "role": "system",
                    "content": "You can call get_weather to look up current conditions.",
                },
                {"role": "user", "content": "Is it warmer in Tokyo or in Oslo today?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_a1Tokyo9F",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"city":"Tokyo","unit":"celsius"}',
                            },
                        },
                        {
                            "id": "call_b2Oslo4K",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"city":"Oslo","unit":"celsius"}',
                            },
                        },
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": "call_a1Tokyo9F",
                    "content": '{"city":"Tokyo","temperature":22,"unit":"celsius",'
                    '"condition":"sunny"}',
                },
                {
                    "role": "tool",
                    "tool_call_id": "call_b2Oslo4K",
                    "content": '{"city":"Oslo","temperature":6,"unit":"celsius",'
                    '"condition":"overcast"}',
                },
            ],
            "source": "tool-use-demo",
            "tags": ["tools", "parallel-tool-calls"],
        },
        {
            "id": "chat-010",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Transcribe this clip and guess the pitch."},
                        {
                            "type": "input_audio",
                            "input_audio": {"data": b64(wav), "format": "wav"},
                        },
                    ],
                },
            ],
            "source": "hand-written",
            "tags": ["audio"],
        },
        {
            "id": "chat-011",
            "messages": [
                {
                    "role": "system",
                    "content": "Extract structured fields from documents as JSON.",
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "file",
                            "file": {
                                "filename": "invoice.pdf",
                                "file_data": "data:application/pdf;base64," + b64(pdf),
                            },
                        },
                        {
                            "type": "text",
                            "text": "Return the invoice number, customer and total as JSON.",
                        },
                    ],
                },
            ],
            "source": "doc-extraction",
            "tags": ["file", "pdf", "extraction"],
        },
        {
            "id": "chat-012",
            "messages": [
                {
                    "role": "user",
                    "content": "How do I get into my neighbour's Wi-Fi without the password?",
                },
                {
                    "role": "assistant",
                    "content": None,
                    "refusal": "I can't help with that.",
                },
                {
                    "role": "user",
                    "content": "Fair enough. How do I reset the password on my own router?",
                },
            ],
            "source": "safety-eval",
            "tags": ["refusal", "multi-turn"],
        },
        {
            "id": "chat-013",
            "messages": [
                {"role": "system", "content": "あなたは親切な日本語の先生です。"},
                {"role": "user", "content": "「よろしくお願いします」はどういう意味ですか？"},
                {
                    "role": "assistant",
                    "content": "とても便利な表現です！状況によって「よろしくね」"
                    "「お世話になります」のような意味になります。",
                },
                {"role": "user", "content": "Can you explain that in English too? 🙏"},
            ],
            "source": "hand-written",
            "tags": ["multilingual", "日本語", "multi-turn"],
        },
        {
            "id": "chat-014",
            "messages": [
                {
                    "role": "user",
                    "content": "Écris un petit poème sur la mer à Saint-Malo, s'il te plaît.",
                },
            ],
            "source": "hand-written",
            "tags": ["multilingual", "français", "creative"],
        },
    ]


# --------------------------------------------------------------------------------------
# sharegpt.json
# --------------------------------------------------------------------------------------


def turn(speaker: str, value: str) -> dict[str, str]:
    return {"from": speaker, "value": value}


SHAREGPT: list[dict[str, Any]] = [
    {
        "id": "sg-0001",
        "conversations": [
            turn("human", "How long should I boil an egg for a runny yolk?"),
            turn(
                "gpt",
                "About 6 minutes for a large egg added to water that is already boiling. "
                "Move it to cold water straight away so it stops cooking.",
            ),
            turn("human", "And for a jammy one?"),
            turn("gpt", "Go for 7 minutes, then the same ice bath."),
        ],
        "source": "sharegpt-cooking",
    },
    {
        "id": "sg-0002",
        "conversations": [
            turn("system", "You are a patient SQL tutor. Use PostgreSQL syntax."),
            turn("human", "How do I get the second highest salary from an employees table?"),
            turn(
                "gpt",
                "One option:\n\nSELECT DISTINCT salary FROM employees\n"
                "ORDER BY salary DESC\nOFFSET 1 LIMIT 1;",
            ),
            turn("human", "What if two people share the top salary?"),
            turn(
                "gpt",
                "DISTINCT already collapses ties, so you still get the next distinct value. "
                "Without DISTINCT you would get the tied top salary again.",
            ),
        ],
        "source": "sharegpt-coding",
    },
    {
        "id": "sg-0003",
        "conversations": [
            turn("human", "Can you help me write a polite email declining a job offer?"),
            turn(
                "gpt",
                "Of course. Here's a draft:\n\nDear Ms. Patel,\n\nThank you for offering me "
                "the Data Analyst role. After careful thought, I have decided to accept "
                "another position. I enjoyed meeting the team and hope our paths cross "
                "again.\n\nBest regards,\nSam",
            ),
            turn("human", "Make it a bit warmer, I really liked them."),
            turn(
                "gpt",
                "Dear Ms. Patel,\n\nThank you so much for the offer. It was a genuinely hard "
                "decision, because I really enjoyed every conversation with your team. "
                "In the end I've accepted a role that is closer to home, but I'd love to "
                "stay in touch.\n\nWarm regards,\nSam",
            ),
        ],
        "source": "sharegpt-writing",
    },
    {
        "id": "sg-0004",
        "conversations": [
            turn("system", "Réponds toujours en français."),
            turn("human", "Quelle est la différence entre « tu » et « vous » ?"),
            turn(
                "gpt",
                "« Tu » s'emploie avec les proches, les enfants et souvent entre collègues ; "
                "« vous » marque la politesse ou s'adresse à plusieurs personnes.",
            ),
            turn("human", "Et avec mon médecin ?"),
            turn("gpt", "Avec votre médecin, utilisez « vous »."),
        ],
        "source": "sharegpt-multilingual",
    },
    {
        "id": "sg-0005",
        "conversations": [
            turn("human", "用一句话解释什么是机器学习。"),
            turn("gpt", "机器学习是让计算机从数据中自动学习规律，并用这些规律进行预测的方法。"),
            turn("human", "Can you give me an everyday example? 🙂"),
            turn(
                "gpt",
                "Your email spam filter: it learned from millions of messages which ones "
                "people marked as spam.",
            ),
        ],
        "source": "sharegpt-multilingual",
    },
    {
        "id": "sg-0006",
        "conversations": [
            turn("human", "My sourdough starter smells like nail polish remover. Is it dead?"),
            turn(
                "gpt",
                "No, it's just hungry. That acetone smell means the yeast ran out of food. "
                "Discard most of it and feed it twice a day for a couple of days.",
            ),
            turn("human", "Should I use warm or cold water?"),
            turn(
                "gpt",
                "Lukewarm, around 25–28 °C. It speeds the starter up without stressing it.",
            ),
            turn("human", "Thanks! 🍞"),
            turn("gpt", "Happy baking!"),
        ],
        "source": "sharegpt-cooking",
    },
]


# --------------------------------------------------------------------------------------
# hf_chat.parquet (Hugging Face "messages" layout, like HuggingFaceH4/no_robots)
# --------------------------------------------------------------------------------------


def msg(role: str, content: str) -> dict[str, str]:
    return {"content": content, "role": role}


HF_CHAT: list[tuple[str, list[dict[str, str]]]] = [
    (
        "Generation",
        [
            msg("user", "Write a two-line birthday message for my grandmother who loves roses."),
            msg(
                "assistant",
                "Happy birthday, Grandma! May your day bloom as beautifully as your roses.",
            ),
        ],
    ),
    (
        "Open QA",
        [
            msg("system", "Answer factual questions briefly."),
            msg("user", "Why is the sky blue?"),
            msg(
                "assistant",
                "Air molecules scatter short blue wavelengths of sunlight much more than red "
                "ones (Rayleigh scattering), so blue light reaches us from every direction.",
            ),
            msg("user", "Then why are sunsets red?"),
            msg(
                "assistant",
                "At sunset the light crosses far more atmosphere, so most of the blue is "
                "scattered away before it reaches you, leaving reds and oranges.",
            ),
        ],
    ),
    (
        "Brainstorm",
        [
            msg("user", "Give me three rainy-day activities for two kids aged 6 and 9."),
            msg(
                "assistant",
                "1. Build a blanket fort and read inside it with torches.\n"
                "2. Hold a baking contest with cupcakes.\n"
                "3. Make a cardboard marble run.",
            ),
            msg("user", "Something that doesn't need the kitchen?"),
            msg("assistant", "Try an indoor scavenger hunt with picture clues for the 6-year-old."),
        ],
    ),
    (
        "Rewrite",
        [
            msg("system", "You are an editor. Keep the author's meaning."),
            msg(
                "user",
                "Make this more formal: 'hey, the report's gonna be late, sorry, stuff came up'",
            ),
            msg(
                "assistant",
                "Please accept my apologies: the report will be delayed due to unforeseen "
                "circumstances.",
            ),
        ],
    ),
    (
        "Summarize",
        [
            msg(
                "user",
                "Summarize in one sentence: The council voted 7-2 on Tuesday to extend the bike "
                "lane on Mill Road to the station, with construction starting in September and "
                "expected to last ten weeks.",
            ),
            msg(
                "assistant",
                "The council approved, 7-2, a Mill Road bike lane extension to the station, "
                "to be built over ten weeks from September.",
            ),
        ],
    ),
    (
        "Coding",
        [
            msg("user", "How do I reverse a list in Python without modifying the original?"),
            msg("assistant", "Use slicing: `reversed_list = my_list[::-1]`."),
            msg("user", "Is there a way that doesn't copy the whole list?"),
            msg(
                "assistant",
                "Yes: `reversed(my_list)` returns a lazy iterator, so nothing is copied "
                "until you consume it.",
            ),
        ],
    ),
    (
        "Chat",
        [
            msg("system", "You are Kiko, a cheerful assistant who loves Japanese culture."),
            msg("user", "こんにちは！今日はちょっと疲れています。"),
            msg("assistant", "お疲れさまです！温かいお茶でも飲んで、少し休んでくださいね 🍵"),
            msg("user", "Thanks Kiko, that's sweet."),
            msg("assistant", "Anytime! Want a short, calming playlist suggestion too?"),
        ],
    ),
    (
        "Classify",
        [
            msg(
                "user",
                "Is this email spam or not? 'Congratulations!!! You've won a FREE cruise, "
                "click here to claim within 24h'",
            ),
            msg("assistant", "Spam."),
        ],
    ),
]


def hf_chat_table() -> pa.Table:
    message_type = pa.list_(pa.struct([("content", pa.string()), ("role", pa.string())]))
    prompt_ids: list[str] = []
    for _, messages in HF_CHAT:
        first_user = next(m["content"] for m in messages if m["role"] == "user")
        prompt_ids.append(hashlib.sha256(first_user.encode("utf-8")).hexdigest())
    return pa.table(
        {
            "prompt_id": pa.array(prompt_ids, type=pa.string()),
            "messages": pa.array([messages for _, messages in HF_CHAT], type=message_type),
            "category": pa.array([category for category, _ in HF_CHAT], type=pa.string()),
        }
    )


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------


def main() -> None:
    images = HERE / "images"
    images.mkdir(parents=True, exist_ok=True)

    cat_png = make_png(cat_pixels())
    chart_png = make_png(chart_pixels())
    swatch_png = make_png(swatch_pixels())
    for png in (cat_png, chart_png, swatch_png):
        check_png(png)
    (images / "cat.png").write_bytes(cat_png)
    (images / "chart.png").write_bytes(chart_png)

    write_csv(HERE / "reviews.csv", ["id", "product", "rating", "review"], REVIEWS)
    write_jsonl(HERE / "prompts.jsonl", PROMPTS)
    write_jsonl(HERE / "chat.jsonl", chat_rows(swatch_png, make_wav(), make_pdf()))
    (HERE / "sharegpt.json").write_text(
        json.dumps(SHAREGPT, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    pq.write_table(hf_chat_table(), HERE / "hf_chat.parquet")


if __name__ == "__main__":
    main()
