"""Step 4: train the dictionaries on activations of the exported model over the training mix.

Per layer l: a ReLU `SkipTranscoder` from `blocks.{l}.ln2.hook_normalized` to `blocks.{l}.hook_mlp_out`
(MSE + decoder-norm-weighted L1, coefficient steered to a target mean L0) and a `TopKSAE` on
`blocks.{l}.hook_resid_post`. BOS positions are dropped (the attribution graph excludes BOS). The rows are the
annealing mix (task documents repeated, the mix the model ended its training on) plus rows of the mix's running
text alone: without the text rows the layer-5 transcoder recovered 0.40 of the loss on held-out rows of that text
(0.55 on the held-out UDHR; dictionary_sweep.py compares the settings). The answer positions of the *trained* antonym wordings are
oversampled to a quarter of the training activations: the graphs are read there. Held-out wordings stay unseen,
so the card's answer-position FVU is on new wordings of the same pairs; 48 text rows stay unseen too, for the loss
recovered reported here. Saved with sae_lens' `save_model` (weights then stored as float16 to keep the package
small; sae_lens upcasts them to the float32 of cfg.json on load) and loaded back as a check.

Run: python scripts/demo_model/train_dictionaries.py [--transcoder-steps 2400] [--sae-steps 1200] [--layers 5]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from common import ANT_TRAIN, LANGS, SEED, antonym_plan, cache_dir, out_dir
from load import load_transformer
from quick_eval import directed, prompt_and_answer
from sae_lens import SAE, SkipTranscoder, TopKSAE
from sae_lens.saes.sae import SAEMetadata
from sae_lens.saes.topk_sae import TopKSAEConfig
from sae_lens.saes.transcoder import SkipTranscoderConfig
from train_model import ANNEAL_REPEAT, CFG, build_rows, parse_repeat

WIDTH = 1024
TC_TARGET_L0 = 48.0
SAE_K = 48
N_ROWS = 1200  # rows of the annealing mix
TEXT_ROWS = 3600  # rows of running text alone, added to them
VAL_TEXT_ROWS = 48  # rows of running text kept out, to score loss recovered on
# Transcoders get twice the SAEs' steps: with the text rows, the last layer's recovers 0.60 of the loss on held-out
# text rows at 1200 steps and 0.77 at 2400 (dictionary_sweep.py); the SAEs recover 0.96 or more at 1200.
TRANSCODER_STEPS = 2400
SAE_STEPS = 1200
# Share of training activations that are trained-wording answer positions. On the v2 transformer a half at the
# last layer (whose MLP writes the answer) lowered FVU at answers from 0.36/0.21/0.38 to 0.27/0.16/0.26
# (dictionary_sweep.py). On v3 a quarter gives the same FVU at answers as a half (0.19/0.15/0.16 at both) and
# recovers more of the held-out loss (0.55 against 0.42), so every layer now uses a quarter.
ANSWER_SHARE = 0.25
LAST_LAYER_ANSWER_SHARE = 0.25
LAYER_HOOKS = ("ln2.hook_normalized", "hook_mlp_out", "hook_resid_post")  # transcoder in, out; SAE


def collect(model, tokens: torch.Tensor, hooks: list[str], bs: int = 32) -> dict[str, torch.Tensor]:  # noqa: ANN001
    bos = model.tokenizer.bos_token_id
    out: dict[str, list[torch.Tensor]] = {h: [] for h in hooks}
    with torch.no_grad():
        for i in range(0, tokens.shape[0], bs):
            b = tokens[i : i + bs]
            _, cache = model.run_with_cache(b, names_filter=hooks)
            keep = b != bos
            for h in hooks:
                out[h].append(cache[h][keep].float())
    return {h: torch.cat(v) for h, v in out.items()}


def training_rows(tokenizer, n_ctx: int, n_rows: int, n_text: int) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """The dictionaries' token rows, and the held-out rows of running text (never trained on) to score them on."""
    rows = build_rows(tokenizer, n_ctx, SEED + 99, parse_repeat(ANNEAL_REPEAT))
    anneal = rows[torch.randperm(rows.shape[0], generator=torch.Generator().manual_seed(SEED + 7))[:n_rows]]
    text = build_rows(tokenizer, n_ctx, SEED + 5, {kind: 0 for kind in parse_repeat(ANNEAL_REPEAT)})
    text = text[torch.randperm(text.shape[0], generator=torch.Generator().manual_seed(SEED + 11))]
    return torch.cat([anneal, text[VAL_TEXT_ROWS : VAL_TEXT_ROWS + n_text]]), text[:VAL_TEXT_ROWS]


