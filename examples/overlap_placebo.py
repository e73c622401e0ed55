"""A placebo for `babelgraph overlap`: the same texts with the translations' lines put out of order.

In the placebo every "parallel" pair is unrelated, like the baseline's, so an overlap measure that is sound
must find no difference (about 1 interval in 40 above 0 by chance). Run it beside the real check on the same
texts. The first language keeps its order; the second is moved along a seeded single cycle P of the lines
(Sattolo), the third along P twice, and so on, so no line meets its own translation in any pair (needs more
lines than languages).

Run: python examples/overlap_placebo.py src/babelgraph/demo/heldout/udhr_paragraphs placebo/ [--languages en,fr,zh]
     babelgraph overlap --texts-dir placebo/ --measure idf --out placebo-overlap/
"""

from __future__ import annotations

import argparse
from pathlib import Path

from babelgraph.languages.overlap import derangement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts_dir", type=Path, help="folder with {lang}.txt, one aligned text per line")
    parser.add_argument("out_dir", type=Path, help="where the placebo {lang}.txt files go")
    parser.add_argument("--languages", default="en,fr,zh")
    parser.add_argument("--seed", type=int, default=1, help="seed of the cycle (default 1; overlap's baseline uses 0)")
    args = parser.parse_args()
    languages = args.languages.split(",")
    texts = {lang: (args.texts_dir / f"{lang}.txt").read_text(encoding="utf-8").splitlines() for lang in languages}
    n = len(texts[languages[0]])
    if any(len(lines) != n for lines in texts.values()) or n <= len(languages):
        raise SystemExit("placebo: every language needs the same number of lines, more than the number of languages")
    cycle = derangement(n, args.seed)  # Sattolo: one cycle through all n lines, so its powers below n fix no line
    order = list(range(n))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for lang in languages:
        (args.out_dir / f"{lang}.txt").write_text("\n".join(texts[lang][i] for i in order) + "\n", encoding="utf-8")
        order = [cycle[i] for i in order]
    print(f"placebo texts ({n} lines, {', '.join(languages)}) in {args.out_dir}")


if __name__ == "__main__":
    main()
