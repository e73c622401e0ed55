"""Experiment: does training on mixed-language antonym prompts bring cross-lingual transfer?

A design the recipe sweep (sweep.py) did not try. The antonym task is posed with the cue word in another
language than the wording, and answered in the wording's language: `The opposite of "petit" is "big"`,
only in wordings of languages the pair is taught in. If the model has to read the cue in any language and
answer in the wording's, the antonym step might become language-independent, and untaught combinations
(`Le contraire de "petit" est "`, pair taught in English only) might follow. The answer in an untaught
language is never trained. About half of the pairs get mixed prompts (alternate blocks of six plan rows, so
every Latin-square cell is in both halves: 30 pairs, the canonical small/big among them, against 25); the other
half is the control. `mixedcue` scores the trained skill
itself on held-out wordings (cue in another language, pair taught in the wording's language), so a null
result on transfer can be told apart from a skill that was never learned.

This continues training the built model (its exported weights) on the annealing mix with mixed-prompt rows
in every batch, at the recipe's final learning rate, and scores transfer on held-out wordings for both
halves every `--eval-every` steps. It does not change the build's output.

Run: python scripts/demo_model/transfer_probe.py [--steps 450] [--mixed-rows 10]
Writes <cache>/transfer_probe.json, which card.py shows in the model card.
"""

from __future__ import annotations

import argparse
import json
import random
import time

import torch
from common import ANT_HELDOUT, ANT_TRAIN, LANGS, SEED, antonym_plan, cache_dir, out_dir
from quick_eval import directed, fill, prompt_and_answer
from safetensors.torch import load_file
from train_model import (
    ANNEAL_REPEAT,
    CFG,
    build_rows,
    from_transformer_lens,
    parse_repeat,
    to_transformer_lens,
    train_step,
)


