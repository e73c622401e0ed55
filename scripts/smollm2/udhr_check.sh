#!/usr/bin/env bash
# The demo model's UDHR overlap check (docs/method.md) run on SmolLM2-135M-Instruct with its three residual SAEs:
# can the check come out positive at all on a model this project runs? Plain and IDF-weighted IoU against the
# length-matched baseline, a placebo (translations out of order), and translation retrieval from the residual
# stream at every layer. Writes docs/smollm2_overlap_udhr.png and docs/experiments/smollm2_udhr_<date>.json.
# Needs `babelgraph fetch smollm2` once. Run from anywhere: bash scripts/smollm2/udhr_check.sh [WORK_FOLDER]
# (about 3 minutes on an idle 2-core machine; several times that when the CPU is shared)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(realpath -m "${1:-$repo/smollm2-udhr-work}")  # a folder given is read from where the script was called
if [ -n "$(ls -A "$work" 2>/dev/null)" ] && [ ! -e "$work/.udhr_check" ]; then
    echo "udhr_check.sh: $work is not empty and not a folder this script made; give a new or empty folder" >&2
    exit 2
fi
rm -rf "$work" && mkdir -p "$work" && touch "$work/.udhr_check"
cd "$repo"
texts=src/babelgraph/demo/heldout/udhr_paragraphs
run() { echo "+ $*" >&2; "$@"; }
run babelgraph overlap --model smollm2 --texts-dir "$texts" --out "$work/iou" --quiet
run babelgraph overlap --model smollm2 --measure idf --texts-dir "$texts" --out "$work/idf" --quiet
run python examples/overlap_controls.py placebo "$texts" "$work/placebo-texts" --model smollm2
run babelgraph overlap --model smollm2 --texts-dir "$work/placebo-texts" --out "$work/placebo" --quiet
run python examples/residual_retrieval.py "$texts" --model smollm2 --json "$work/retrieval.json"
cp "$work/iou/overlap-en-fr-zh.png" docs/smollm2_overlap_udhr.png
python - "$work" <<'PY'
import datetime, json, sys
from pathlib import Path

work = Path(sys.argv[1])
found = {name: json.loads(next((work / name).glob("*.json")).read_text()) for name in ("iou", "idf", "placebo")}
retrieval = json.loads((work / "retrieval.json").read_text())["pairs"]
out = Path(f"docs/experiments/smollm2_udhr_{datetime.date.today()}.json")
out.write_text(json.dumps({"model": "smollm2", "texts": "udhr_paragraphs", **found, "retrieval": retrieval}, indent=1))
print(out)
PY
