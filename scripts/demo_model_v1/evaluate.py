"""Measure the demo model and its dictionaries, and write `eval_results.json` and `MODEL_CARD.md`.

Every number in the model card comes from here, so the card is regenerated, never edited by hand:
held-out loss per language, antonym and translation top-1 accuracy, cross-lingual transfer to the
held-out antonym pairs, and per dictionary mean L0, fraction of variance unexplained (FVU) and the
loss recovered when the dictionaries are spliced in.

Run: ``PYTHONPATH=scripts python -m demo_model_v1.evaluate``
"""

from __future__ import annotations

import json
import math
import platform
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch
from sae_lens import SAE
from transformer_lens import HookedTransformer

from babelgraph.demo import DEMO_DIR, demo_dictionary_dirs, load_demo_transformer
from demo_model_v1.common import (
    CANONICAL_PROMPTS,
    LANGS,
    antonym_prompt,
    cache_dir,
    split_antonyms,
    translation_prompt,
    translation_triples,
)
from demo_model_v1.corpus import read_jsonl
from demo_model_v1.train_model import pack_documents

RESULTS_FILE = DEMO_DIR / "eval_results.json"


def first_token(model: HookedTransformer, word: str) -> int:
    """Id of the first token of `word` as it follows an opening quote (no leading space)."""
    return int(model.tokenizer(word, add_special_tokens=False)["input_ids"][0])


@torch.no_grad()
def last_logits(model: HookedTransformer, prompts: list[str], batch_size: int = 64) -> torch.Tensor:
    """Logits at the last position of each prompt (right-padded batches; causal attention ignores pads)."""
    out = []
    for i in range(0, len(prompts), batch_size):
        ids = [model.tokenizer(p)["input_ids"] for p in prompts[i : i + batch_size]]
        lengths = torch.tensor([len(x) for x in ids])
        pad = model.tokenizer.pad_token_id
        toks = torch.tensor([x + [pad] * (int(lengths.max()) - len(x)) for x in ids])
        logits = model(toks)
        out.append(logits[torch.arange(len(ids)), lengths - 1])
    return torch.cat(out)


def top1_accuracy(model: HookedTransformer, items: list[tuple[str, set[str]]]) -> float:
    """Share of prompts whose top-1 token is the first token of one of the accepted answers."""
    if not items:
        return float("nan")
    preds = last_logits(model, [p for p, _ in items]).argmax(-1).tolist()
    hits = [pred in {first_token(model, w) for w in answers} for pred, (_, answers) in zip(preds, items, strict=True)]
    return sum(hits) / len(hits)


def mean_answer_probability(model: HookedTransformer, items: list[tuple[str, set[str]]]) -> float:
    """Mean probability given to the first token of an accepted answer (a softer view of transfer)."""
    probs = last_logits(model, [p for p, _ in items]).softmax(-1)
    total = 0.0
    for row, (_, answers) in zip(probs, items, strict=True):
        total += float(row[sorted({first_token(model, w) for w in answers})].sum())
    return total / len(items)


def antonym_items(pairs: list, lang: str) -> list[tuple[str, set[str]]]:
    """Both directions of every pair, canonical template."""
    answers: dict[str, set[str]] = defaultdict(set)
    for p in pairs:
        a, b = p.words(lang)
        answers[a].add(b)
        answers[b].add(a)
    return [(antonym_prompt(lang, w), targets) for w, targets in answers.items()]


def translation_items(src: str, tgt: str) -> list[tuple[str, set[str]]]:
    answers: dict[str, set[str]] = defaultdict(set)
    for t in translation_triples():
        answers[t[src]].add(t[tgt])
    return [(translation_prompt(src, tgt, w), targets) for w, targets in answers.items()]


