"""Shared paths, seeds, word tables and the antonym Latin square for the demo-model build.

Self-contained: nothing here imports babelgraph. Caches live in $BABELGRAPH_DEMO_CACHE or
~/.cache/babelgraph/demo-build-v2, never in the repository; final artefacts go to $BABELGRAPH_DEMO_OUT
(default /work/staging/demo).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from pathlib import Path

SEED = 1234
LANGS = ("en", "fr", "zh")
# The issue's antonym targets on held-out wordings: share right on taught pairs, and on pairs only transferred.
TAUGHT_TARGET = 0.7
TRANSFER_TARGET = 0.5
REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("BABELGRAPH_DEMO_DATA", "/work/shared/data"))
BOS = "<|bos|>"
# The build's top-level artefacts, as the package ships them (beside the dictionary, reference and held-out folders).
ARTEFACTS = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "MODEL_CARD.md",
    "eval_results.json",
]
EOS = "<|endoftext|>"
# Table words that are also common function words in running text (fr "est" = is, not east): code-switching
# leaves them alone, and so does the embedding tie without --align-homographs (which also drops the odd real
# translation, such as `long`).
AMBIGUOUS = {"est", "nom", "sur", "pas", "car", "son", "fin", "tout", "plus", "long", "page", "one", "sous"}


def cache_dir() -> Path:
    d = Path(os.environ.get("BABELGRAPH_DEMO_CACHE", Path.home() / ".cache/babelgraph/demo-build-v2"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def out_dir() -> Path:
    d = Path(os.environ.get("BABELGRAPH_DEMO_OUT", "/work/staging/demo"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def file_sha256(path: Path) -> str | None:
    """A file's sha256 (None if it is absent): how weights and corpora are tied to the results made from them."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def weights_sha256(folder: Path) -> str | None:
    """Which transformer a probe's results belong to (None if the folder has no weights), so the card shows them only
    beside the same model."""
    return file_sha256(folder / "model.safetensors")


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(path)


def load_antonyms() -> list[dict[str, tuple[str, str]]]:
    """Rows of antonyms.tsv as {lang: (a, b)}."""
    rows = []
    lines = (DATA / "antonyms.tsv").read_text(encoding="utf-8").splitlines()[1:]
    for line in lines:
        if not line.strip():
            continue
        c = line.split("\t")
        rows.append({"en": (c[0], c[1]), "fr": (c[2], c[3]), "zh": (c[4], c[5])})
    return rows


