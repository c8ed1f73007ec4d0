"""A small chat dataset in the ultrachat_200k schema, generated deterministically (no Hub needed).

The quickstart ships what `write_dataset` produces under specs/data/quickstart-chat/; tests call
it to make their own data. The answers are right (arithmetic, capitals, conversions), so a
fine-tune has something real to learn and its loss visibly falls.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

_CAPITALS = [
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Canada", "Ottawa"),
    ("Egypt", "Cairo"),
    ("Kenya", "Nairobi"),
    ("Peru", "Lima"),
    ("Norway", "Oslo"),
    ("Greece", "Athens"),
    ("Germany", "Berlin"),
    ("Chile", "Santiago"),
    ("Poland", "Warsaw"),
    ("Portugal", "Lisbon"),
    ("Austria", "Vienna"),
    ("Ireland", "Dublin"),
    ("Sweden", "Stockholm"),
    ("Finland", "Helsinki"),
    ("Mexico", "Mexico City"),
    ("India", "New Delhi"),
    ("Brazil", "Brasilia"),
    ("Australia", "Canberra"),
]
_COLORS = ["red", "blue", "green", "yellow", "purple", "orange"]


def _conversation(rng: random.Random) -> list[dict]:
    kind = rng.randrange(5)
    if kind == 0:
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        q, ans = f"What is {a} plus {b}?", f"{a} plus {b} is {a + b}."
    elif kind == 1:
        country, city = rng.choice(_CAPITALS)
        q, ans = f"What is the capital of {country}?", f"The capital of {country} is {city}."
    elif kind == 2:
        km = rng.randint(1, 50)
        q, ans = f"How many meters are in {km} kilometers?", f"{km} kilometers are {km * 1000} meters."
    elif kind == 3:
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        q, ans = f"What is {a} times {b}?", f"{a} times {b} is {a * b}."
    else:
        color = rng.choice(_COLORS)
        q, ans = f"Spell the word {color} backwards.", f"{color} backwards is {color[::-1]}."
    messages = [{"role": "user", "content": q}, {"role": "assistant", "content": ans}]
    if rng.random() < 0.3:
        messages += [
            {"role": "user", "content": "Thanks! Answer in one word: was that easy?"},
            {"role": "assistant", "content": "Yes."},
        ]
    return messages


def records(count: int, seed: int) -> list[dict]:
    """`count` conversations as ultrachat records (prompt, prompt_id, messages)."""
    rng = random.Random(seed)
    out: list[dict] = []
    for _ in range(count):
        messages = _conversation(rng)
        prompt = messages[0]["content"]
        out.append(
            {
                "prompt": prompt,
                "prompt_id": hashlib.sha256(f"{seed}:{len(out)}:{prompt}".encode()).hexdigest(),
                "messages": messages,
            }
        )
    return out


def write_dataset(folder: Path, *, train: int = 240, test: int = 60, seed: int = 7) -> Path:
    """Write train.jsonl and test.jsonl into `folder` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, count, offset in (("train", train, 0), ("test", test, 1)):
        with (folder / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for record in records(count, seed * 1000 + offset):
                fh.write(json.dumps(record) + "\n")
    return folder


if __name__ == "__main__":  # python -m orchestrator.targets.local.sample_data specs/data/quickstart-chat
    import sys

    print(write_dataset(Path(sys.argv[1])))
