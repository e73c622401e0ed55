"""Table of the runs in a gemma_scale.sh results file (JSON lines); stdlib only.

    python3 benchmarks/gpu/summarize.py OUT/results.jsonl > OUT/summary.txt

Per prompt length: babelgraph and circuit-tracer seconds and allocator peak (MB, model weights included) at each
batch size, circuit-tracer's best batch, and the ratio babelgraph default / circuit-tracer best. Lines the script
itself wrote (steps skipped, timed out or failed) are listed after the table.
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> None:
    rows, notes, machine = [], [], {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                notes.append(f"unreadable line: {line[:120]}")
                continue
            step = r.get("step", "?")
            if "event" in r:
                if r["event"] == "machine":
                    machine = r
                else:
                    notes.append(" ".join(f"{k}={v}" for k, v in r.items()))
                continue
            tool = "circuit-tracer" if step.startswith("ct") else "babelgraph"
            tokens = r.get("tokens", r.get("n_tokens"))
            if tokens is None:  # a runner's closing line, not a run
                continue
            batch = r.get("batch_size")
            rows.append(
                {
                    "step": step,
                    "tool": tool,
                    "tokens": tokens,
                    "batch": "default" if batch is None else batch,
                    "seconds": r.get("seconds"),
                    "peak_gpu_mb": r.get("peak_gpu_mb"),
                    "before_mb": r.get("gpu_allocated_before_mb"),
                    "features": r.get("features", r.get("n_selected_features")),
                    "active": r.get("n_active_features"),
                    "error": r.get("error"),
                }
            )
    if machine:
        print("machine:", ", ".join(f"{k}={v}" for k, v in machine.items() if k not in ("step", "event")))
    header = f"{'step':<12} {'tool':<15} {'tokens':>6} {'batch':>7} {'seconds':>9} {'peak MB':>9} {'before MB':>9} "
    print(header + f"{'features':>9}  note")

    def fmt(value, spec):
        return format(value, spec) if isinstance(value, (int, float)) else "-"

    for r in rows:
        print(
            f"{r['step']:<12} {r['tool']:<15} {r['tokens']:>6} {str(r['batch']):>7} {fmt(r['seconds'], '9.2f')} "
            f"{fmt(r['peak_gpu_mb'], '9.0f')} {fmt(r['before_mb'], '9.0f')} {fmt(r['features'], '9')}  "
            + (f"ERROR {r['error']}" if r["error"] else (f"active {r['active']}" if r["active"] else ""))
        )
    print()
    for tokens in sorted({r["tokens"] for r in rows}):
        ours = [r for r in rows if r["tool"] == "babelgraph" and r["tokens"] == tokens and r["seconds"] is not None]
        theirs = [
            r for r in rows if r["tool"] == "circuit-tracer" and r["tokens"] == tokens and r["seconds"] is not None
        ]
        if not ours or not theirs:
            continue
        default = next((r for r in ours if r["batch"] == "default"), ours[0])
        fastest_ours = min(ours, key=lambda r: r["seconds"])
        best = min(theirs, key=lambda r: r["seconds"])
        print(
            f"{tokens} tokens: babelgraph (batch {default['batch']}) {default['seconds']:.2f} s / "
            f"{fmt(default['peak_gpu_mb'], '.0f')} MB, fastest {fastest_ours['seconds']:.2f} s (batch "
            f"{fastest_ours['batch']}); circuit-tracer best batch {best['batch']} {best['seconds']:.2f} s / "
            f"{fmt(best['peak_gpu_mb'], '.0f')} MB; ratio babelgraph/circuit-tracer "
            f"{default['seconds'] / best['seconds']:.2f}"
        )
    if notes:
        print("\nsteps:")
        for note in notes:
            print(" ", note)


if __name__ == "__main__":
    main(sys.argv[1])