def halves(plan: list[dict]) -> list[str]:
    """'mixed' or 'control' per plan row, in blocks of six rows; the canonical pair (row 0) is 'canonical'."""
    return ["canonical"] + ["mixed" if ((i - 1) // 6) % 2 == 0 else "control" for i in range(1, len(plan))]


def mixed_prompt_doc(rng: random.Random, plan: list[dict], half: list[str]) -> str:
    """1-3 antonym lines in one taught wording of language f, cue words in another language, answers in f."""
    frame = rng.choice(LANGS)
    rows = [i for i, p in enumerate(plan) if frame in p["taught"] and half[i] != "control"]
    template = rng.choice(ANT_TRAIN[frame])
    lines = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        pair = plan[rng.choice(rows)]["pair"]
        cue_lang = rng.choice([lang for lang in LANGS if lang != frame])
        k = rng.randrange(2)
        lines.append(fill(template, a=pair[cue_lang][k], b=pair[frame][1 - k]))
    return "\n".join(lines)


def pack(tok, docs: list[str], n_ctx: int) -> torch.Tensor:  # noqa: ANN001
    """Documents joined with BOS before each, cut into rows that start with BOS (train_model's layout)."""
    bos = tok.bos_token_id
    stream = torch.tensor([t for ids in tok(docs, add_special_tokens=False)["input_ids"] for t in [bos, *ids]])
    n = stream.numel() // (n_ctx - 1)
    return torch.cat([torch.full((n, 1), bos), stream[: n * (n_ctx - 1)].view(n, n_ctx - 1)], 1)


class TransferScore:
    """Top-1 accuracy on held-out antonym wordings, by taught/transfer, half of the pairs and language."""

    def __init__(self, tok, plan: list[dict], half: list[str]) -> None:  # noqa: ANN001
        self.items = []
        for lang in LANGS:
            for template in filter(directed, ANT_HELDOUT[lang]):
                for i, p in enumerate(plan):
                    if half[i] == "canonical":
                        continue
                    kind = "taught" if lang in p["taught"] else "transfer"
                    for a, b in (p["pair"][lang], p["pair"][lang][::-1]):
                        prompt = prompt_and_answer(tok, template, a=a, b=b)
                        if prompt is not None:
                            self.items.append((f"{kind}/{half[i]}/{lang}", *prompt))
                    if kind == "taught":  # the trained skill itself: cue in another language, held-out wording
                        for cue_lang in (c for c in LANGS if c != lang):
                            for k in (0, 1):
                                cue, answer = p["pair"][cue_lang][k], p["pair"][lang][1 - k]
                                prompt = prompt_and_answer(tok, template, a=cue, b=answer)
                                if prompt is not None:
                                    self.items.append((f"mixedcue/{half[i]}/{lang}", *prompt))

    @torch.no_grad()
    def __call__(self, model) -> dict[str, float]:  # noqa: ANN001
        model.eval()
        hits: dict[str, list[bool]] = {}
        for i0 in range(0, len(self.items), 256):
            chunk = self.items[i0 : i0 + 256]
            x = torch.zeros(len(chunk), max(len(it[1]) for it in chunk), dtype=torch.long)
            for j, it in enumerate(chunk):
                x[j, : len(it[1])] = torch.tensor(it[1])
            last = model(x)[torch.arange(len(chunk)), torch.tensor([len(it[1]) - 1 for it in chunk])]
            for it, hit in zip(chunk, (last.argmax(-1) == torch.tensor([it[2] for it in chunk])).tolist(), strict=True):
                hits.setdefault(it[0], []).append(hit)
        model.train()
        return {k: sum(v) / len(v) for k, v in sorted(hits.items())}


def main() -> None:
    from transformers import PreTrainedTokenizerFast

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=450)
    ap.add_argument("--mixed-rows", type=int, default=10, help="mixed-prompt rows in each batch of 32")
    ap.add_argument("--lr", type=float, default=6e-4, help="the recipe's final learning rate")
    ap.add_argument("--eval-every", type=int, default=150)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if not 0 < args.mixed_rows < 32:
        ap.error("--mixed-rows must be between 1 and 31 (rows of a batch of 32)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    tok = PreTrainedTokenizerFast.from_pretrained(str(out_dir()))
    cfg = dict(CFG, d_vocab=len(tok))
    exported = load_file(str(out_dir() / "model.safetensors"))
    model = from_transformer_lens(exported, cfg)
    back = to_transformer_lens(model, cfg)
    if any(not torch.equal(back[k], v.float()) for k, v in exported.items()):
        raise SystemExit("from_transformer_lens does not invert to_transformer_lens on the exported weights")
    plan = antonym_plan()
    half = halves(plan)
    rng = random.Random(SEED + 5)
    mixed_rows = pack(tok, [mixed_prompt_doc(rng, plan, half) for _ in range(40000)], cfg["n_ctx"])
    mix_rows = build_rows(tok, cfg["n_ctx"], SEED + 2000, parse_repeat(ANNEAL_REPEAT))
    score = TransferScore(tok, plan, half)
    evals = [{"step": 0, **score(model)}]
    print(json.dumps(evals[-1]), flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.05)
    bs, t0 = 32, time.time()
    for step in range(args.steps):
        n_mix = bs - args.mixed_rows
        x = torch.cat(
            [
                mix_rows[(step * n_mix) % (mix_rows.shape[0] - n_mix) :][:n_mix],
                mixed_rows[(step * args.mixed_rows) % (mixed_rows.shape[0] - args.mixed_rows) :][: args.mixed_rows],
            ]
        )
        loss = train_step(model, opt, x)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            evals.append({"step": step + 1, "loss": loss.item(), **score(model)})
            print(json.dumps(evals[-1]), f"{(time.time() - t0) / 60:.1f} min", flush=True)
    (cache_dir() / "transfer_probe.json").write_text(
        json.dumps(
            {"steps": args.steps, "mixed_rows": args.mixed_rows, "batch": bs, "lr": args.lr, "evals": evals}, indent=1
        )
    )


if __name__ == "__main__":
    main()
