"""Build the bundled demo model end to end: data -> tokenizer -> transformer -> dictionaries -> eval -> card -> check.

Each step is its own script (runnable alone, in this order) and runs here as a subprocess, one at a time;
the wall time of every step is recorded in <cache>/build_times.json and shown in MODEL_CARD.md.

Run: python scripts/demo_model/build.py [--threads 2] [--from STEP] [--only STEP]
Environment: BABELGRAPH_DEMO_CACHE (default ~/.cache/babelgraph/demo-build-v2),
             BABELGRAPH_DEMO_OUT (default /work/staging/demo).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cache_dir  # noqa: E402

STEPS = ["data", "tokenizer", "train_model", "train_dictionaries", "evaluate", "card", "check"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2, help="torch threads for training")
    ap.add_argument("--device", default="cpu", help="training device (cuda only to search or to go faster)")
    ap.add_argument("--from", dest="start", choices=STEPS, default="data")
    ap.add_argument("--only", choices=STEPS)
    ap.add_argument("--fresh", action="store_true", help="retrain the transformer from scratch")
    args = ap.parse_args()
    extra = {
        "train_model": ["--threads", str(args.threads), "--device", args.device] + (["--fresh"] if args.fresh else []),
        "train_dictionaries": ["--threads", str(args.threads)],
    }
    steps = [args.only] if args.only else STEPS[STEPS.index(args.start) :]
    times_path = cache_dir() / "build_times.json"
    times = json.loads(times_path.read_text()) if times_path.exists() else {}
    for step in steps:
        t0 = time.time()
        print(f"== {step}", flush=True)
        subprocess.run([sys.executable, str(HERE / f"{step}.py"), *extra.get(step, [])], check=True, cwd=HERE)
        times[step] = round(time.time() - t0, 1)
        times_path.write_text(json.dumps(times, indent=1))
        print(f"== {step} took {times[step] / 60:.1f} min", flush=True)
    if "card" not in steps and "check" not in steps:
        subprocess.run([sys.executable, str(HERE / "card.py")], check=True, cwd=HERE)
    print(json.dumps(times, indent=1))


if __name__ == "__main__":
    main()