def mean_loss(model, batches: Iterable[torch.Tensor], hooks: list | None = None) -> float:  # noqa: ANN001
    """Mean next-token loss over token `batches` (each [rows, positions]) run with the forward `hooks`."""
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            logits = model.run_with_hooks(batch, fwd_hooks=hooks or [])[:, :-1]
            total += float(F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten(), reduction="sum"))
            count += batch[:, 1:].numel()
    return total / count


def zero_hooks(hook_out: str) -> list:
    """Zero-ablation of hook_out: the baseline a dictionary's loss recovered is measured against."""
    return [(hook_out, lambda x, hook: torch.zeros_like(x))]


def splice_hooks(hook_in: str, hook_out: str, dictionary: SAE) -> list:
    """Replace hook_out by `dictionary(input at hook_in)` (hook_in == hook_out for an SAE)."""
    seen: dict[str, torch.Tensor] = {}
    return [(hook_in, lambda x, hook: seen.update(x=x)), (hook_out, lambda x, hook: dictionary(seen["x"]))]


def loss_recovered(model, rows: torch.Tensor, hook_in: str, hook_out: str, dictionary: SAE) -> float:  # noqa: ANN001
    """(zero-ablated - spliced) / (zero-ablated - clean) next-token loss on `rows`."""
    batches = rows.split(8)
    clean = mean_loss(model, batches)
    zero = mean_loss(model, batches, zero_hooks(hook_out))
    spliced = mean_loss(model, batches, splice_hooks(hook_in, hook_out, dictionary))
    return (zero - spliced) / (zero - clean)


def answer_activations(model, templates: dict, hooks: list[str]) -> dict[str, dict[str, torch.Tensor]]:  # noqa: ANN001
    """Per language and hook, the activations at the last prompt position of every antonym prompt."""
    out: dict[str, dict[str, list[torch.Tensor]]] = {lang: {h: [] for h in hooks} for lang in LANGS}
    with torch.no_grad():
        for lang in LANGS:
            for template in templates[lang]:
                if not directed(template):
                    continue
                for plan in antonym_plan():
                    for a, b in (plan["pair"][lang], plan["pair"][lang][::-1]):
                        prompt = prompt_and_answer(model.tokenizer, template, a=a, b=b)
                        if prompt is None:
                            continue
                        _, cache = model.run_with_cache(torch.tensor([prompt[0]]), names_filter=hooks)
                        for h in hooks:
                            out[lang][h].append(cache[h][0, -1])
    return {lang: {h: torch.stack(v) for h, v in acts.items()} for lang, acts in out.items()}


def with_answers(mix: torch.Tensor, answers: torch.Tensor, share: float) -> torch.Tensor:
    """`mix` with `answers` repeated so that they make up about `share` of the result."""
    if share <= 0:
        return mix
    reps = max(1, int(share * len(mix) / ((1 - share) * len(answers))))
    return torch.cat([mix, answers.repeat(reps, 1)])


def fvu(pred: torch.Tensor, target: torch.Tensor) -> float:
    return float((pred - target).pow(2).sum() / (target - target.mean(0)).pow(2).sum())


def metadata(hook: str, hook_out: str | None = None) -> SAEMetadata:
    m = {
        "model_name": CFG["model_name"],
        "hook_name": hook,
        "prepend_bos": True,
        "context_size": 128,
        "dataset_path": "scripts/demo_model/data.py training mix",
        "model_class_name": "HookedTransformer",
    }
    if hook_out:
        m["hook_name_out"] = hook_out
    return SAEMetadata(**m)


def _lr(step: int, total: int, peak: float) -> float:
    if step < 50:
        return peak * (step + 1) / 50
    return peak * 0.5 * (1 + math.cos(math.pi * (step - 50) / max(1, total - 50)))