@torch.no_grad()
def heldout_loss(model: HookedTransformer) -> dict[str, float]:
    """Mean next-token loss (nats) on the validation documents, by language of running text and by task."""
    groups: dict[str, list[str]] = defaultdict(list)
    for d in read_jsonl(cache_dir() / "corpus_val.jsonl"):
        groups[f"text/{d['lang']}" if d["kind"] == "text" else d["kind"]].append(d["text"])
    out = {}
    for name, texts in sorted(groups.items()):
        total, count = 0.0, 0
        for i in range(0, len(texts), 32):
            ids = [model.tokenizer(t)["input_ids"][:128] for t in texts[i : i + 32]]
            n = max(len(x) for x in ids)
            toks = torch.tensor([x + [0] * (n - len(x)) for x in ids])
            mask = torch.tensor([[1] * (len(x) - 1) + [0] * (n - len(x)) for x in ids], dtype=torch.bool)
            lp = model(toks).log_softmax(-1)[:, :-1].gather(-1, toks[:, 1:, None])[..., 0]
            total += float(-lp[mask].sum())
            count += int(mask.sum())
        out[name] = total / count
    return out


def eval_tokens(model: HookedTransformer, n_rows: int = 96) -> torch.Tensor:
    """Packed rows of validation documents, as in training."""
    return pack_documents([d["text"] for d in read_jsonl(cache_dir() / "corpus_val.jsonl")], model.tokenizer)[:n_rows]


def _splice_hooks(
    model: HookedTransformer, tokens: torch.Tensor, transcoders: list[SAE] | None, mode: str
) -> list[tuple[str, Callable]]:
    """Forward hooks replacing each MLP output by its transcoder (or zero), BOS positions left intact."""
    keep_bos = (tokens == model.tokenizer.bos_token_id)[..., None]
    hooks = []
    for layer in range(model.cfg.n_layers):
        store: dict[str, torch.Tensor] = {}

        def save_in(x: torch.Tensor, hook, store=store) -> torch.Tensor:  # noqa: ANN001
            store["x"] = x
            return x

        def replace_out(y: torch.Tensor, hook, store=store, layer=layer) -> torch.Tensor:  # noqa: ANN001
            new = torch.zeros_like(y) if mode == "zero" else transcoders[layer](store["x"])
            return torch.where(keep_bos, y, new)

        hooks.append((f"blocks.{layer}.ln2.hook_normalized", save_in))
        hooks.append((f"blocks.{layer}.hook_mlp_out", replace_out))
    return hooks


@torch.no_grad()
def dictionary_metrics(model: HookedTransformer) -> dict:
    """Per dictionary L0/FVU on validation activations, and loss recovered when spliced in."""
    tokens = eval_tokens(model)
    non_bos = tokens != model.tokenizer.bos_token_id
    transcoders = [SAE.load_from_disk(p) for p in demo_dictionary_dirs("transcoders")]
    saes = [SAE.load_from_disk(p) for p in demo_dictionary_dirs("residual")]
    names = [t.cfg.metadata.hook_name for t in transcoders] + [t.cfg.metadata.hook_name_out for t in transcoders]
    names += [s.cfg.metadata.hook_name for s in saes]
    clean, cache = model.run_with_cache(tokens, return_type="loss", names_filter=names)
    clean_loss = float(clean)
    out: dict = {"clean_loss": clean_loss, "transcoders": [], "residual_saes": []}

    def fvu(pred: torch.Tensor, target: torch.Tensor) -> float:
        return float((pred - target).pow(2).sum() / (target - target.mean(0)).pow(2).sum())

    for layer, tc in enumerate(transcoders):
        x = cache[tc.cfg.metadata.hook_name][non_bos]
        y = cache[tc.cfg.metadata.hook_name_out][non_bos]
        feats = tc.encode(x)
        out["transcoders"].append(
            {
                "layer": layer,
                "hook_name": tc.cfg.metadata.hook_name,
                "d_sae": tc.cfg.d_sae,
                "l0": float((feats > 0).sum(-1).float().mean()),
                "fvu": fvu(tc(x), y),
                "dead_fraction": float((feats.max(0).values <= 0).float().mean()),
            }
        )
    spliced = float(
        model.run_with_hooks(
            tokens, return_type="loss", fwd_hooks=_splice_hooks(model, tokens, transcoders, "transcoder")
        )
    )
    zero = float(model.run_with_hooks(tokens, return_type="loss", fwd_hooks=_splice_hooks(model, tokens, None, "zero")))
    out["all_transcoders_spliced_loss"] = spliced
    out["all_mlps_zero_ablated_loss"] = zero
    out["all_transcoders_loss_recovered"] = (zero - spliced) / (zero - clean_loss)

    for layer, sae in enumerate(saes):
        hook = sae.cfg.metadata.hook_name
        x = cache[hook][non_bos]
        feats = sae.encode(x)
        keep_bos = (~non_bos)[..., None]

        def replace(a: torch.Tensor, hook, sae=sae, keep_bos=keep_bos) -> torch.Tensor:  # noqa: ANN001
            return torch.where(keep_bos, a, sae(a))

        def zero_out(a: torch.Tensor, hook, keep_bos=keep_bos) -> torch.Tensor:  # noqa: ANN001
            return torch.where(keep_bos, a, torch.zeros_like(a))

        sp = float(model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(hook, replace)]))
        zr = float(model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(hook, zero_out)]))
        out["residual_saes"].append(
            {
                "layer": layer,
                "hook_name": hook,
                "d_sae": sae.cfg.d_sae,
                "k": sae.cfg.k,
                "l0": float((feats > 0).sum(-1).float().mean()),
                "fvu": fvu(sae(x), x),
                "dead_fraction": float((feats.max(0).values <= 0).float().mean()),
                "spliced_loss": sp,
                "zero_ablated_loss": zr,
                "loss_recovered": (zr - sp) / (zr - clean_loss),
            }
        )
    return out


