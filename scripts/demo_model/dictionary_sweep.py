"""Settings for the late-layer transcoders, scored where the graphs need them: FVU at answer positions.

The first shipped transcoders (width 1024, mean L0 24, the annealing mix only) reconstructed the MLP
output of layers 4-5 poorly at antonym answer positions (FVU 0.46-0.91 on held-out wordings), where the
antonym lookup happens; train_dictionaries.py now uses this sweep's winner. This trains one transcoder per
setting and layer with train_dictionaries.py's own trainer and scores it on the held-out positions of the mix and, per language, on the answer positions of the
held-out antonym wordings (evaluate.py's positions). Settings: width, target L0, and oversampling the answer
positions of the *trained* wordings to a share of the training rows (held-out wordings stay unseen).

Run: python scripts/demo_model/dictionary_sweep.py [--layers 4 5] [--configs base l0_48 ...]
Writes <cache>/dictionary_sweep.json, which card.py shows in the model card.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import train_dictionaries as trainer
from common import ANT_HELDOUT, ANT_TRAIN, LANGS, SEED, cache_dir, out_dir
from load import load_transformer
from train_model import ANNEAL_REPEAT, build_rows, parse_repeat

# name: (width, target mean L0, share of training rows that are trained-wording answer positions)
CONFIGS = {
    "base": (1024, 24.0, 0.0),
    "wide2048": (2048, 24.0, 0.0),
    "l0_48": (1024, 48.0, 0.0),
    "answers25": (1024, 24.0, 0.25),
    "wide_l0_48_answers25": (2048, 48.0, 0.25),
    "l0_48_answers25": (1024, 48.0, 0.25),
    "l0_96_answers25": (1024, 96.0, 0.25),
    "l0_48_answers50": (1024, 48.0, 0.5),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--layers", type=int, nargs="+", default=[4, 5])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--steps", type=int, default=1200)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    model = load_transformer(out_dir())
    hooks = [
        h for layer in args.layers for h in (f"blocks.{layer}.ln2.hook_normalized", f"blocks.{layer}.hook_mlp_out")
    ]
    # the rows train_dictionaries.py trains on (same seeds), and its 5% held-out positions
    rows = build_rows(model.tokenizer, model.cfg.n_ctx, SEED + 99, parse_repeat(ANNEAL_REPEAT))
    g = torch.Generator().manual_seed(SEED + 7)
    tokens = rows[torch.randperm(rows.shape[0], generator=g)[: trainer.N_ROWS]]
    with torch.no_grad():
        mix = trainer.collect(model, tokens, hooks)
    held_answers = trainer.answer_activations(model, ANT_HELDOUT, hooks)
    trained_answers = trainer.answer_activations(model, ANT_TRAIN, hooks)
    results = []
    for layer in args.layers:
        hin, hout = f"blocks.{layer}.ln2.hook_normalized", f"blocks.{layer}.hook_mlp_out"
        held = torch.arange(mix[hin].shape[0]) % 20 == 0
        x, y = mix[hin][~held], mix[hout][~held]
        ax = torch.cat([trained_answers[lang][hin] for lang in LANGS])
        ay = torch.cat([trained_answers[lang][hout] for lang in LANGS])
        for name in args.configs:
            width, l0, share = CONFIGS[name]
            trainer.WIDTH, trainer.TC_TARGET_L0 = width, l0
            x_train, y_train = trainer.with_answers(x, ax, share), trainer.with_answers(y, ay, share)
            t0 = time.time()
            tc = trainer.train_transcoder(x_train, y_train, trainer.metadata(hin, hout), args.steps, 2048, 2e-3)
            with torch.no_grad():
                result = {
                    "layer": layer,
                    "config": name,
                    "width": width,
                    "target_l0": l0,
                    "answer_share": share,
                    "seconds": round(time.time() - t0),
                    "fvu_mix_heldout": trainer.fvu(tc(mix[hin][held]), mix[hout][held]),
                    "l0": float((tc.encode(mix[hin][held]) > 0).sum(-1).float().mean()),
                    "fvu_answer": {
                        lang: trainer.fvu(tc(held_answers[lang][hin]), held_answers[lang][hout]) for lang in LANGS
                    },
                }
            print(json.dumps(result), flush=True)
            results.append(result)
    path = cache_dir() / "dictionary_sweep.json"
    previous = json.loads(path.read_text()) if path.is_file() else []
    done = {(r["layer"], r["config"]) for r in results}
    keep = [r for r in previous if (r["layer"], r["config"]) not in done]
    path.write_text(json.dumps(keep + results, indent=1))


if __name__ == "__main__":
    main()
