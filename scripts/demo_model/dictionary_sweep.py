"""Settings for the late-layer transcoders, scored where the graphs need them and on held-out running text.

The first shipped transcoders (width 1024, mean L0 24, the annealing mix only) reconstructed the MLP
output of layers 4-5 poorly at antonym answer positions (FVU 0.46-0.91 on held-out wordings), where the
antonym lookup happens; on v3, those trained on the annealing mix alone recovered little of the loss on running
text. This trains one transcoder per setting and layer with train_dictionaries.py's own trainer and rows, and
scores it on the held-out positions of its rows, per language on the answer positions of the held-out antonym
wordings (evaluate.py's positions), and by the loss recovered on train_dictionaries.py's held-out text rows.
Settings: width, target L0, oversampling the answer positions of the *trained* wordings to a share of the
training rows (held-out wordings stay unseen), and rows of running text added to the annealing mix.

Run: python scripts/demo_model/dictionary_sweep.py [--layers 4 5] [--configs l0_48_answers25 text3600 ...]
Writes <cache>/dictionary_sweep.json (a row per transformer, layer and setting), which card.py shows.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import train_dictionaries as trainer
from common import ANT_HELDOUT, ANT_TRAIN, LANGS, SEED, cache_dir, out_dir
from load import load_transformer

# name: (width, target mean L0, share of training rows that are trained-wording answer positions, text rows, steps)
CONFIGS = {
    "base": (1024, 24.0, 0.0, 0, 1200),
    "wide2048": (2048, 24.0, 0.0, 0, 1200),
    "l0_48": (1024, 48.0, 0.0, 0, 1200),
    "answers25": (1024, 24.0, 0.25, 0, 1200),
    "wide_l0_48_answers25": (2048, 48.0, 0.25, 0, 1200),
    "l0_48_answers25": (1024, 48.0, 0.25, 0, 1200),
    "l0_96_answers25": (1024, 96.0, 0.25, 0, 1200),
    "l0_48_answers50": (1024, 48.0, 0.5, 0, 1200),
    "text1200": (1024, 48.0, 0.25, 1200, 1200),
    "text3600": (1024, 48.0, 0.25, 3600, 1200),
    "text3600_l0_96": (1024, 96.0, 0.25, 3600, 1200),
    "text3600_steps2400": (1024, 48.0, 0.25, 3600, 2400),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--layers", type=int, nargs="+", default=[4, 5])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    model = load_transformer(out_dir())
    hooks = [
        h for layer in args.layers for h in (f"blocks.{layer}.ln2.hook_normalized", f"blocks.{layer}.hook_mlp_out")
    ]
    held_answers = trainer.answer_activations(model, ANT_HELDOUT, hooks)
    trained_answers = trainer.answer_activations(model, ANT_TRAIN, hooks)
    results = []
    for layer in args.layers:
        hin, hout = f"blocks.{layer}.ln2.hook_normalized", f"blocks.{layer}.hook_mlp_out"
        ax = torch.cat([trained_answers[lang][hin] for lang in LANGS])
        ay = torch.cat([trained_answers[lang][hout] for lang in LANGS])
        for name in args.configs:
            width, l0, share, n_text, steps = CONFIGS[name]
            # train_dictionaries.py's rows (same seeds) and its 5% held-out positions
            tokens, val_text = trainer.training_rows(model.tokenizer, model.cfg.n_ctx, trainer.N_ROWS, n_text)
            with torch.no_grad():
                mix = trainer.collect(model, tokens, [hin, hout])
            held = torch.arange(mix[hin].shape[0]) % 20 == 0
            trainer.WIDTH, trainer.TC_TARGET_L0 = width, l0
            x_train = trainer.with_answers(mix[hin][~held], ax, share)
            y_train = trainer.with_answers(mix[hout][~held], ay, share)
            t0 = time.time()
            tc = trainer.train_transcoder(x_train, y_train, trainer.metadata(hin, hout), steps, 2048, 2e-3)
            with torch.no_grad():
                result = {
                    "model": trainer.CFG["model_name"],
                    "layer": layer,
                    "config": name,
                    "width": width,
                    "target_l0": l0,
                    "answer_share": share,
                    "text_rows": n_text,
                    "steps": steps,
                    "seconds": round(time.time() - t0),
                    "fvu_mix_heldout": trainer.fvu(tc(mix[hin][held]), mix[hout][held]),
                    "l0": float((tc.encode(mix[hin][held]) > 0).sum(-1).float().mean()),
                    "fvu_answer": {
                        lang: trainer.fvu(tc(held_answers[lang][hin]), held_answers[lang][hout]) for lang in LANGS
                    },
                    "loss_recovered_text": trainer.loss_recovered(model, val_text, hin, hout, tc),
                }
            print(json.dumps(result), flush=True)
            results.append(result)
    path = cache_dir() / "dictionary_sweep.json"
    previous = json.loads(path.read_text()) if path.is_file() else []
    key = lambda r: (r.get("model", "babelgraph-demo-v2"), r["layer"], r["config"])  # noqa: E731
    done = {key(r) for r in results}
    keep = [r for r in previous if key(r) not in done]
    path.write_text(json.dumps(keep + results, indent=1))


if __name__ == "__main__":
    main()