def train_transcoder(
    x: torch.Tensor, y: torch.Tensor, meta: SAEMetadata, steps: int, bs: int, lr: float
) -> SkipTranscoder:
    d_in, d_out = x.shape[1], y.shape[1]
    tc = SkipTranscoder(
        SkipTranscoderConfig(d_in=d_in, d_sae=WIDTH, d_out=d_out, apply_b_dec_to_input=False, metadata=meta)
    )
    with torch.no_grad():
        tc.W_dec.data = torch.randn(WIDTH, d_out) / math.sqrt(d_out) * 0.1
        tc.W_enc.data = torch.randn(d_in, WIDTH) / math.sqrt(d_in)
        tc.b_dec.data = y.mean(0)
    var = (y - y.mean(0)).pow(2).sum(-1).mean()
    opt = torch.optim.Adam(tc.parameters(), lr=lr)
    log_lam = math.log(3e-3)
    g = torch.Generator().manual_seed(SEED)
    for step in range(steps):
        for gr in opt.param_groups:
            gr["lr"] = _lr(step, steps, lr)
        idx = torch.randint(0, x.shape[0], (bs,), generator=g)
        xb, yb = x[idx], y[idx]
        acts = tc.encode(xb)
        pred = tc.decode(acts) + xb @ tc.W_skip.T
        nmse = (pred - yb).pow(2).sum(-1).mean() / var
        loss = nmse + math.exp(log_lam) * (acts * tc.W_dec.norm(dim=-1)).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        l0 = float((acts > 0).float().sum(-1).mean())
        if step < 0.8 * steps:
            log_lam += 0.05 * max(-1.0, min(1.0, (l0 - TC_TARGET_L0) / TC_TARGET_L0))
    return tc


def train_topk(x: torch.Tensor, meta: SAEMetadata, steps: int, bs: int, lr: float) -> TopKSAE:
    d_in = x.shape[1]
    sae = TopKSAE(TopKSAEConfig(d_in=d_in, d_sae=WIDTH, k=SAE_K, apply_b_dec_to_input=True, metadata=meta))
    with torch.no_grad():
        w = torch.randn(WIDTH, d_in)
        sae.W_dec.data = w / w.norm(dim=-1, keepdim=True)
        sae.W_enc.data = sae.W_dec.data.T.contiguous()
        sae.b_dec.data = x.mean(0)
        sae.b_enc.data.zero_()
    var = (x - x.mean(0)).pow(2).sum(-1).mean()
    opt = torch.optim.Adam(sae.parameters(), lr=lr)
    g = torch.Generator().manual_seed(SEED)
    for step in range(steps):
        for gr in opt.param_groups:
            gr["lr"] = _lr(step, steps, lr)
        xb = x[torch.randint(0, x.shape[0], (bs,), generator=g)]
        nmse = (sae(xb) - xb).pow(2).sum(-1).mean() / var
        opt.zero_grad(set_to_none=True)
        nmse.backward()
        opt.step()
        with torch.no_grad():
            sae.W_dec.data /= sae.W_dec.data.norm(dim=-1, keepdim=True)
    return sae


