"""Experiment: what does the model answer on each held-out antonym wording? (top-1 next token, by kind)

The evaluation scores the first answer token; this says what the model gives instead, per wording, so a wording
that fails can be told apart from a pair that fails: the answer, the answer in another language, another word of the
tables in the wording's language (the cue word included), a word of another language's table, another Chinese
character on an English or French wording, or something else (the commonest listed). Every pair in both directions,
taught and transfer together, with the evaluation's prompts (quick_eval's `prompt_and_answer`). `--previous FOLDER`
scores an earlier build the same way, for the card's comparison.

Run: python scripts/demo_model/wording_probe.py [--previous /path/to/previous/build] [--other NAME=FOLDER ...]
Writes <cache>/wording_probe.json, which card.py shows in the model card.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

import torch
from common import ANT_HELDOUT, LANGS, antonym_plan, cache_dir, out_dir, weights_sha256
from quick_eval import prompt_and_answer

CJK = re.compile(r"[\u4e00-\u9fff]")
KINDS = (
    "right",
    "the answer in another language",
    "another table word",
    "a table word of another language",
    "another Chinese character",
    "other",
)


def word_of(words: set[str], text: str) -> bool:
    """Whether a token is the first token of one of `words`: the whole English or French word (the tokenizer keeps
    table words whole), or the first character of a Chinese one."""
    piece = text.strip()
    if not piece:
        return False
    return piece in words or (bool(CJK.fullmatch(piece)) and any(w.startswith(piece) for w in words))


def probe(folder: Path) -> dict[str, dict]:
    """Share of each kind of top-1 answer per held-out wording, for the build in `folder`."""
    from babelgraph.demo import load_demo_transformer

    model = load_demo_transformer("cpu", folder=folder)
    tok = model.tokenizer
    plan = antonym_plan()
    table = {lang: {w for p in plan for w in p["pair"][lang]} for lang in LANGS}
    result = {}
    for lang in LANGS:
        for wording in ANT_HELDOUT[lang]:
            kinds: Counter[str] = Counter()
            others: Counter[str] = Counter()
            for p in plan:
                for side in (1, 0):  # the answer is the pair's second word, then its first
                    a, b = p["pair"][lang][1 - side], p["pair"][lang][side]
                    translations = [p["pair"][other][side] for other in LANGS if other != lang]
                    found = prompt_and_answer(tok, wording, a=a, b=b)
                    if found is None:
                        continue
                    ids, answer = found
                    with torch.no_grad():
                        top = int(model(torch.tensor([ids]))[0, -1].argmax())
                    text = tok.decode([top])
                    if top == answer:
                        kinds["right"] += 1
                    elif any(word_of({t}, text) for t in translations):
                        kinds["the answer in another language"] += 1
                    elif word_of(table[lang], text):
                        kinds["another table word"] += 1
                    elif any(word_of(table[other], text) for other in LANGS if other != lang):
                        kinds["a table word of another language"] += 1
                    elif lang != "zh" and CJK.search(text):
                        kinds["another Chinese character"] += 1
                    else:
                        kinds["other"] += 1
                        others[text] += 1
            n = sum(kinds.values())
            if not n:
                continue
            result[f"{lang}|{wording}"] = {
                "prompts": n,
                **{k: kinds[k] / n for k in KINDS},
                "commonest other": [t for t, _ in others.most_common(3)],
            }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--previous", type=Path, help="an earlier build's output folder, scored the same way")
    ap.add_argument(
        "--other",
        action="append",
        default=[],
        metavar="NAME=FOLDER",
        help="another run's folder (weights, config and tokenizer), scored the same way under NAME; repeatable",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = {"this model": probe(out_dir()), "weights sha256": weights_sha256(out_dir())}
    if args.previous:
        out["previous model"] = probe(args.previous)
    for item in args.other:
        name, _, folder = item.partition("=")
        if not folder:
            ap.error(f"--other takes NAME=FOLDER, got {item!r}")
        out[name] = probe(Path(folder))
    path = cache_dir() / "wording_probe.json"
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
