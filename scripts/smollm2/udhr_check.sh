#!/usr/bin/env bash
# The demo model's UDHR overlap check (docs/method.md) run on SmolLM2-135M-Instruct with its three residual SAEs:
# can the check come out positive at all on a model this project runs? Plain and IDF-weighted IoU against the
# length-matched baseline, a placebo (translations out of order), and translation retrieval from the residual
# stream at every layer. Writes docs/smollm2_overlap_udhr.png and docs/experiments/smollm2_udhr_<date>.json.
# Needs `babelgraph fetch smollm2` once. Run from anywhere: bash scripts/smollm2/udhr_check.sh [WORK_FOLDER]
# (about 3 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-smollm2-udhr-work}
rm -rf "$work" && mkdir -p "$work"
texts=src/babelgraph/demo/heldout/udhr_paragraphs
run() { echo "+ $*" >&2; "$@"; }
run babelgraph overlap --model smollm2 --texts-dir "$texts" --out "$work/iou" --quiet
run babelgraph overlap --model smollm2 --measure idf --texts-dir "$texts" --out "$work/idf" --quiet
run python examples/overlap_controls.py placebo "$texts" "$work/placebo-texts" --model smollm2
run babelgraph overlap --model smollm2 --texts-dir "$work/placebo-texts" --out "$work/placebo" --quiet
run python examples/residual_retrieval.py "$texts" --model smollm2 | tee "$work/retrieval.txt"
cp "$work/iou/overlap-en-fr-zh.png" docs/smollm2_overlap_udhr.png
python - "$work" <<'PY'
import datetime, json, re, sys
from pathlib import Path

work = Path(sys.argv[1])
found = {name: json.loads(next((work / name).glob("*.json")).read_text()) for name in ("iou", "idf", "placebo")}
retrieval = {}
for line in (work / "retrieval.txt").read_text().splitlines():
    if m := re.match(r"(\w+-\w+): length only ([\d.]+); layers ([\d. ]+)$", line):
        retrieval[m[1]] = {"length_only": float(m[2]), "by_layer": [float(x) for x in m[3].split()]}
out = Path(f"docs/experiments/smollm2_udhr_{datetime.date.today()}.json")
out.write_text(json.dumps({"model": "smollm2", "texts": "udhr_paragraphs", **found, "retrieval": retrieval}, indent=1))
print(out)
PY