def save(sae: SAE, path: Path, expected: type) -> None:
    from safetensors.torch import load_file, save_file

    if path.exists():
        shutil.rmtree(path)
    sae.save_model(path)
    wf = path / "sae_weights.safetensors"
    save_file({k: v.half().contiguous() for k, v in load_file(str(wf)).items()}, str(wf))
    for f in path.iterdir():
        f.chmod(0o644)
    loaded = SAE.load_from_disk(path)
    if type(loaded) is not expected or loaded.cfg.metadata.hook_name != sae.cfg.metadata.hook_name:
        raise RuntimeError(f"{path} does not load back as {expected.__name__}")
    if next(loaded.parameters()).dtype != torch.float32:
        raise RuntimeError(f"{path} loads as {next(loaded.parameters()).dtype}, expected float32")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--transcoder-steps", type=int, default=TRANSCODER_STEPS)
    ap.add_argument("--sae-steps", type=int, default=SAE_STEPS)
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--rows", type=int, default=N_ROWS, help="rows of the annealing mix")
    ap.add_argument("--text-rows", type=int, default=TEXT_ROWS, help="rows of running text alone, added to them")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--layers", type=int, nargs="+", help="retrain only these layers, keep the others")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    t0 = time.time()
    model = load_transformer(out_dir())
    tokens, val_text = training_rows(model.tokenizer, model.cfg.n_ctx, args.rows, args.text_rows)
    o = out_dir()
    report_path = cache_dir() / "train_dictionaries.json"
    settings = {
        "transcoder_steps": args.transcoder_steps,
        "sae_steps": args.sae_steps,
        "batch_size": args.batch_size,
        "rows": args.rows,
        "text_rows": args.text_rows,
        "width": WIDTH,
    }
    report, minutes = [], None
    if args.layers and report_path.is_file():  # a partial rerun keeps the other layers and the full run's time
        previous = json.loads(report_path.read_text())
        if any(previous.get(k) != v for k, v in settings.items()):
            raise SystemExit(f"--layers: the other layers were trained with other settings than {settings}")
        report = [r for r in previous["layers"] if r["layer"] not in args.layers]
        minutes = previous["minutes"]
    hooks_in = [f"blocks.{layer}.{h}" for layer in range(model.cfg.n_layers) for h in LAYER_HOOKS]
    all_answers = answer_activations(model, ANT_TRAIN, hooks_in)
    for layer in args.layers or range(model.cfg.n_layers):
        hooks = [f"blocks.{layer}.{h}" for h in LAYER_HOOKS]
        acts = collect(model, tokens, hooks)
        answers = {h: torch.cat([all_answers[lang][h] for lang in LANGS]) for h in hooks}
        n = acts[hooks[0]].shape[0]
        held = torch.arange(n) % 20 == 0  # 5% of positions to report FVU on
        tr = ~held
        share = LAST_LAYER_ANSWER_SHARE if layer == model.cfg.n_layers - 1 else ANSWER_SHARE
        train = {h: with_answers(acts[h][tr], answers[h], share) for h in hooks}
        t1 = time.time()
        tc = train_transcoder(
            train[hooks[0]],
            train[hooks[1]],
            metadata(hooks[0], hooks[1]),
            args.transcoder_steps,
            args.batch_size,
            args.lr,
        )
        save(tc, o / "transcoders" / f"layer_{layer}", SkipTranscoder)
        with torch.no_grad():
            f = tc.encode(acts[hooks[0]][held])
            r_tc = {
                "layer": layer,
                "kind": "transcoder",
                "target_l0": TC_TARGET_L0,
                "answer_share": share,
                "fvu": fvu(tc(acts[hooks[0]][held]), acts[hooks[1]][held]),
                "l0": float((f > 0).sum(-1).float().mean()),
                "seconds": round(time.time() - t1, 1),
                "loss_recovered_text": loss_recovered(model, val_text, hooks[0], hooks[1], tc),
            }
        t1 = time.time()
        sae = train_topk(train[hooks[2]], metadata(hooks[2]), args.sae_steps, args.batch_size, args.lr)
        save(sae, o / "residual_saes" / f"layer_{layer}", TopKSAE)
        with torch.no_grad():
            r_sae = {
                "layer": layer,
                "kind": "residual",
                "k": SAE_K,
                "answer_share": share,
                "fvu": fvu(sae(acts[hooks[2]][held]), acts[hooks[2]][held]),
                "seconds": round(time.time() - t1, 1),
                "loss_recovered_text": loss_recovered(model, val_text, hooks[2], hooks[2], sae),
            }
        print(r_tc, r_sae, flush=True)
        report += [r_tc, r_sae]
    report.sort(key=lambda r: (r["layer"], r["kind"] != "transcoder"))
    report_path.write_text(
        json.dumps(
            {
                "layers": report,
                "minutes": minutes if minutes is not None else (time.time() - t0) / 60,
                "transcoder_steps": args.transcoder_steps,
                "sae_steps": args.sae_steps,
                "batch_size": args.batch_size,
                "rows": args.rows,
                "text_rows": args.text_rows,
                "val_text_rows": VAL_TEXT_ROWS,
                "width": WIDTH,
                "k": SAE_K,
                "transcoder_target_l0": TC_TARGET_L0,
                "answer_share": ANSWER_SHARE,
                "last_layer_answer_share": LAST_LAYER_ANSWER_SHARE,
                "retrained": {"layers": args.layers, "minutes": (time.time() - t0) / 60} if args.layers else None,
            },
            indent=1,
        )
    )
    print(f"dictionaries done in {(time.time() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
