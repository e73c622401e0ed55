"""Train the demo transformer (GPT-2 style, transformer_lens) on the generated corpus.

Seeded and resumable: a checkpoint (model, optimiser, step) is written to the cache dir every
`--ckpt-every` steps and picked up on the next run; the data order depends only on the seed and the
step, so a resumed run sees the same batches as an uninterrupted one. `--max-minutes` stops early
(for a fixed time budget) and still exports what it has.

Run: ``PYTHONPATH=scripts python -m demo_model_v1.train_model``
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from tqdm import tqdm
from transformer_lens import HookedTransformer, HookedTransformerConfig

from demo_model_v1.common import CANONICAL_PROMPTS, DEMO_DIR, SEED, cache_dir
from demo_model_v1.corpus import read_jsonl

N_CTX = 128
DEFAULT_STEPS = 1800
DEFAULT_BATCH = 32
DEFAULT_LR = 3e-3
MODEL_CFG = dict(
    n_layers=4,
    d_model=192,
    n_heads=6,
    d_head=32,
    d_mlp=768,
    n_ctx=N_CTX,
    act_fn="gelu",
    normalization_type="LN",
    positional_embedding_type="standard",
    model_name="babelgraph-demo",
    seed=SEED,
)


def load_tokenizer(path: Path = DEMO_DIR):  # noqa: ANN201 - a transformers tokenizer
    """The demo tokenizer from `path` (a transformers fast tokenizer that prepends BOS)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(str(path))


def make_config(d_vocab: int) -> HookedTransformerConfig:
    return HookedTransformerConfig(d_vocab=d_vocab, **MODEL_CFG)


def pack_documents(texts: list[str], tokenizer, n_ctx: int = N_CTX) -> torch.Tensor:  # noqa: ANN001
    """Pack BOS-prefixed documents greedily into rows of `n_ctx` tokens; every row starts with a document.

    A document that does not fit is cut at the row's end, so nothing is padded and every row starts at
    BOS exactly like an evaluation prompt does.
    """
    ids = tokenizer(texts, add_special_tokens=True)["input_ids"]
    rows: list[list[int]] = []
    row: list[int] = []
    for doc in ids:
        if row and len(row) + len(doc) > n_ctx:
            row.extend(doc[: n_ctx - len(row)])
        else:
            row.extend(doc)
        if len(row) >= n_ctx:
            rows.append(row[:n_ctx])
            row = []
    return torch.tensor(rows, dtype=torch.long)


def lr_at(step: int, total: int, peak: float, warmup: int = 100) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def batch_indices(step: int, n_rows: int, batch_size: int) -> torch.Tensor:
    """Rows for `step`: a seeded permutation per epoch, so resuming reproduces the data order."""
    per_epoch = n_rows // batch_size
    epoch, k = divmod(step, per_epoch)
    g = torch.Generator().manual_seed(SEED + epoch)
    perm = torch.randperm(n_rows, generator=g)
    return perm[k * batch_size : (k + 1) * batch_size]


@torch.no_grad()
def canonical_top1(model: HookedTransformer) -> dict[str, str]:
    out = {}
    for lang, (prompt, _) in CANONICAL_PROMPTS.items():
        logits = model(model.to_tokens(prompt))[0, -1]
        out[lang] = model.tokenizer.decode(int(logits.argmax()))
    return out


def export(model: HookedTransformer, out_dir: Path = DEMO_DIR) -> None:
    """Write float16 weights and the config fields the loader needs."""
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    # transformer_lens buffers (attention masks, IGNORE) are rebuilt from the config on load.
    state = {k: v for k, v in state.items() if not k.endswith(("mask", "IGNORE"))}
    save_file(state, str(out_dir / "model.safetensors"))
    (out_dir / "model.safetensors").chmod(0o644)  # safetensors writes 0600; package data must be readable
    cfg = {**MODEL_CFG, "d_vocab": model.cfg.d_vocab}
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    ap.add_argument("--lr", type=float, default=DEFAULT_LR)
    ap.add_argument("--ckpt-every", type=int, default=200)
    ap.add_argument("--max-minutes", type=float, default=None, help="stop early after this long")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    tokenizer = load_tokenizer()
    rows = pack_documents([d["text"] for d in read_jsonl(cache_dir() / "corpus_train.jsonl")], tokenizer)
    print(f"{rows.shape[0]} rows x {N_CTX} tokens = {rows.numel() / 1e6:.2f}M tokens")

    model = HookedTransformer(make_config(len(tokenizer)), tokenizer=tokenizer)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.98),
    )
    ckpt_path = cache_dir() / "model_ckpt.pt"
    step = 0
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        step = int(ckpt["step"])
        print(f"resumed from step {step}")

    start = time.time()
    bar = tqdm(total=args.steps, initial=step, desc="train")
    model.train()
    while step < args.steps:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr)
        tokens = rows[batch_indices(step, rows.shape[0], args.batch_size)]
        loss = model(tokens, return_type="loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
        timed_out = args.max_minutes is not None and time.time() - start > 60 * args.max_minutes
        if step % args.ckpt_every == 0 or step == args.steps or timed_out:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, ckpt_path)
            model.eval()
            bar.write(f"step {step} loss {loss.item():.3f} canonical top-1 {canonical_top1(model)}")
            model.train()
        if timed_out:
            bar.write(f"stopping early after {args.max_minutes} min at step {step}")
            break
    bar.close()
    model.eval()
    export(model)
    print(f"exported to {DEMO_DIR} after {(time.time() - start) / 60:.1f} min this run")


if __name__ == "__main__":
    main()
