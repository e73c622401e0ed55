"""Can a text's translation be picked out from the model's residual stream? A dictionary-free check for `overlap`
(the method: `babelgraph.languages.retrieval`).

Prints top-1 retrieval by layer per language pair, beside chance and a length-only retriever.

Run: python examples/residual_retrieval.py src/babelgraph/demo/heldout/udhr_paragraphs [--languages en,fr,zh] [--json F]
     python examples/residual_retrieval.py reference      (the shipped reference lines)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import babelgraph as bg
from babelgraph.languages.reference import reference_texts
from babelgraph.languages.retrieval import translation_retrieval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts", help="folder with {lang}.txt (one aligned text per line), or 'reference'")
    parser.add_argument("--languages", default="en,fr,zh")
    parser.add_argument("--model", default="demo")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args()
    languages = args.languages.split(",")
    if args.texts == "reference":
        texts = reference_texts(languages)
    else:
        texts = {
            lang: (Path(args.texts) / f"{lang}.txt").read_text(encoding="utf-8").splitlines() for lang in languages
        }
    result = translation_retrieval(bg.load_model(args.model), texts)
    print(result.format_table())
    if args.json:
        args.json.write_text(json.dumps(result.to_json(), indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
