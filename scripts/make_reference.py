"""Regenerate the shipped reference text (``en.txt``, ``fr.txt``, ``zh.txt``) from the word tables.

Run ``python scripts/make_reference.py`` from anywhere. The output is
deterministic (seed 0). Line ``i`` of every file says the same thing in its language, so the set doubles as
the parallel text set for feature overlap. Only words from ``words.tsv`` and ``antonyms.tsv`` and the demo
model's own templates are used, so the bundled demo model's vocabulary covers every line.
"""

from __future__ import annotations

import random
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "src" / "babelgraph" / "data"
HERE = DATA / "reference"  # where the text goes
LANGS = ("en", "fr", "zh")
SEED = 0
N_SENTENCES = 144

ANTONYM = {
    "en": 'The opposite of "{a}" is "{b}"',
    "fr": 'Le contraire de "{a}" est "{b}"',
    "zh": '"{a}"的反义词是"{b}"',
}
LABEL = {"en": "English", "fr": "Français", "zh": "中文"}
# Aligned sentence templates: the same meaning in each language (the demo's own running-text templates).
SENTENCES = (
    ("The {n1} is {adj}.", "Ici, {n1}, c'est {adj}.", "{n1}很{adj}。"),
    (
        "My friend likes the {n1}, but I prefer the {n2}.",
        "Mon ami aime {n1}, mais je préfère {n2}.",
        "我的朋友喜欢{n1}，可是我更喜欢{n2}。",
    ),
    (
        "She wrote the word {n1} on a piece of paper.",
        "Elle a écrit le mot {n1} sur une feuille de papier.",
        "她在纸上写了一个{n1}字。",
    ),
    (
        "There were {num} {n1} words in the old book.",
        "Dans ce vieux livre, le mot {n1} revient {num} fois.",
        "这本书里有{num}个{n1}字。",
    ),
    (
        "Everyone knows that the {n1} is {adj} in winter.",
        "On dit que {n1}, c'est toujours {adj} en hiver.",
        "大家都知道冬天的{n1}很{adj}。",
    ),
    (
        "Yesterday the {n1} seemed {adj}, and today it seems {adj2}.",
        "Hier, {n1}, c'était {adj} ; aujourd'hui, c'est {adj2}.",
        "昨天{n1}很{adj}，今天{n1}很{adj2}。",
    ),
    (
        "Is the {n1} {adj}? No, it is {adj2}.",
        "Est-ce que {n1}, c'est {adj} ? Non, c'est {adj2}.",
        "{n1}{adj}吗？不，{n1}很{adj2}。",
    ),
    (
        "I saw a {n1} and a {n2} near the {n3}.",
        "Le matin, nous cherchons {n1}, {n2} et {n3}.",
        "他讲了一个关于{n1}、{n2}和{n3}的故事。",
    ),
)
ADJECTIVES = (
    "small",
    "big",
    "hot",
    "cold",
    "long",
    "short",
    "high",
    "low",
    "fast",
    "slow",
    "new",
    "old",
    "good",
    "bad",
    "light",
    "heavy",
    "strong",
    "weak",
    "rich",
    "poor",
    "wide",
    "narrow",
    "easy",
    "difficult",
    "dry",
    "wet",
    "beautiful",
    "ugly",
    "full",
    "empty",
)
NUMBERS = ("one", "two", "three", "four", "five", "seven", "eight", "nine", "ten")
SPECIAL = {"red", "green", "blue", "yellow", "hundred", "thousand", *NUMBERS}


def _table(name: str) -> list[dict[str, str]]:
    lines = [line.split("\t") for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    return [dict(zip(lines[0], row)) for row in lines[1:]]


def build() -> dict[str, list[str]]:
    """The aligned lines per language: antonym prompts, repetition lines, then templated sentences."""
    words = _table("words.tsv")
    antonyms = _table("antonyms.tsv")
    out: dict[str, list[str]] = {lang: [] for lang in LANGS}
    for row in antonyms:
        for lang in LANGS:
            out[lang].append(ANTONYM[lang].format(a=row[f"{lang}_a"], b=row[f"{lang}_b"]))
    for row in words:
        for lang in LANGS:
            out[lang].append(f'{LABEL[lang]}: "{row[lang]}" - {LABEL[lang]}: "{row[lang]}"')
    adjectives = []
    for row in antonyms:
        for side in ("a", "b"):
            if row[f"en_{side}"] in ADJECTIVES:
                adjectives.append({lang: row[f"{lang}_{side}"] for lang in LANGS})
    nouns = [row for row in words if row["en"] not in SPECIAL]
    numbers = [row for row in words if row["en"] in NUMBERS]
    rng = random.Random(SEED)
    for i in range(N_SENTENCES):
        templates = SENTENCES[i % len(SENTENCES)]
        n1, n2, n3 = rng.sample(nouns, 3)
        a1, a2 = rng.sample(adjectives, 2)
        num = rng.choice(numbers)
        for lang, template in zip(LANGS, templates):
            out[lang].append(
                template.format(n1=n1[lang], n2=n2[lang], n3=n3[lang], adj=a1[lang], adj2=a2[lang], num=num[lang])
            )
    return out


def main() -> None:
    for lang, lines in build().items():
        (HERE / f"{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{lang}.txt: {len(lines)} lines")


if __name__ == "__main__":
    main()
