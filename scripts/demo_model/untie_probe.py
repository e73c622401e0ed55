"""Experiment: does loosening the tie on the output side let the model answer in the wording's language?

On the v3 model the evaluation found that on pairs never taught in a language the model mostly reaches the
antonym but puts about a third of that probability on the wording's spelling (quick_eval's `answer_share`): the
unembedding rows of `night`, `nuit` and `夜` are held together by the tie's penalty, so the answer's language can
only come from their small differences. This continues training the built model on the annealing mix at the recipe's final
learning rate with the penalty's unembedding weight changed (`--align-weight-out`), and scores it with
quick_eval before and after. The control is the same continuation with the recipe's own weights, since
continued training alone changes the scores. It does not change the build's output.

With `--language-offset` the unembedding rows are instead measured from their group's mean plus one offset per
language (train_model.py's `--align-language-offset`), which frees the answer's language but keeps the words tied.
`--row-seed` draws the rows in another order, for a replicate of a treatment and its control.
The card's results were run on the v3 model, whose recipe had no offset. On the v4 model (built with the offset) the
recipe's own continuation, and so the control, is the run with `--language-offset`; its results would overwrite the
v3 files of the same name, so move those aside first.

With another cache folder (BABELGRAPH_DEMO_CACHE holding a corpus such as one written by `data.py --curly-quotes`)
it continues on that corpus instead: a test of a data change, whose control is the same continuation on the corpus
the data step writes without the change. Each result records the weights it continued, the corpus's sha256 and the
corpus's typesetting, so the card can tell treatment from control and shows only runs of the model beside it (copy
them into <cache>/typeset_probe/runs/ of the build's cache for its section on curly quotes). `--export DIR` writes the
continued model as a folder that wording_probe.py's `--other` can score.

Run: python scripts/demo_model/untie_probe.py --align-weight-out 0   (and again with 1, the control)
     python scripts/demo_model/untie_probe.py --align-weight-out 1 --language-offset
Writes <cache>/untie_probe/in<w>_out<w>[_lang]_steps<n>[_rows<seed>].json, which card.py shows in the model card.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch
from common import SEED, cache_dir, out_dir, weights_sha256
from quick_eval import QuickEval
from safetensors.torch import load_file
from train_model import (
    ANNEAL_REPEAT,
    CFG,
    aligned_groups,
    alignment_penalty,
    build_rows,
    corpus_key,
    export,
    from_transformer_lens,
    group_table,
    language_table,
    parse_repeat,
    token_languages,
    train_step,
)


def main() -> None:
    from transformers import PreTrainedTokenizerFast

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--align-weight", type=float, default=1.0, help="the penalty's weight on the embedding rows")
    ap.add_argument("--align-weight-out", type=float, required=True, help="its weight on the unembedding rows")
    ap.add_argument(
        "--language-offset", action="store_true", help="free one unembedding offset per language (alignment_penalty)"
    )
    ap.add_argument("--lr", type=float, default=6e-4, help="the recipe's final learning rate")
    ap.add_argument(
        "--row-seed", type=int, default=SEED + 2000, help="order of the annealing rows (another: a replicate)"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--export", type=Path, help="also write the continued model here as a build folder (for wording_probe)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    tok = PreTrainedTokenizerFast.from_pretrained(str(out_dir()))
    cfg = dict(CFG, d_vocab=len(tok))
    model = from_transformer_lens(load_file(str(out_dir() / "model.safetensors")), cfg)
    groups = aligned_groups(tok)
    members, mask = group_table(groups)
    languages = language_table(groups, token_languages(tok)) if args.language_offset else None
    weights = (args.align_weight, args.align_weight_out)
    rows = build_rows(tok, cfg["n_ctx"], args.row_seed, parse_repeat(ANNEAL_REPEAT))
    score = QuickEval(tok)
    before = score(model)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.05)
    bs, t0 = 32, time.time()
    for step in range(args.steps):
        x = rows[(step * bs) % (rows.shape[0] - bs) :][:bs]
        loss = train_step(model, opt, x, lambda: alignment_penalty(model, members, mask, weights, languages))
        if step % 50 == 0:
            print(f"step {step}/{args.steps} loss {loss.item():.3f} {(time.time() - t0) / 60:.1f} min", flush=True)
    after = score(model)
    if args.export:  # the transformer and what loading it needs; the dictionaries belong to the model before
        args.export.mkdir(parents=True, exist_ok=True)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(out_dir() / name, args.export / name)
        shutil.copytree(out_dir() / "heldout", args.export / "heldout", dirs_exist_ok=True)
        export(model, cfg, args.export)
    stats = cache_dir() / "corpus_stats.json"
    folder = cache_dir() / "untie_probe"  # one file per run, so runs can go side by side
    folder.mkdir(exist_ok=True)
    run = {
        "steps": args.steps,
        "lr": args.lr,
        "weights": list(weights),
        "language_offset": args.language_offset,
        "row_seed": args.row_seed,
        "before": before,
        "after": after,
        # Provenance: the model continued, and the corpus and typesetting it continued on.
        "base_weights_sha256": weights_sha256(out_dir()),
        "corpus_sha256": corpus_key(tok)["corpus"],
        "curly_quotes": json.loads(stats.read_text()).get("curly_quotes") if stats.exists() else None,
    }
    offset = "_lang" if args.language_offset else ""
    order = "" if args.row_seed == SEED + 2000 else f"_rows{args.row_seed}"
    name = f"in{args.align_weight:g}_out{args.align_weight_out:g}{offset}_steps{args.steps}{order}.json"
    (folder / name).write_text(json.dumps(run, indent=1))
    print(json.dumps({k: round(v, 3) for k, v in after.items() if k.startswith("heldout/transfer")}))


if __name__ == "__main__":
    main()
