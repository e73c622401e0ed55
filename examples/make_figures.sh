#!/usr/bin/env bash
# Regenerate the demo-model figures and numbers the README and docs/ quote: logit lens (fr -> zh), feature
# overlap on the shipped reference text and on the held-out UDHR (articles, paragraphs; plain and IDF-weighted,
# with a placebo and the reference lines split by copied Latin tokens), translation retrieval from the residual
# stream, the comparison page of `small`, and the 56-concept batch with its mismatched-concept baselines
# (docs/layers_demo.png).
# Run from anywhere: bash examples/make_figures.sh [WORK_FOLDER]   (about 15-20 minutes on 2 cores)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(realpath -m "${1:-$repo/figures-work}")  # absolute, read from where the script was called
if [ -n "$(ls -A "$work" 2>/dev/null)" ] && [ ! -e "$work/.make_figures" ]; then
    echo "make_figures.sh: $work is not empty and not a folder this script made; give a new or empty folder" >&2
    exit 2
fi
rm -rf "$work" && mkdir -p "$work" && touch "$work/.make_figures"
cd "$repo"
run() { echo "+ $*" >&2; "$@"; }
run babelgraph lens --task translation --from fr --to zh --seed 0 --out "$work/lens" --quiet
cp "$work/lens/lens-translation-fr-zh.png" docs/lens_fr_zh.png
run babelgraph overlap --out "$work/overlap-reference" | tee "$work/overlap-reference.txt"
cp "$work/overlap-reference/overlap-en-fr-zh.png" docs/overlap_demo.png
run babelgraph overlap --texts-dir src/babelgraph/demo/heldout/udhr_articles --out "$work/overlap-udhr" \
    | tee "$work/overlap-udhr.txt"
cp "$work/overlap-udhr/overlap-en-fr-zh.png" docs/overlap_udhr.png
run babelgraph overlap --texts-dir src/babelgraph/demo/heldout/udhr_paragraphs --out "$work/overlap-udhr-paragraphs" \
    | tee "$work/overlap-udhr-paragraphs.txt"
# the IDF-weighted measure (docs/method.md: its check on the UDHR was fixed before it was run, with the random
# baseline the tool then had), then with the length-matched default, with a placebo
for texts in udhr_paragraphs udhr_articles; do
    run babelgraph overlap --measure idf --baseline shuffled --texts-dir "src/babelgraph/demo/heldout/$texts" \
        --out "$work/overlap-idf-shuffled-$texts" | tee "$work/overlap-idf-shuffled-$texts.txt"
done
for texts in udhr_paragraphs udhr_articles; do
    run babelgraph overlap --measure idf --texts-dir "src/babelgraph/demo/heldout/$texts" --out "$work/overlap-idf-$texts" \
        | tee "$work/overlap-idf-$texts.txt"
done
run python examples/overlap_controls.py placebo src/babelgraph/demo/heldout/udhr_paragraphs "$work/placebo-udhr_paragraphs"
run babelgraph overlap --measure idf --texts-dir "$work/placebo-udhr_paragraphs" --out "$work/overlap-idf-placebo" \
    | tee "$work/overlap-idf-placebo.txt"
run babelgraph overlap --measure idf --out "$work/overlap-idf-reference" | tee "$work/overlap-idf-reference.txt"
run babelgraph overlap --baseline shuffled --out "$work/overlap-shuffled-reference" | tee "$work/overlap-shuffled-reference.txt"
# the reference lines whose Chinese has no Latin letter or digit (no copied names, options or format codes)
run python examples/overlap_controls.py latin-split src/babelgraph/data/reference "$work/reference-split"
for subset in no-latin latin; do
    for measure in iou idf; do
        run babelgraph overlap --measure $measure --texts-dir "$work/reference-split/$subset" \
            --out "$work/overlap-$measure-reference-$subset" | tee "$work/overlap-$measure-reference-$subset.txt"
    done
done
# the same question without dictionaries: is a text's translation its nearest neighbour in the residual stream?
run python examples/residual_retrieval.py src/babelgraph/demo/heldout/udhr_paragraphs | tee "$work/retrieval-udhr.txt"
run python examples/residual_retrieval.py "$work/reference-split/no-latin" | tee "$work/retrieval-reference-no-latin.txt"
run babelgraph compare --concept small --out "$work/compare" --format html --quiet
chromium --headless --no-sandbox --hide-scrollbars --window-size=1600,1400 \
    --screenshot="$PWD/docs/compare_small.png" "file://$work/compare/small/page.html" 2>/dev/null
cut -f1 src/babelgraph/data/antonyms.tsv | tail -n +2 | sed 's/.*/{"concept": "&"}/' >"$work/concepts.jsonl"
run babelgraph compare --file "$work/concepts.jsonl" --out "$work/concepts" --no-overlap --format json --quiet
cp "$work/concepts/layers.png" docs/layers_demo.png
echo "numbers: $work/overlap-*.txt, $work/concepts/layers.csv, $work/compare/small/features.json" >&2
