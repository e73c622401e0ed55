"""Controls for `babelgraph overlap`: texts that should show nothing, and texts without copied tokens.

placebo: the same texts with the translations' lines put out of order. Every "parallel" pair is then unrelated,
  like the baseline's, so a sound overlap measure finds no difference (about 1 interval in 40 above 0 by
  chance). The first language keeps its order; the second moves along a seeded single cycle P of the lines
  (Sattolo), the third along P twice, and so on, so no line meets its own translation in any pair.
latin-split: two subsets of the lines, by whether the `--script-lang` text (default zh) contains a Latin letter or
  a digit. Software messages keep names, options and format codes untranslated, so a Chinese line and its
  English translation can share tokens, and features, without sharing meaning. Overlap on the `no-latin`
  subset is free of that.

Run: python examples/overlap_controls.py placebo src/babelgraph/demo/heldout/udhr_paragraphs placebo/
     python examples/overlap_controls.py latin-split src/babelgraph/data/reference split/   (split/{no-latin,latin}/)
     babelgraph overlap --texts-dir placebo/ --measure idf --out placebo-overlap/
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from babelgraph.languages.overlap import derangement

_LATIN_OR_DIGIT = re.compile(r"[A-Za-z0-9]")


def read(texts_dir: Path, languages: list[str]) -> dict[str, list[str]]:
    texts = {lang: (texts_dir / f"{lang}.txt").read_text(encoding="utf-8").splitlines() for lang in languages}
    if len({len(lines) for lines in texts.values()}) != 1:
        raise SystemExit("overlap_controls: every language needs the same number of lines")
    return texts


def write(out_dir: Path, texts: dict[str, list[str]]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for lang, lines in texts.items():
        (out_dir / f"{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(next(iter(texts.values())))} lines per language in {out_dir}")


def placebo(texts: dict[str, list[str]], seed: int) -> dict[str, list[str]]:
    n = len(next(iter(texts.values())))
    if n <= len(texts):
        raise SystemExit("overlap_controls: the placebo needs more lines than languages")
    cycle = derangement(n, seed)  # Sattolo: one cycle through all n lines, so its powers below n fix no line
    order, out = list(range(n)), {}
    for lang, lines in texts.items():
        out[lang] = [lines[i] for i in order]
        order = [cycle[i] for i in order]
    return out


def latin_split(texts: dict[str, list[str]], script_lang: str) -> dict[str, dict[str, list[str]]]:
    has_latin = [bool(_LATIN_OR_DIGIT.search(line)) for line in texts[script_lang]]
    return {
        name: {
            lang: [line for line, latin in zip(lines, has_latin) if latin == wanted] for lang, lines in texts.items()
        }
        for name, wanted in (("no-latin", False), ("latin", True))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("control", choices=["placebo", "latin-split"])
    parser.add_argument("texts_dir", type=Path, help="folder with {lang}.txt, one aligned text per line")
    parser.add_argument("out_dir", type=Path, help="where the control's {lang}.txt files go")
    parser.add_argument("--languages", default="en,fr,zh")
    parser.add_argument("--seed", type=int, default=1, help="placebo: seed of the cycle (overlap's baseline uses 0)")
    parser.add_argument("--script-lang", default="zh", help="latin-split: the language whose lines are checked")
    args = parser.parse_args()
    texts = read(args.texts_dir, args.languages.split(","))
    if args.control == "placebo":
        write(args.out_dir, placebo(texts, args.seed))
    else:
        for name, subset in latin_split(texts, args.script_lang).items():
            write(args.out_dir / name, subset)


if __name__ == "__main__":
    main()
