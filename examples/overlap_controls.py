"""Controls for `babelgraph overlap`: texts that should show nothing, and texts without copied tokens.

placebo: the same texts with the translations' lines put out of order. Every "parallel" pair is then unrelated,
  like the baseline's, so a sound overlap measure finds no difference (about 1 interval in 40 above 0 by
  chance). The first language keeps its order; the second moves along a seeded single cycle P of the lines
  (Sattolo), the third along P twice, and so on, so no line meets its own translation in any pair. The cycle's
  seed is the first from `--seed` whose placebo also keeps every translation out of overlap's baselines (both
  kinds, with overlap's `--seed 0`), which needs the lines' token counts: the model's tokenizer is loaded.
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
import itertools
import re
from pathlib import Path

import babelgraph as bg
from babelgraph.languages.overlap import derangement, length_matched_partners
from babelgraph.languages.reference import encode_line

_LATIN_OR_DIGIT = re.compile(r"[A-Za-z0-9]")


def read_aligned(texts_dir: Path, languages: list[str]) -> dict[str, list[str]]:
    """``{lang: lines}`` from ``texts_dir/{lang}.txt``; every language must have as many lines."""
    texts = {lang: (texts_dir / f"{lang}.txt").read_text(encoding="utf-8").splitlines() for lang in languages}
    if len({len(lines) for lines in texts.values()}) != 1:
        raise SystemExit("overlap_controls: every language needs the same number of lines")
    return texts


def write_aligned(out_dir: Path, texts: dict[str, list[str]]) -> None:
    """The inverse of ``read_aligned``, with a line saying where the texts went."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for lang, lines in texts.items():
        (out_dir / f"{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(next(iter(texts.values())))} lines per language in {out_dir}")


def placebo(
    texts: dict[str, list[str]], seed: int, lengths: dict[str, list[int | None]] | None = None, baseline_seed: int = 0
) -> dict[str, list[str]]:
    """The texts with language ``k`` moved ``k`` steps along one seeded cycle of the lines, so no line meets its
    translation. With ``lengths`` (per language, per line), the first seed from ``seed`` whose placebo also
    keeps translations out of overlap's baselines: else a baseline partner could be a real translation."""
    n = len(next(iter(texts.values())))
    if n <= len(texts):
        raise SystemExit("overlap_controls: the placebo needs more lines than languages")
    for attempt in itertools.count(seed):
        cycle = derangement(n, attempt)  # Sattolo: one cycle through all n lines; its powers below n fix no line
        origins, order = {}, list(range(n))
        for lang in texts:
            origins[lang] = order
            order = [cycle[i] for i in order]
        if lengths is None or _baselines_unrelated(origins, lengths, baseline_seed):
            return {lang: [lines[i] for i in origins[lang]] for lang, lines in texts.items()}
        if attempt - seed > 10_000:
            raise SystemExit("overlap_controls: no placebo keeps translations out of the baselines")
    raise AssertionError("unreachable")


def _baselines_unrelated(
    origins: dict[str, list[int]], lengths: dict[str, list[int | None]], baseline_seed: int
) -> bool:
    """No baseline pair of overlap (length-matched or shuffled) joins a line with its own translation."""
    languages = list(origins)
    n = len(origins[languages[0]])
    for x, a in enumerate(languages):
        for b in languages[x + 1 :]:
            placed = [lengths[b][i] for i in origins[b]]
            for pairing in (length_matched_partners(placed, baseline_seed), derangement(n, baseline_seed)):
                if any(origins[a][i] == origins[b][j] for i, j in enumerate(pairing)):
                    return False
    return True


def latin_split(texts: dict[str, list[str]], script_lang: str) -> dict[str, dict[str, list[str]]]:
    """``{"no-latin": texts, "latin": texts}``: the lines split by whether ``script_lang``'s holds [A-Za-z0-9]."""
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
    parser.add_argument("--model", default="demo", help="placebo: the model whose tokenizer counts the tokens")
    args = parser.parse_args()
    texts = read_aligned(args.texts_dir, args.languages.split(","))
    if args.control == "placebo":
        model = bg.load_model(args.model)
        lengths = {
            lang: [None if (e := encode_line(model, line)) is None else len(e[0]) - e[1] for line in lines]
            for lang, lines in texts.items()
        }
        write_aligned(args.out_dir, placebo(texts, args.seed, lengths))
    else:
        for name, subset in latin_split(texts, args.script_lang).items():
            write_aligned(args.out_dir / name, subset)


if __name__ == "__main__":
    main()