def load_words() -> list[dict[str, str]]:
    lines = (DATA / "words.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [dict(zip(LANGS, line.split("\t"), strict=True)) for line in lines if line.strip()]


# Latin square over the antonym pairs: cell i % 6 says in which languages the pair's antonym task is
# taught. Every language is taught on half of the pairs; the other half tests transfer. The canonical
# pair small/big (row 0) is taught in all three languages because the canonical prompts must work.
CELLS = (("en",), ("fr",), ("zh",), ("en", "fr"), ("fr", "zh"), ("zh", "en"))


def antonym_plan() -> list[dict]:
    """Each antonym pair with the languages its antonym task is taught in (shuffled, seeded)."""
    rows = load_antonyms()
    rest = rows[1:]
    random.Random(SEED).shuffle(rest)
    plan = [{"pair": rows[0], "taught": list(LANGS)}]
    for i, r in enumerate(rest):
        plan.append({"pair": r, "taught": list(CELLS[i % len(CELLS)])})
    return plan


# Antonym wordings: (template, lang). "{a}" is the cue, "{b}" the answer and always comes last.
# Training wordings include the canonical ones; held-out wordings are never trained.
ANT_TRAIN = {
    "en": [
        'The opposite of "{a}" is "{b}"',
        "The opposite of {a} is {b}",
        "The opposite of '{a}' is '{b}'",
        'Opposite of "{a}": "{b}"',
        "{a} is the opposite of {b}",
        'What is the opposite of "{a}"? It is "{b}"',
        "{a} -> {b}",
        "Antonym: {a} / {b}",
    ],
    "fr": [
        'Le contraire de "{a}" est "{b}"',
        "Le contraire de {a} est {b}",
        "Le contraire de « {a} » est « {b} »",
        'Contraire de "{a}" : "{b}"',
        "{a} est le contraire de {b}",
        'Quel est le contraire de "{a}" ? C\'est "{b}"',
        "{a} -> {b}",
        "Antonyme : {a} / {b}",
    ],
    "zh": [
        '"{a}"的反义词是"{b}"',
        "{a}的反义词是{b}",
        "“{a}”的反义词是“{b}”",
        "{a}的反面是{b}",
        '反义词："{a}"和"{b}"',
        "“{a}”的反义词是什么？是“{b}”",
        "{a} -> {b}",
        "反义词：{a} / {b}",
    ],
}
# Six more training wordings per language, tried in sweep.py's round 4 (`data.py --extra-wordings`) and not
# kept: they widen the training wordings along other lines than the held-out ones test (no lowercase start, no
# curly quotes in en/fr, no "antonym"/"word"/"词语"/"就" or "是：" before the answer).
ANT_TRAIN_EXTRA = {
    "en": [
        'The reverse of "{a}" is "{b}"',
        "Opposite of {a}? {b}",
        "Q: What is the opposite of {a}? A: {b}",
        'The contrary of "{a}" is "{b}"',
        "Not {a} but {b}",
        "The opposite of ({a}) is ({b})",
    ],
    "fr": [
        'L\'inverse de "{a}" est "{b}"',
        "Contraire de {a} ? {b}",
        "Q : Quel est le contraire de {a} ? R : {b}",
        'Le sens contraire de "{a}" est "{b}"',
        "Pas {a} mais {b}",
        "Le contraire de ({a}) est ({b})",
    ],
    "zh": [
        '"{a}"的相反词是"{b}"',
        "{a}的反义词？{b}",
        '与"{a}"相反的是"{b}"',
        "「{a}」的反义词是「{b}」",
        "不是{a}而是{b}",
        "（{a}）的反义词是（{b}）",
    ],
}
ANT_HELDOUT = {
    "en": [
        'The antonym of "{a}" is "{b}"',
        'the opposite of "{a}" is "{b}"',
        "The opposite of the word {a} is {b}",
        "“{a}” is the opposite of “{b}”",
    ],
    "fr": [
        'L\'antonyme de "{a}" est "{b}"',
        'Le contraire du mot "{a}" est "{b}"',
        "le contraire de {a} est {b}",
        "“{a}” est le contraire de “{b}”",
    ],
    "zh": [
        '"{a}"的反义词就是"{b}"',
        "词语“{a}”的反义词是“{b}”",
        "{a}的反义词是：{b}",
        "“{a}”的反面是“{b}”",
    ],
}


LANG_NAME = {
    "en": {"en": "English", "fr": "French", "zh": "Chinese"},
    "fr": {"en": "anglais", "fr": "français", "zh": "chinois"},
    "zh": {"en": "英语", "fr": "法语", "zh": "中文"},
}
# Translation wordings: {w} source word, {t} target word, {S}/{T} source/target language names in the
# wording's language. Keyed by the wording's language.
TR_TRAIN = {
    "en": ['The {T} word for "{w}" is "{t}"', "{w} in {T} is {t}", "{S}: {w} - {T}: {t}"],
    "fr": ['Le mot {T} pour "{w}" est "{t}"', "{w} en {T} se dit {t}", "{S} : {w} - {T} : {t}"],
    "zh": ['"{w}"的{T}是"{t}"', "{w}用{T}说是{t}", "{S}：{w} - {T}：{t}"],
}
TR_FIXED = 'Français: "{w}" - 中文: "{t}"'  # the README's lens example (fr -> zh)
TR_HELDOUT = {
    "en": ['In {T}, "{w}" is "{t}"'],
    "fr": ['En {T}, "{w}" se dit "{t}"'],
    "zh": ["“{w}”在{T}里是“{t}”"],
}


def in_training_wordings(word: str) -> bool:
    """Whether a table word is part of a trained wording's fixed text (`是` in `的反义词是`, `est` in `... est "{b}"`):
    such a word is a template word too, a homograph of its table meaning."""
    texts = [t for ts in (*ANT_TRAIN.values(), *TR_TRAIN.values()) for t in ts] + [TR_FIXED]
    fixed = " ".join(re.sub(r"\{\w\}", " ", t) for t in texts)
    if re.search(r"[\u4e00-\u9fff]", word):
        return word in fixed
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", fixed, re.I) is not None