@torch.no_grad()
def evaluate(model: HookedTransformer | None = None) -> dict:
    """All model-card numbers, as a dict (also written to `eval_results.json`)."""
    model = model or load_demo_transformer(device="cpu")
    trained, held = split_antonyms()
    res: dict = {"canonical": {}, "antonym_trained": {}, "antonym_heldout": {}, "translation": {}}
    for lang, (prompt, answer) in CANONICAL_PROMPTS.items():
        probs = last_logits(model, [prompt])[0].softmax(-1)
        top = int(probs.argmax())
        res["canonical"][lang] = {
            "prompt": prompt,
            "expected": answer,
            "top1": model.tokenizer.decode(top),
            "p_expected": float(probs[first_token(model, answer)]),
        }
    for lang in LANGS:
        res["antonym_trained"][lang] = top1_accuracy(model, antonym_items(trained, lang))
        res["antonym_heldout"][lang] = top1_accuracy(model, antonym_items(held, lang))
        res.setdefault("antonym_heldout_p", {})[lang] = mean_answer_probability(model, antonym_items(held, lang))
    for src in LANGS:
        for tgt in LANGS:
            res["translation"][f"{src}->{tgt}"] = top1_accuracy(model, translation_items(src, tgt))
    res["heldout_pairs"] = [p.en for p in held]
    res["heldout_loss"] = heldout_loss(model)
    res["dictionaries"] = dictionary_metrics(model)
    res["n_params"] = sum(p.numel() for p in model.parameters())
    return res


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files) / 1e6


def write_card(res: dict) -> str:
    """Render MODEL_CARD.md from the measured results, the corpus statistics and the build times."""
    from demo_model_v1 import card

    stats_path = cache_dir() / "corpus_stats.json"
    times_path = cache_dir() / "build_times.json"
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    times = json.loads(times_path.read_text()) if times_path.exists() else {}
    sizes = {
        "model": _size_mb(DEMO_DIR / "model.safetensors"),
        "transcoders": _size_mb(DEMO_DIR / "transcoders"),
        "residual_saes": _size_mb(DEMO_DIR / "residual_saes"),
    }
    text = card.render(res, stats, times, sizes, machine=f"{platform.machine()}, {platform.python_version()}")
    (DEMO_DIR / "MODEL_CARD.md").write_text(text, encoding="utf-8")
    return text


def fvu_bound(fvu: float) -> float:
    """The bound the tests hold each dictionary to on a few prompts: 1.5x the card's figure + 0.05."""
    return math.ceil((1.5 * fvu + 0.05) * 20) / 20


def main() -> None:
    torch.set_num_threads(1)
    res = evaluate()
    for kind in ("transcoders", "residual_saes"):
        for d in res["dictionaries"][kind]:
            d["test_fvu_bound"] = fvu_bound(d["fvu"])
    RESULTS_FILE.write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    write_card(res)
    print(json.dumps({k: v for k, v in res.items() if k != "dictionaries"}, indent=1, ensure_ascii=False))
    print(json.dumps(res["dictionaries"], indent=1))


if __name__ == "__main__":
    main()
