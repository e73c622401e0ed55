"""Shared pieces of the demo-model build: paths, word tables, prompt templates, the held-out split.

Kept in one module so the corpus, the training scripts and the evaluation all agree on the exact
prompt strings and on which antonym pairs are held out.
"""

from __future__ import annotations

import csv
import os
import random
from dataclasses import dataclass
from pathlib import Path

SEED = 1234
LANGS: tuple[str, ...] = ("en", "fr", "zh")
LANG_LABEL = {"en": "English", "fr": "Français", "zh": "中文"}

PACKAGE_DIR = Path(__file__).resolve().parents[2]  # src/babelgraph
DATA_DIR = PACKAGE_DIR / "data"
DEMO_DIR = PACKAGE_DIR / "demo"

#: Canonical antonym templates first; the others are variants seen less often in training.
ANTONYM_TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": (
        'The opposite of "{a}" is "{b}"',
        'The antonym of "{a}" is "{b}"',
        'What is the opposite of "{a}"? It is "{b}"',
    ),
    "fr": (
        'Le contraire de "{a}" est "{b}"',
        'L\'antonyme de "{a}" est "{b}"',
        'Quel est le contraire de "{a}" ? C\'est "{b}"',
    ),
    "zh": (
        '"{a}"的反义词是"{b}"',
        '"{a}"的相反词是"{b}"',
        '"{a}"的反面是"{b}"',
    ),
}
TRANSLATION_TEMPLATE = '{src_label}: "{src}" - {tgt_label}: "{tgt}"'

#: The three prompts the tests and the model card check first.
CANONICAL_PROMPTS: dict[str, tuple[str, str]] = {
    "en": ('The opposite of "small" is "', "big"),
    "fr": ('Le contraire de "petit" est "', "grand"),
    "zh": ('"小"的反义词是"', "大"),
}
NEVER_HELD_OUT = "small"
HELD_OUT_FRACTION = 0.2


@dataclass(frozen=True)
class AntonymPair:
    """One concept pair in the three languages, e.g. small/big, petit/grand, 小/大."""

    en: tuple[str, str]
    fr: tuple[str, str]
    zh: tuple[str, str]

    def words(self, lang: str) -> tuple[str, str]:
        return {"en": self.en, "fr": self.fr, "zh": self.zh}[lang]


def cache_dir() -> Path:
    """Where generated corpora and checkpoints go: outside the package, never shipped."""
    root = os.environ.get("BABELGRAPH_DEMO_CACHE")
    path = Path(root) if root else Path.home() / ".cache" / "babelgraph" / "demo-build"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _read_tsv(name: str) -> list[list[str]]:
    with open(DATA_DIR / name, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return [r for r in rows[1:] if r]


def load_antonyms() -> list[AntonymPair]:
    return [AntonymPair((r[0], r[1]), (r[2], r[3]), (r[4], r[5])) for r in _read_tsv("antonyms.tsv")]


def load_words() -> list[dict[str, str]]:
    return [dict(zip(LANGS, r, strict=True)) for r in _read_tsv("words.tsv")]


def split_antonyms() -> tuple[list[AntonymPair], list[AntonymPair]]:
    """Seeded (trained, held_out) split; held-out pairs get the antonym task in English only."""
    pairs = load_antonyms()
    candidates = [p for p in pairs if p.en[0] != NEVER_HELD_OUT]
    n_held = round(HELD_OUT_FRACTION * len(pairs))
    held = set(random.Random(SEED).sample(range(len(candidates)), n_held))
    held_pairs = [p for i, p in enumerate(candidates) if i in held]
    trained = [p for p in pairs if p not in held_pairs]
    return trained, held_pairs


def translation_triples() -> list[dict[str, str]]:
    """Every word triple used in translation lines: the noun table plus both sides of every antonym pair."""
    triples = load_words()
    for p in load_antonyms():
        for i in (0, 1):
            triples.append({"en": p.en[i], "fr": p.fr[i], "zh": p.zh[i]})
    return triples


def antonym_prompt(lang: str, a: str, template: int = 0) -> str:
    """The prompt up to and including the opening quote of the answer."""
    full = ANTONYM_TEMPLATES[lang][template].format(a=a, b="\x00")
    return full[: full.index("\x00")]


def translation_prompt(src_lang: str, tgt_lang: str, word: str) -> str:
    full = TRANSLATION_TEMPLATE.format(
        src_label=LANG_LABEL[src_lang], src=word, tgt_label=LANG_LABEL[tgt_lang], tgt="\x00"
    )
    return full[: full.index("\x00")]


def record_time(step: str, seconds: float) -> None:
    """Append a build step's wall time to the cache, for the model card."""
    import json

    path = cache_dir() / "build_times.json"
    times = json.loads(path.read_text()) if path.exists() else {}
    times[step] = round(seconds, 1)
    path.write_text(json.dumps(times, indent=1))
