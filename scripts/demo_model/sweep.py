"""Search training recipes on an accelerator: several train_model.py runs side by side, scored as they go.

The accelerator only searches: every recipe is a set of train_model.py flags that also runs on 2 CPU
cores (the build's budget is the number of steps those cores do in the time allowed). Each run writes
its quick_eval scores to its log every `--eval-every` steps; when the deadline comes, runs still going
are stopped and scored from their last evaluation. Writes summary.json (scores by run and step) and
copies each run's last exported weights to the output folder.

Run: python scripts/demo_model/sweep.py --out OUT [--minutes 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OLD_ANNEAL = "antonym=3,translation=3,codeswitch=2,interleaved=2"
HEAVY = "antonym=3,translation=3,codeswitch=2,interleaved=2"
HEAVY_ANNEAL = "antonym=6,translation=6,codeswitch=3,interleaved=3"
# Every flag written out: these are the runs of 2026-11-26 on an H100 (the card reports them). They used the
# tokenizer without whole table words and no alignment (LEGACY, appended below; train_model's defaults now align).
RUNS = {
    "base_3600": ["--steps", "3600", "--repeat", "", "--anneal-repeat", OLD_ANNEAL, "--lr", "3e-3"],
    "heavy_3600": ["--steps", "3600", "--repeat", HEAVY, "--anneal-repeat", HEAVY_ANNEAL, "--lr", "3e-3"],
    "heavy_3600_lr6": ["--steps", "3600", "--repeat", HEAVY, "--anneal-repeat", HEAVY_ANNEAL, "--lr", "6e-3"],
    "heavy_3600_anneal6": [
        "--steps",
        "3600",
        "--repeat",
        HEAVY,
        "--anneal-repeat",
        HEAVY_ANNEAL,
        "--anneal-frac",
        "0.6",
        "--lr",
        "3e-3",
    ],
    "tasks_3600": [
        "--steps",
        "3600",
        "--repeat",
        "antonym=8,translation=6,codeswitch=3,interleaved=2",
        "--anneal-repeat",
        "antonym=12,translation=8,codeswitch=4,interleaved=3",
        "--lr",
        "3e-3",
    ],
    "base_12000": ["--steps", "12000", "--repeat", "", "--anneal-repeat", OLD_ANNEAL, "--lr", "3e-3"],
    # Is the missing cross-lingual transfer a matter of capacity or of the data mix? (not CPU-affordable)
    "wide_12000": [
        "--steps",
        "12000",
        "--d-model",
        "384",
        "--n-layers",
        "8",
        "--lr",
        "3e-3",
        "--repeat",
        "",
        "--anneal-repeat",
        OLD_ANNEAL,
    ],
    "translate_12000": [
        "--steps",
        "12000",
        "--repeat",
        "translation=8,codeswitch=6,interleaved=3,antonym=3",
        "--lr",
        "3e-3",
        "--anneal-repeat",
        OLD_ANNEAL,
    ],
    "wide_translate_12000": [
        "--steps",
        "12000",
        "--d-model",
        "384",
        "--n-layers",
        "8",
        "--repeat",
        "translation=8,codeswitch=6,interleaved=3,antonym=3",
        "--lr",
        "3e-3",
        "--anneal-repeat",
        OLD_ANNEAL,
    ],
    "heavy_12000": ["--steps", "12000", "--repeat", HEAVY, "--anneal-repeat", HEAVY_ANNEAL, "--lr", "3e-3"],
}
LEGACY = ["--no-align-init", "--align-weight", "0"]
SHIPPED = list(RUNS["heavy_3600_lr6"])
for flags in RUNS.values():
    flags += LEGACY
# Does tying translation-equivalent table words' embedding rows bring transfer? (the recipe above plus
# --align-init, and a penalty pulling the rows together at several weights; heavy_3600_lr6 is the control.)
# Run with both tokenizers on an H200, 2026-11-26: the one without whole table words is v2's tokenizer.json (git
# history of src/babelgraph/demo/, before the v3 model), which tokenizer.py no longer writes.
RUNS["align_init_3600"] = [*SHIPPED, "--align-init", "--align-weight", "0"]
for weight in ("0.1", "0.3", "1", "2", "3", "10", "100"):
    RUNS[f"align_w{weight}_3600"] = [*SHIPPED, "--align-init", "--align-weight", weight]
# Around the weight that worked (1, with the whole-word tokenizer): another initialisation, a lower peak
# learning rate, more antonym documents while annealing.
ALIGN = [*SHIPPED, "--align-init", "--align-weight", "1"]
RUNS["align_w1_seed2_3600"] = [*ALIGN, "--seed", "2"]
RUNS["align_w1_lr3_3600"] = [*ALIGN, "--lr", "3e-3"]
RUNS["align_w1_ant12_3600"] = [*ALIGN, "--anneal-repeat", "antonym=12,translation=6,codeswitch=3,interleaved=3"]
# Round 3 (2026-11-27, H100): the tie without homographs, and the two sides weighted apart. A strong input-side
# tie makes a cue word's language invisible to the first layer, so a pair memorised in one language might answer
# in the others; the output side needs its rows apart to answer in the wording's language. Some at 3000 steps:
# what 2 CPU cores do inside the build's 2-hour budget. Extra seeds of w1 and w1_3000 ran in round 4's call.
RUNS["r3_homographs_w1"] = [*ALIGN, "--align-homographs"]  # the v3 recipe again, now with the deterministic penalty
RUNS["r3_homographs_w1_seed2"] = [*ALIGN, "--align-homographs", "--seed", "2"]
RUNS["r3_homographs_w1_seed3"] = [*ALIGN, "--align-homographs", "--seed", "3"]
ROUND3 = {
    "w1": ["--align-weight", "1"],
    "w1_seed2": ["--align-weight", "1", "--seed", "2"],
    "w1_seed3": ["--align-weight", "1", "--seed", "3"],
    "w2": ["--align-weight", "2"],
    "in3_out1": ["--align-weight", "3", "--align-weight-out", "1"],
    "in10_out1": ["--align-weight", "10", "--align-weight-out", "1"],
    "in10_out1_seed2": ["--align-weight", "10", "--align-weight-out", "1", "--seed", "2"],
    "in30_out1": ["--align-weight", "30", "--align-weight-out", "1"],
    "in10_out0.3": ["--align-weight", "10", "--align-weight-out", "0.3"],
    "in10_out0": ["--align-weight", "10", "--align-weight-out", "0"],
    "in3_out0.3": ["--align-weight", "3", "--align-weight-out", "0.3"],
    "w1_3000": ["--align-weight", "1", "--steps", "3000"],
    "w1_3000_seed2": ["--align-weight", "1", "--steps", "3000", "--seed", "2"],
    "w1_3000_seed3": ["--align-weight", "1", "--steps", "3000", "--seed", "3"],
    "in10_out1_3000": ["--align-weight", "10", "--align-weight-out", "1", "--steps", "3000"],
    "in3_out1_3000": ["--align-weight", "3", "--align-weight-out", "1", "--steps", "3000"],
}
for name, flags in ROUND3.items():
    RUNS[f"r3_{name}"] = [*SHIPPED, "--align-init", "--no-align-homographs", *flags]
# Round 4 (same day, H200): some round-3 recipes on a corpus built with `data.py --extra-wordings` (six more
# training wordings per language, common.ANT_TRAIN_EXTRA): run them with $BABELGRAPH_DEMO_CACHE and
# $BABELGRAPH_DEMO_OUT pointing at that build's data and tokenizer.
for name in ("w1", "w1_seed2", "w1_seed3", "w1_3000", "w1_3000_seed2", "in10_out0.3", "in3_out0.3"):
    RUNS[f"r4_{name}"] = list(RUNS[f"r3_{name}"])
# Every run above predates the language offset, which train_model.py now applies by default (the v4 recipe).
for flags in RUNS.values():
    flags.append("--no-align-language-offset")

# Round 5 (not yet run on an accelerator): the unembedding penalty measured from the group mean plus one offset per
# language (--align-language-offset). In one continuation of the v3 model (untie_probe.py) English transfer
# was 53% against its control's 20%, and a run from scratch on 2 CPU cores with r5_lang_seed1234's flags is the v4
# model. The controls are the r3_homographs_w1 seeds. Here: seeds, the same without homographs, and 3000 steps
# (the CPU budget).
LANG = [*ALIGN, "--align-homographs", "--align-language-offset"]
for seed in ("1234", "2", "3"):
    RUNS[f"r5_lang_seed{seed}"] = [*LANG, "--seed", seed]
    RUNS[f"r5_lang_nohomographs_seed{seed}"] = [
        *ALIGN,
        "--no-align-homographs",
        "--align-language-offset",
        "--seed",
        seed,
    ]
    RUNS[f"r5_lang_3000_seed{seed}"] = [*LANG, "--steps", "3000", "--seed", seed]
# Round 6 (not yet run on an accelerator): the v4 recipe on a corpus built with `data.py --curly-quotes` (English and
# French task documents typeset in curly quotes as often as their running text) and, as its controls, on the corpus
# the committed data step writes without the option, each with its own tokenizer: run r6_typeset_* with
# $BABELGRAPH_DEMO_CACHE and $BABELGRAPH_DEMO_OUT pointing at the typeset build's data and tokenizer, r6_plain_* at
# the plain build's. In one pair of continuations of the v4 model the typesetting removed the other-language answers
# after English curly quotes, while right answers on that wording stayed low (the card's *Curly quotes in English
# and French task documents*). Each also keeps an EMA of its weights from the start of annealing (`--ema-decay`, scored
# beside them under ema/ keys; the training is unchanged, but the exported weights are the EMA's and the last step's
# go to last_step/): a candidate for steadier held-out scores than the last step's weights.
for seed in ("1234", "2", "3"):
    RUNS[f"r6_typeset_seed{seed}"] = [*LANG, "--seed", seed, "--ema-decay", "0.998"]
    RUNS[f"r6_plain_seed{seed}"] = [*LANG, "--seed", seed, "--ema-decay", "0.998"]
# What train_model.py says it ran, kept beside the flags (a flag's default can change later).
RECORDED = (
    "steps",
    "seed",
    "align_init",
    "align_weight",
    "align_weight_out",
    "align_homographs",
    "align_language_offset",
    "aligned_tokens",
    "corpus_sha256",
    "ema_decay",
    "align_parallel",
    "align_parallel_layers",
    "align_parallel_from",
    "parallel_sha256",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=7.0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--eval-every", type=int, default=600)
    ap.add_argument("--keep", type=int, default=5, help="copy the weights of the best KEEP runs")
    ap.add_argument("--only", nargs="*", help="names of RUNS to run")
    ap.add_argument("--prefix", help="run the RUNS whose names start with this")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads of each run")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "sweep"
    procs = {}
    for name, flags in RUNS.items():
        if (args.only and name not in args.only) or (args.prefix and not name.startswith(args.prefix)):
            continue
        rd = work / name
        rd.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            str(HERE / "train_model.py"),
            "--device",
            args.device,
            "--fresh",
            "--run-dir",
            str(rd),
            "--eval-every",
            str(args.eval_every),
            "--ckpt-minutes",
            "1",
            "--threads",
            str(args.threads),
            *flags,
        ]
        log = open(rd / "log.txt", "w")  # noqa: SIM115 - held by the child until it ends
        procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=HERE), rd)
    deadline = time.time() + args.minutes * 60
    while time.time() < deadline and any(p.poll() is None for p, _ in procs.values()):
        time.sleep(5)
    summary = {}
    for name, (p, rd) in procs.items():
        if p.poll() is None:
            p.terminate()
            p.wait()
        log = (rd / "log.txt").read_text()
        evals = [json.loads(line[5:]) for line in log.splitlines() if line.startswith("eval ")]
        steps = [line for line in log.splitlines() if line.startswith("step ")]
        trained = json.loads((rd / "train_model.json").read_text()) if (rd / "train_model.json").exists() else {}
        summary[name] = {
            "flags": RUNS[name],
            "recipe": {k: trained[k] for k in RECORDED if k in trained},
            "returncode": p.returncode,
            "last_step_line": steps[-1] if steps else "",
            "evals": evals,
            "tail": log.splitlines()[-3:],
        }

    def score(name: str) -> float:
        """Held-out-wording transfer first, taught pairs as a tie-break."""
        e = summary[name]["evals"][-1] if summary[name]["evals"] else {}
        transfer = sum(v for k, v in e.items() if k.startswith("heldout/transfer/"))
        return transfer + 0.1 * sum(v for k, v in e.items() if k.startswith("heldout/taught/"))

    for name in sorted(summary, key=score, reverse=True)[: args.keep]:
        rd = procs[name][1]
        if (rd / "model.safetensors").exists():
            shutil.copy(rd / "model.safetensors", args.out / f"{name}.safetensors")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    for name, s in summary.items():
        e = s["evals"][-1] if s["evals"] else {}
        keys = [k for k in e if k.startswith("heldout/")]
        print(
            name,
            e.get("step"),
            " ".join(f"{k[8:]}={e[k]:.2f}" for k in keys),
            " ".join(f"udhr_{k[-2:]}={e[k]:.2f}" for k in e if k.startswith("udhr")),
        )


if __name__ == "__main__":
    main()
