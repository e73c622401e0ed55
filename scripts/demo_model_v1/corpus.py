"""Generate the demo model's training corpus from the word tables (no external text).

Three kinds of documents, each a short block of lines:
- antonym prompts (`The opposite of "X" is "Y"` and variants), zero-shot or few-shot blocks;
  held-out pairs appear in English only;
- translation lines among English/Français/中文 in all six directions plus repetition lines;
- templated running text in each language (about half English, a quarter each French and Chinese),
  built from the same word tables, so every word of the tables is also seen outside the tasks.

Run: ``PYTHONPATH=scripts python -m demo_model_v1.corpus`` (writes JSONL files to the cache dir).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

from demo_model_v1.common import (
    ANTONYM_TEMPLATES,
    LANG_LABEL,
    LANGS,
    SEED,
    TRANSLATION_TEMPLATE,
    AntonymPair,
    cache_dir,
    load_words,
    split_antonyms,
    translation_triples,
)

N_TRAIN_DOCS = 120_000
N_VAL_DOCS = 3_000
#: Share of documents per kind; running text is split en/fr/zh as 2:1:1.
MIX = {"antonym": 0.34, "translation": 0.36, "text": 0.30}
TEXT_LANG_WEIGHTS = {"en": 0.55, "fr": 0.2, "zh": 0.25}

#: Antonym pairs whose words work as adjectives in "X is Y" sentences (by English word).
ADJECTIVES = frozenset(
    {
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
        "thick",
        "thin",
        "wide",
        "narrow",
        "near",
        "far",
        "easy",
        "difficult",
        "dry",
        "wet",
        "beautiful",
        "ugly",
        "full",
        "empty",
        "sweet",
        "bitter",
        "hard",
        "soft",
        "bright",
        "dark",
        "safe",
        "dangerous",
        "happy",
        "sad",
        "noisy",
        "quiet",
    }
)
COLOURS = ("red", "green", "blue", "yellow")
NUMBERS = ("one", "two", "three", "four", "five", "seven", "eight", "nine", "ten")

TEXT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": (
        "The {n1} is {adj}.",
        "I saw a {n1} and a {n2} near the {n3}.",
        "The {n1} was {adj} but the {n2} was {adj2}.",
        "We walked to the {n1} in the morning and came back at night.",
        "My friend likes the {n1}, but I prefer the {n2}.",
        "She wrote the word {n1} on a piece of paper.",
        "There were {num} {n1} words in the old book.",
        "The {n1} by the {n2} looked {col} in the evening light.",
        "He told us a story about a {n1}, a {n2} and a {n3}.",
        "Everyone knows that the {n1} is {adj} in winter.",
        "Yesterday the {n1} seemed {adj}, and today it seems {adj2}.",
        "Is the {n1} {adj}? No, it is {adj2}.",
    ),
    "fr": (
        "Ici, {n1}, c'est {adj}.",
        "Nous avons parlé de {n1} et de {n2} toute la journée.",
        "Elle a écrit le mot {n1} sur une feuille de papier.",
        "Pour moi, {n1} et {n2}, c'est presque pareil.",
        "Il pense à {n1} quand il regarde {n2}.",
        "Dans ce vieux livre, le mot {n1} revient {num} fois.",
        "Hier, {n1}, c'était {adj} ; aujourd'hui, c'est {adj2}.",
        "On dit que {n1}, c'est toujours {adj} en hiver.",
        "Le matin, nous cherchons {n1}, {n2} et {n3}.",
        "Est-ce que {n1}, c'est {adj} ? Non, c'est {adj2}.",
        "Mon ami aime {n1}, mais je préfère {n2}.",
        "Le mot {n1} est écrit en {col} sur la porte.",
    ),
    "zh": (
        "{n1}很{adj}。",
        "我看见了{n1}和{n2}。",
        "今天我们去{n1}那里，晚上再回来。",
        "他说{n1}是{col}色的。",
        "我的朋友喜欢{n1}，可是我更喜欢{n2}。",
        "她在纸上写了一个{n1}字。",
        "这本书里有{num}个{n1}字。",
        "昨天{n1}很{adj}，今天{n1}很{adj2}。",
        "大家都知道冬天的{n1}很{adj}。",
        "{n1}{adj}吗？不，{n1}很{adj2}。",
        "他讲了一个关于{n1}、{n2}和{n3}的故事。",
        "早上我们找{n1}，下午我们找{n2}。",
    ),
}


def _lexicon(pairs: list[AntonymPair]) -> dict[str, dict[str, list[str]]]:
    """Per language: nouns, adjectives, colours and numbers for the running-text templates."""
    words = load_words()
    by_en = {w["en"]: w for w in words}
    adj = {lang: [] for lang in LANGS}
    for p in pairs:
        for i in (0, 1):
            if p.en[i] in ADJECTIVES:
                for lang in LANGS:
                    adj[lang].append(p.words(lang)[i])
    special = set(COLOURS) | set(NUMBERS) | {"hundred", "thousand"}
    lex: dict[str, dict[str, list[str]]] = {}
    for lang in LANGS:
        lex[lang] = {
            "noun": [w[lang] for w in words if w["en"] not in special],
            "adj": adj[lang],
            "col": [by_en[c][lang] for c in COLOURS],
            "num": [by_en[n][lang] for n in NUMBERS],
        }
    return lex


def _running_text(rng: random.Random, lang: str, lex: dict[str, dict[str, list[str]]]) -> str:
    sentences = []
    for _ in range(rng.randint(2, 6)):
        template = rng.choice(TEXT_TEMPLATES[lang])
        n1, n2, n3 = rng.sample(lex[lang]["noun"], 3)
        a1, a2 = rng.sample(lex[lang]["adj"], 2)
        sentences.append(
            template.format(
                n1=n1,
                n2=n2,
                n3=n3,
                adj=a1,
                adj2=a2,
                col=rng.choice(lex[lang]["col"]),
                num=rng.choice(lex[lang]["num"]),
            )
        )
    return ("" if lang == "zh" else " ").join(sentences)


def _antonym_line(rng: random.Random, lang: str, pair: AntonymPair) -> str:
    a, b = pair.words(lang)
    if rng.random() < 0.5:
        a, b = b, a
    t = 0 if rng.random() < 0.6 else rng.randint(1, len(ANTONYM_TEMPLATES[lang]) - 1)
    return ANTONYM_TEMPLATES[lang][t].format(a=a, b=b)


def _antonym_doc(rng: random.Random, trained: list[AntonymPair], held: list[AntonymPair]) -> tuple[str, str]:
    lang = rng.choice(LANGS)
    pool = trained + held if lang == "en" else trained
    n = rng.choice((1, 1, 1, 2, 3, 4, 5, 6))
    return lang, "\n".join(_antonym_line(rng, lang, rng.choice(pool)) for _ in range(n))


def _translation_line(rng: random.Random, src: str, tgt: str, triple: dict[str, str]) -> str:
    return TRANSLATION_TEMPLATE.format(
        src_label=LANG_LABEL[src], src=triple[src], tgt_label=LANG_LABEL[tgt], tgt=triple[tgt]
    )


def _translation_doc(rng: random.Random, triples: list[dict[str, str]]) -> tuple[str, str]:
    if rng.random() < 0.15:
        src = tgt = rng.choice(LANGS)
    else:
        src, tgt = rng.sample(LANGS, 2)
    first = f"{src}->{tgt}"
    n = rng.choice((1, 1, 2, 3, 4, 5, 6))
    lines = []
    for _ in range(n):
        if rng.random() < 0.2:  # occasionally mix directions inside a block
            src, tgt = rng.sample(LANGS, 2)
        lines.append(_translation_line(rng, src, tgt, rng.choice(triples)))
    return first, "\n".join(lines)


def generate(n_docs: int, seed: int) -> list[dict[str, str]]:
    """Sample `n_docs` documents as dicts with `kind`, `lang` and `text`."""
    rng = random.Random(seed)
    trained, held = split_antonyms()
    lex = _lexicon(trained + held)
    triples = translation_triples()
    kinds, weights = zip(*MIX.items(), strict=True)
    langs, lang_w = zip(*TEXT_LANG_WEIGHTS.items(), strict=True)
    docs = []
    for _ in range(n_docs):
        kind = rng.choices(kinds, weights)[0]
        if kind == "antonym":
            lang, text = _antonym_doc(rng, trained, held)
        elif kind == "translation":
            lang, text = _translation_doc(rng, triples)
        else:
            lang = rng.choices(langs, lang_w)[0]
            text = _running_text(rng, lang, lex)
        docs.append({"kind": kind, "lang": lang, "text": text})
    return docs


def write_jsonl(docs: list[dict[str, str]], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def main() -> None:
    out = cache_dir()
    train = generate(N_TRAIN_DOCS, SEED)
    val = generate(N_VAL_DOCS, SEED + 1)
    write_jsonl(train, out / "corpus_train.jsonl")
    write_jsonl(val, out / "corpus_val.jsonl")
    chars = Counter()
    for d in train:
        chars[(d["kind"], d["lang"] if d["kind"] == "text" else "-")] += len(d["text"])
    stats = {f"{k}/{lang}": v for (k, lang), v in sorted(chars.items())}
    (out / "corpus_stats.json").write_text(json.dumps({"chars": stats, "n_train": len(train)}, indent=1))
    print(f"wrote {len(train)} train / {len(val)} val documents to {out}")
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
