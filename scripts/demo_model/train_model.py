"""Step 3: train the transformer (plain PyTorch for speed), export it as a transformer_lens HookedTransformer.

A GPT-2-style decoder (LayerNorm, learned positions, exact GELU, untied unembedding with bias) whose
weights map one to one onto HookedTransformer's. Rows are 128 tokens: the tokenized documents joined
with `<|bos|>` before each document, cut into 127-token chunks, each prefixed with `<|bos|>`.

Resumable, and optionally time-bounded: with `--steps 0`, `--max-minutes` fixes the number of steps from
the measured speed of the first steps (stored in the checkpoint, so a resumed run keeps the same schedule);
otherwise it only stops a run that overruns it. A checkpoint is written every `--ckpt-minutes` and the model is exported (float16) to the output folder at each checkpoint.

Run: python scripts/demo_model/train_model.py   (the recipe's 3600 steps; about 76 min on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from common import (
    AMBIGUOUS,
    LANGS,
    SEED,
    antonym_plan,
    cache_dir,
    file_sha256,
    in_training_wordings,
    load_words,
    out_dir,
    read_jsonl,
)
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

# Annealing mix: task documents repeated so the last steps see them more often (curriculum).
# The recipe (chosen by sweep.py on an accelerator; see the model card): task documents repeated throughout,
# more so in the annealing phase, at a peak learning rate of 6e-3.
REPEAT = "antonym=3,translation=3,codeswitch=2,interleaved=2"
ANNEAL_REPEAT = "antonym=6,translation=6,codeswitch=3,interleaved=3"
STEPS = 3600  # about 76 minutes on 2 CPU cores (1.26 s/step over a full CPU run with the tie, 2026-11-27)
# Translation-equivalent table words (one token each with the whole-word tokenizer) start with equal
# embedding and unembedding rows and a penalty of this weight keeps them close: the lever that gave
# cross-lingual transfer in sweep.py's runs (none of width, depth, steps or task mix did).
ALIGN_WEIGHT = 1.0
# 0: export the last step's weights (the recipe up to v5). With a decay, an exponential moving average kept over the
# annealing phase is exported instead; v5's run kept one at 0.998 beside its weights (the card's *Weight averaging*).
EMA_DECAY = 0.0
# Weight of the sentence-level alignment of parallel training lines (parallel_alignment_loss); 0 up to v5, whose
# shared features on the held-out UDHR were not measurable for the pairs with Chinese. The temperature was chosen
# before the first run and not tuned.
ALIGN_PARALLEL = 0.0
PARALLEL_TEMPERATURE = 0.1
CFG = {
    "n_layers": 6,
    "d_model": 192,
    "n_heads": 6,
    "d_head": 32,
    "d_mlp": 768,
    "n_ctx": 128,
    "act_fn": "gelu",
    "normalization_type": "LN",
    "positional_embedding_type": "standard",
    "model_name": "babelgraph-demo-v5",
    "seed": SEED,
}


class Block(nn.Module):
    def __init__(self, d: int, h: int, mlp: int) -> None:
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.proj = nn.Linear(d, mlp), nn.Linear(mlp, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        z = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.out(z.transpose(1, 2).reshape(b, t, d))
        return x + self.proj(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, cfg: dict) -> None:
        super().__init__()
        d = cfg["d_model"]
        self.wte = nn.Embedding(cfg["d_vocab"], d)
        self.wpe = nn.Embedding(cfg["n_ctx"], d)
        self.blocks = nn.ModuleList(Block(d, cfg["n_heads"], cfg["d_mlp"]) for _ in range(cfg["n_layers"]))
        self.lnf = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg["d_vocab"])
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * cfg["n_layers"]) if name.endswith(("out.weight", "proj.weight")) else 0.02
                nn.init.normal_(p, std=std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe.weight[: idx.shape[1]]
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.lnf(x))

    def residuals(self, idx: torch.Tensor, n_blocks: int) -> list[torch.Tensor]:
        """The residual stream after each of the first `n_blocks` blocks (resid_post of layers 0..n_blocks-1)."""
        x = self.wte(idx) + self.wpe.weight[: idx.shape[1]]
        out = []
        for blk in self.blocks[:n_blocks]:
            x = blk(x)
            out.append(x)
        return out


def to_transformer_lens(model: GPT, cfg: dict) -> dict[str, torch.Tensor]:
    """HookedTransformer state dict of `model`."""
    d, h, dh = cfg["d_model"], cfg["n_heads"], cfg["d_head"]
    sd = {
        "embed.W_E": model.wte.weight,
        "pos_embed.W_pos": model.wpe.weight,
        "ln_final.w": model.lnf.weight,
        "ln_final.b": model.lnf.bias,
        "unembed.W_U": model.head.weight.T,
        "unembed.b_U": model.head.bias,
    }
    for i, b in enumerate(model.blocks):
        p = f"blocks.{i}."
        w, bias = b.qkv.weight, b.qkv.bias
        for j, n in enumerate("QKV"):
            sd[p + f"attn.W_{n}"] = w[j * d : (j + 1) * d].reshape(h, dh, d).transpose(1, 2)
            sd[p + f"attn.b_{n}"] = bias[j * d : (j + 1) * d].reshape(h, dh)
        sd[p + "attn.W_O"] = b.out.weight.T.reshape(h, dh, d)
        sd[p + "attn.b_O"] = b.out.bias
        sd[p + "ln1.w"], sd[p + "ln1.b"] = b.ln1.weight, b.ln1.bias
        sd[p + "ln2.w"], sd[p + "ln2.b"] = b.ln2.weight, b.ln2.bias
        sd[p + "mlp.W_in"], sd[p + "mlp.b_in"] = b.fc.weight.T, b.fc.bias
        sd[p + "mlp.W_out"], sd[p + "mlp.b_out"] = b.proj.weight.T, b.proj.bias
    return {k: v.detach().contiguous().clone() for k, v in sd.items()}


def from_transformer_lens(sd: dict[str, torch.Tensor], cfg: dict) -> GPT:
    """The GPT whose `to_transformer_lens` is `sd`: the exported weights back in trainable form."""
    model = GPT(cfg)
    d = cfg["d_model"]
    sd = {k: v.float() for k, v in sd.items()}
    with torch.no_grad():
        model.wte.weight.copy_(sd["embed.W_E"])
        model.wpe.weight.copy_(sd["pos_embed.W_pos"])
        model.lnf.weight.copy_(sd["ln_final.w"])
        model.lnf.bias.copy_(sd["ln_final.b"])
        model.head.weight.copy_(sd["unembed.W_U"].T)
        model.head.bias.copy_(sd["unembed.b_U"])
        for i, b in enumerate(model.blocks):
            p = f"blocks.{i}."
            for j, n in enumerate("QKV"):
                b.qkv.weight[j * d : (j + 1) * d] = sd[p + f"attn.W_{n}"].transpose(1, 2).reshape(d, d)
                b.qkv.bias[j * d : (j + 1) * d] = sd[p + f"attn.b_{n}"].reshape(d)
            b.out.weight.copy_(sd[p + "attn.W_O"].reshape(d, d).T)
            b.out.bias.copy_(sd[p + "attn.b_O"])
            b.ln1.weight.copy_(sd[p + "ln1.w"])
            b.ln1.bias.copy_(sd[p + "ln1.b"])
            b.ln2.weight.copy_(sd[p + "ln2.w"])
            b.ln2.bias.copy_(sd[p + "ln2.b"])
            b.fc.weight.copy_(sd[p + "mlp.W_in"].T)
            b.fc.bias.copy_(sd[p + "mlp.b_in"])
            b.proj.weight.copy_(sd[p + "mlp.W_out"].T)
            b.proj.bias.copy_(sd[p + "mlp.b_out"])
    return model


def corpus_key(tokenizer) -> dict[str, str | None]:  # noqa: ANN001
    """What a token cache was made from: the corpus file's sha256 (None where the cache came without it, as on an
    accelerator, which gets the tokens alone) and the tokenizer's."""
    return {
        "corpus": file_sha256(cache_dir() / "corpus_train.jsonl"),
        "tokenizer": hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode()).hexdigest(),
    }


def corpus_tokens(tokenizer) -> tuple[torch.Tensor, list[int]]:  # noqa: ANN001
    """The tokenized training documents as one int16 tensor and document offsets (cached). A cache made from another
    corpus or tokenizer is made again (with the document kinds beside it), so a rebuilt corpus or tokenizer in the
    same cache folder cannot train on stale tokens; a cache from before keys were stored is trusted only where the
    corpus file is absent."""
    path, key = cache_dir() / "corpus_tokens.pt", corpus_key(tokenizer)
    if path.exists():
        cached = torch.load(path)
        stored = cached.get("key") if isinstance(cached, dict) else None
        if isinstance(cached, dict) and (
            (stored is None and key["corpus"] is None)
            or (
                stored is not None
                and stored["tokenizer"] == key["tokenizer"]
                and key["corpus"] in (None, stored["corpus"])
            )
        ):
            return cached["flat"], cached["offsets"]
        print("token cache made from another corpus or tokenizer: tokenizing again")
    texts = [d["text"] for d in read_jsonl(cache_dir() / "corpus_train.jsonl")]
    docs = tokenizer(texts, add_special_tokens=False)["input_ids"]
    offsets = [0]
    for d in docs:
        offsets.append(offsets[-1] + len(d))
    flat = torch.tensor([t for d in docs for t in d], dtype=torch.int16)  # d_vocab < 32768
    torch.save({"flat": flat, "offsets": offsets, "key": key}, path)
    (cache_dir() / "corpus_kinds.json").unlink(missing_ok=True)  # build_rows writes it again from this corpus
    return flat, offsets


def parse_repeat(spec: str) -> dict[str, int]:
    """`antonym=3,translation=2` -> {"antonym": 3, "translation": 2}."""
    return {k: int(v) for k, v in (part.split("=") for part in spec.split(",") if part)}


def build_rows(tokenizer, n_ctx: int, seed: int, repeat: dict[str, int] | None = None) -> torch.Tensor:  # noqa: ANN001
    """Token rows of one epoch: documents shuffled with `seed`, BOS before each, cut into n_ctx rows.

    `repeat` maps a document kind (text, interleaved, codeswitch, antonym, translation) to how many times
    its documents appear (default once)."""
    flat, offsets = corpus_tokens(tokenizer)
    docs = [flat[offsets[i] : offsets[i + 1]].int() for i in range(len(offsets) - 1)]
    idx = list(range(len(docs)))
    if repeat:
        kinds_path = cache_dir() / "corpus_kinds.json"
        if not kinds_path.exists():
            kinds_path.write_text(json.dumps([d["kind"] for d in read_jsonl(cache_dir() / "corpus_train.jsonl")]))
        kinds = json.loads(kinds_path.read_text())
        idx = [i for i in idx for _ in range(repeat.get(kinds[i], 1))]
    g = torch.Generator().manual_seed(seed)
    order = [idx[j] for j in torch.randperm(len(idx), generator=g).tolist()]
    bos = torch.tensor([tokenizer.bos_token_id], dtype=torch.int32)
    stream = torch.cat([t for i in order for t in (bos, docs[i])])
    n = stream.numel() // (n_ctx - 1)
    body = stream[: n * (n_ctx - 1)].view(n, n_ctx - 1)
    return torch.cat([bos.expand(n, 1), body], 1).long()


def train_step(
    model: GPT, opt: torch.optim.Optimizer, x: torch.Tensor, penalty: Callable[[], torch.Tensor] | None = None
) -> torch.Tensor:
    """One next-token update on rows `x` (gradient norm clipped to 1), plus `penalty()` if given; returns the
    next-token loss. Shared with transfer_probe.py."""
    logits = model(x[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    (loss + penalty() if penalty is not None else loss).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.detach()


def table_tokens(tok, homographs: bool = True) -> list[list[tuple[int, str]]]:  # noqa: ANN001
    """Per translation-equivalent triple of the tables (words.tsv and both sides of every antonym pair), its
    one-token spellings (bare, as after a quote, and after a space) with their language. Without `homographs`,
    words that are also function or template words stay out: a tied `est` (east) is also French "is", a tied
    `是` (yes) the copula of the Chinese wordings."""
    triples = [dict(w) for w in load_words()]
    triples += [{lang: p["pair"][lang][i] for lang in LANGS} for p in antonym_plan() for i in (0, 1)]
    out = []
    for triple in triples:
        tokens = []
        for lang, word in triple.items():
            if not homographs and (word.lower() in AMBIGUOUS or in_training_wordings(word)):
                continue
            for variant in (word, " " + word):
                piece = tok(variant, add_special_tokens=False)["input_ids"]
                if len(piece) == 1:
                    tokens.append((piece[0], lang))
        out.append(tokens)
    return out


def token_languages(tok) -> dict[int, set[str]]:  # noqa: ANN001
    """The languages each one-token table word is spelled in (` long` is English and French), homographs
    included: only the tokens of aligned_groups are looked up in it."""
    langs: dict[int, set[str]] = {}
    for tokens in table_tokens(tok):
        for t, lang in tokens:
            langs.setdefault(t, set()).add(lang)
    return langs


def aligned_groups(tok, homographs: bool = True) -> list[list[int]]:  # noqa: ANN001
    """Token ids of translation-equivalent table words, grouped (table_tokens).

    Spellings shared between triples merge their groups. Only groups spanning two or more languages are kept.
    The recipe keeps the homographs because the v3 and v4 models were trained so; sweep.py's round 3 compares
    (the model card has the numbers)."""
    parent: dict[int, int] = {}

    def find(t: int) -> int:
        while parent.setdefault(t, t) != t:
            t = parent[t]
        return t

    langs_of: dict[int, set[str]] = {}
    for tokens in table_tokens(tok, homographs):
        for t, lang in tokens:
            langs_of.setdefault(t, set()).add(lang)
        for t, _ in tokens[1:]:
            parent[find(t)] = find(tokens[0][0])
    groups: dict[int, list[int]] = {}
    for t in parent:
        groups.setdefault(find(t), []).append(t)
    return [sorted(g) for g in groups.values() if len(set().union(*(langs_of[t] for t in g))) >= 2]


def tie_rows(model: GPT, groups: list[list[int]]) -> None:
    """Start every aligned group's embedding and unembedding rows equal (each group's first member's)."""
    with torch.no_grad():
        for g in groups:
            for w in (model.wte.weight, model.head.weight):
                w[g[1:]] = w[g[0]].clone()


def group_table(groups: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """The groups as a padded [groups, largest group] table of token ids and its mask of real members."""
    width = max(map(len, groups))
    members = torch.tensor([g + [g[0]] * (width - len(g)) for g in groups])
    mask = torch.tensor([[1.0] * len(g) + [0.0] * (width - len(g)) for g in groups])
    return members, mask


def language_table(groups: list[list[int]], langs_of: dict[int, set[str]]) -> torch.Tensor:
    """group_table's layout holding each member's language as an index into LANGS; len(LANGS) means no single
    language: a token spelled alike in two languages (` long`), which language_fit gives no offset, or padding."""
    width = max(map(len, groups))
    index = {lang: i for i, lang in enumerate(LANGS)}
    rows = []
    for g in groups:
        row = [index[next(iter(langs_of[t]))] if len(langs_of.get(t, ())) == 1 else len(LANGS) for t in g]
        rows.append(row + [len(LANGS)] * (width - len(g)))
    return torch.tensor(rows)


def language_fit(deviation: torch.Tensor, languages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The part of the rows' `deviation` from their group mean ([groups, members, d]) that one offset per
    language explains: the least-squares fit of group means plus offsets, done on the group-centred rows with
    group-centred language indicators (Frisch-Waugh-Lovell). Tokens of no single language are the reference
    level (offset 0; 4 in the shipped groups pin down the offsets' common part, the small ridge does otherwise);
    0 on padding. Sums are reductions and matrix products, no atomic adds (as in alignment_penalty); on a GPU the
    solve waits for the device once a step, and TF32 matmuls make the fit approximate."""
    one_hot = F.one_hot(languages, len(LANGS) + 1)[..., : len(LANGS)].to(deviation.dtype) * mask[..., None]
    language_share = one_hot.sum(1) / mask.sum(1, keepdim=True)  # [groups, languages]
    centred = (one_hot - language_share[:, None]) * mask[..., None]
    gram = torch.einsum("gml,gmk->lk", centred, centred)
    ridge = 1e-6 * gram.diagonal().sum() * torch.eye(len(LANGS), dtype=gram.dtype, device=gram.device)
    offsets = torch.linalg.solve(gram + ridge, torch.einsum("gml,gmd->ld", centred, deviation * mask[..., None]))
    return centred @ offsets


def alignment_penalty(
    model: GPT,
    members: torch.Tensor,
    mask: torch.Tensor,
    weights: tuple[float, float] = (1.0, 1.0),
    out_languages: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean squared distance of aligned rows from their group's mean, per unit of the initial squared row norm,
    summed over the embedding and the unembedding with `weights`: 0 when tied, about 0.7 per matrix for
    independent random rows.

    With `out_languages` (language_table), an unembedding row is measured from the least-squares fit of its
    group's mean plus an offset shared by every word of its language (language_fit): one direction per language
    is then free, so the model can choose the answer's language for all words at once while the rest of each
    row stays tied. Tokens of two languages get no offset.

    Rows are looked up with `F.embedding` over a padded table and group means are masked sums along it, so no
    step adds into shared memory with atomics: the CUDA backward is deterministic (an index_add_ and an indexed
    gather made tied GPU runs differ between repeats)."""
    total = model.wte.weight.new_zeros(())
    for w, weight in zip((model.wte.weight, model.head.weight), weights, strict=True):
        if not weight:
            continue
        rows = F.embedding(members, w)  # [groups, largest group, d]
        means = (rows * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        deviation = rows - means[:, None]
        if w is model.head.weight and out_languages is not None:
            deviation = deviation - language_fit(deviation, out_languages, mask)
        dist = (deviation**2).sum(-1) * mask
        total = total + weight * dist.sum() / mask.sum() / (0.02**2 * w.shape[1])
    return total


class ParallelText:
    """Aligned training lines (data.py's parallel_train.jsonl; no reference or UDHR line), tokenized, for the
    sentence-level alignment loss. Lines shorter than `min_chars` in English or longer than `max_tokens` in any
    language are left out, so both sides of a pair are whole."""

    def __init__(self, tok, max_tokens: int = 48, min_chars: int = 12) -> None:  # noqa: ANN001
        rows = [r for r in read_jsonl(cache_dir() / "parallel_train.jsonl") if len(r["en"]) >= min_chars]
        ids = {l: tok([r[l] for r in rows], add_special_tokens=False)["input_ids"] for l in LANGS}
        keep = [i for i in range(len(rows)) if all(0 < len(ids[l][i]) <= max_tokens for l in LANGS)]
        self.ids = {l: [ids[l][i] for i in keep] for l in LANGS}
        self.min_chars, self.max_tokens = min_chars, max_tokens
        self.bos = tok.bos_token_id
        self.pad = tok.pad_token_id if tok.pad_token_id is not None else 0

    def __len__(self) -> int:
        return len(self.ids["en"])

    def batch(self, langs: tuple[str, str], n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`n` random pairs in `langs`: token rows (BOS first, right-padded; the first n rows in langs[0], the
        next n their translations in langs[1]) and a mask of the positions to pool (not BOS, not padding)."""
        pick = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n].tolist()
        seqs = [[self.bos, *self.ids[l][i]] for l in langs for i in pick]
        width = max(map(len, seqs))
        rows = torch.full((len(seqs), width), self.pad, dtype=torch.long)
        mask = torch.zeros(len(seqs), width)
        for j, q in enumerate(seqs):
            rows[j, : len(q)] = torch.tensor(q)
            mask[j, 1 : len(q)] = 1.0
        return rows, mask


PAIRS = (("en", "fr"), ("en", "zh"), ("fr", "zh"))


def parallel_alignment_loss(
    model: GPT, rows: torch.Tensor, mask: torch.Tensor, layers: tuple[int, ...], temperature: float
) -> torch.Tensor:
    """In-batch contrastive (InfoNCE) loss that makes a line's mean residual stream, at each of `layers`, closer to
    its translation's than to the other lines' translations. Each language's batch mean is taken out first, so
    the loss is about content, and what tells the languages apart is left to the model."""
    res = model.residuals(rows, max(layers) + 1)
    m = mask[..., None]
    total = rows.new_zeros((), dtype=torch.float)
    for layer in layers:
        pooled = (res[layer] * m).sum(1) / m.sum(1)
        a, b = pooled.chunk(2)
        a, b = F.normalize(a - a.mean(0), dim=-1), F.normalize(b - b.mean(0), dim=-1)
        logits = a @ b.T / temperature
        target = torch.arange(a.shape[0], device=rows.device)
        total = total + (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    return total / len(layers)


def parallel_weight(step: int, weight: float, start: int) -> float:
    """The parallel loss's weight at `step`: 0 before `start`, then growing linearly to `weight` over `start` steps
    (at initialisation every line pools alike, and the loss's gradient is about 20 times next-token's)."""
    if step < start:
        return 0.0
    return weight * min(1.0, (step - start + 1) / max(1, start))


def ema_of(model: GPT, decay: float) -> AveragedModel:
    """An exponential moving average of the model's weights (torch's AveragedModel), which copies them on its first
    `update_parameters` (the start of annealing): a candidate for steadier held-out scores late in training, where
    they swing from one evaluation to the next (the card's *Weight averaging*). The average is `.module`."""
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay)).eval().requires_grad_(False)


def export(model: GPT, cfg: dict, o: Path) -> None:
    from safetensors.torch import save_file

    sd = {k: v.half() for k, v in to_transformer_lens(model, cfg).items()}
    save_file(sd, str(o / "model.safetensors"))
    (o / "config.json").write_text(json.dumps(cfg, indent=1))
    for f in ("model.safetensors", "config.json"):
        (o / f).chmod(0o644)


def main() -> None:
    from transformers import PreTrainedTokenizerFast

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--max-minutes", type=float, default=None, help="a time budget: sets the steps with --steps 0, else stops early"
    )
    ap.add_argument(
        "--steps",
        type=int,
        default=STEPS,
        help="number of steps (0: as many as --max-minutes allows); on resume, replaces the stored one",
    )
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=6e-3)
    ap.add_argument("--d-model", type=int, default=CFG["d_model"], help="width (heads of 32 dimensions)")
    ap.add_argument("--n-layers", type=int, default=CFG["n_layers"])
    ap.add_argument("--repeat", default=REPEAT, help="document kinds repeated in the main phase, e.g. antonym=2")
    ap.add_argument("--anneal-repeat", default=ANNEAL_REPEAT, help="document kinds repeated while annealing")
    ap.add_argument(
        "--anneal-frac",
        type=float,
        default=0.4,
        help="last fraction of the steps drawn from a mix with the task documents repeated",
    )
    ap.add_argument(
        "--align-init",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="start the embedding and unembedding rows of translation-equivalent table words equal",
    )
    ap.add_argument(
        "--align-weight",
        type=float,
        default=ALIGN_WEIGHT,
        help="weight of a penalty pulling those rows towards their group's mean during training (0: none); "
        "the unembedding's too unless --align-weight-out",
    )
    ap.add_argument(
        "--align-weight-out",
        type=float,
        default=None,
        help="the penalty's weight on the unembedding rows (default: --align-weight)",
    )
    ap.add_argument(
        "--align-homographs",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also tie table words that are function or template words elsewhere (est, 是), as the v3 and v4 recipes do",
    )
    ap.add_argument(
        "--align-language-offset",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure each unembedding row from its group's mean plus a shared offset per language, so the answer's "
        "language is free while the word stays tied (alignment_penalty; the v4 recipe, off in v3)",
    )
    ap.add_argument(
        "--align-parallel",
        type=float,
        default=ALIGN_PARALLEL,
        help="weight of a contrastive loss pulling the mean residual stream of a training line towards its "
        "translation's at --align-parallel-layers (parallel_alignment_loss; 0: none, as up to v5)",
    )
    ap.add_argument(
        "--align-parallel-layers",
        default="2,3",
        help="layers (resid_post) the parallel loss acts on",
    )
    ap.add_argument("--align-parallel-pairs", type=int, default=16, help="line pairs per step for the parallel loss")
    ap.add_argument(
        "--align-parallel-from",
        type=int,
        default=600,
        help="first step of the parallel loss, whose weight then grows linearly over as many steps again (before it, "
        "the run is v5's: at initialisation all lines pool alike and the loss's gradient is 20 times next-token's)",
    )
    ap.add_argument(
        "--seed",
        type=int,
        default=SEED,
        help="seed of the weights' initialisation (the data order, parallel batches included, keeps SEED)",
    )
    ap.add_argument(
        "--ema-decay",
        type=float,
        default=EMA_DECAY,
        help="export an exponential moving average of the weights, kept from the start of annealing (0: the last "
        "step's weights, as up to v4); quick_eval scores it beside the last step's (eval keys ema/...), which are "
        "exported to <run dir>/last_step",
    )
    ap.add_argument("--ckpt-minutes", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda to search settings on an accelerator")
    ap.add_argument("--eval-every", type=int, default=0, help="run quick_eval every N steps (0: never)")
    ap.add_argument("--run-dir", type=Path, help="checkpoint, export and log here (default: cache and output)")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    args = ap.parse_args()
    if args.steps == 0 and args.max_minutes is None:
        ap.error("--steps 0 needs --max-minutes")
    train(args, PreTrainedTokenizerFast.from_pretrained(str(out_dir())))


def train(args: argparse.Namespace, tok) -> None:  # noqa: ANN001
    torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.manual_seed(args.seed)
    t_start = time.time()
    dev = torch.device(args.device)
    cfg = dict(
        CFG,
        d_vocab=len(tok),
        d_model=args.d_model,
        n_heads=args.d_model // 32,
        d_mlp=4 * args.d_model,
        n_layers=args.n_layers,
    )
    run_dir = args.run_dir or out_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    model = GPT(cfg).to(dev)
    weights = (args.align_weight, args.align_weight if args.align_weight_out is None else args.align_weight_out)
    groups = aligned_groups(tok, args.align_homographs) if args.align_init or any(weights) else []
    if groups:
        print(f"aligned groups: {len(groups)} ({sum(map(len, groups))} tokens)")
    if args.align_init:
        tie_rows(model, groups)
    penalty = None
    if any(weights):
        members, mask = (t.to(dev) for t in group_table(groups))
        languages = language_table(groups, token_languages(tok)).to(dev) if args.align_language_offset else None

        def penalty() -> torch.Tensor:
            return alignment_penalty(model, members, mask, weights, languages)

    par_layers = tuple(int(k) for k in args.align_parallel_layers.split(",")) if args.align_parallel else ()
    if not all(0 <= k < cfg["n_layers"] for k in par_layers):
        raise SystemExit(
            f"--align-parallel-layers {args.align_parallel_layers}: layers run from 0 to {cfg['n_layers'] - 1}"
        )
    parallel = ParallelText(tok) if args.align_parallel else None
    if parallel is not None:
        print(f"parallel alignment: {len(parallel)} line triples, layers {par_layers}, weight {args.align_parallel}")
    par_loss: list[torch.Tensor] = []

    def extra(step: int) -> Callable[[], torch.Tensor] | None:
        """The step's penalties besides next-token loss: the table words' tie and the parallel lines' alignment."""
        weight = parallel_weight(step, args.align_parallel, args.align_parallel_from)
        if parallel is None or weight == 0:
            return penalty
        par_rows, par_mask = parallel.batch(PAIRS[step % 3], args.align_parallel_pairs, SEED * 100003 + step)

        def both() -> torch.Tensor:
            aux = parallel_alignment_loss(model, par_rows.to(dev), par_mask.to(dev), par_layers, PARALLEL_TEMPERATURE)
            par_loss.append(aux.detach())
            return weight * aux + (penalty() if penalty is not None else 0.0)

        return both

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.05)
    ckpt_path = (args.run_dir or cache_dir()) / "model_ckpt.pt"
    state = {"step": 0, "total_steps": args.steps, "elapsed": 0.0, "log": [], "evals": []}
    if ckpt_path.exists() and not args.fresh:
        ck = torch.load(ckpt_path, weights_only=False, map_location=dev)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        if args.steps:
            state["total_steps"] = args.steps  # extend or shorten the schedule of a resumed run
        print(f"resumed at step {state['step']} of {state['total_steps']}")
    ema = ema_of(model, args.ema_decay) if args.ema_decay else None
    if ema is not None and ckpt_path.exists() and not args.fresh and "ema" in ck:
        ema.load_state_dict(ck["ema"])
    quick = None
    if args.eval_every:
        from quick_eval import QuickEval

        quick = QuickEval(tok, device=args.device)
    main_repeat, anneal_repeat = parse_repeat(args.repeat), parse_repeat(args.anneal_repeat)
    epoch = -1
    rows = None
    anneal_rows = None
    warm = 100
    bs = args.batch_size
    t_seg = time.time()
    last_ckpt = time.time()
    model.train()

    def save() -> None:
        nonlocal t_seg
        state["elapsed"] += time.time() - t_seg
        t_seg = time.time()
        ck = {"model": model.state_dict(), "opt": opt.state_dict(), "state": state}
        started = ema is not None and ema.n_averaged > 0
        if started:
            ck["ema"] = ema.state_dict()
            (run_dir / "last_step").mkdir(exist_ok=True)
            export(model, cfg, run_dir / "last_step")
        torch.save(ck, ckpt_path)
        export(ema.module if started else model, cfg, run_dir)

    while True:
        step = state["step"]
        at_end = step == state["total_steps"]
        due = quick is not None and step and (step % args.eval_every == 0 or at_end)
        if quick and due and not any(e["step"] == step for e in state["evals"]):
            scores = quick(model)
            if ema is not None and ema.n_averaged > 0:
                scores |= {f"ema/{k}": v for k, v in quick(ema.module).items()}
            state["evals"].append({"step": step, **scores})
            print("eval", json.dumps(state["evals"][-1]), flush=True)
        if state["total_steps"] and step >= state["total_steps"]:
            break
        if step == 5 and not state["total_steps"]:
            t_rate = time.time()
        if step == 30 and not state["total_steps"]:
            rate = (time.time() - t_rate) / 25  # seconds per step, measured on steps 5-30
            state["total_steps"] = max(100, int((args.max_minutes * 60 - (time.time() - t_start)) / (rate * 1.04)) + 30)
            print(f"{rate:.2f} s/step -> {state['total_steps']} steps")
        a_start = int((1 - args.anneal_frac) * state["total_steps"]) if state["total_steps"] else 10**9
        if step >= a_start:
            if anneal_rows is None:
                anneal_rows = build_rows(tok, cfg["n_ctx"], SEED + 1000, anneal_repeat)
                print(f"annealing from step {a_start}: {anneal_rows.shape[0]} rows, repeats {anneal_repeat}")
            j0 = ((step - a_start) * bs) % anneal_rows.shape[0]
            x = anneal_rows[j0 : j0 + bs]
            if x.shape[0] < bs:
                x = torch.cat([x, anneal_rows[: bs - x.shape[0]]])
        elif rows is None:
            rows = build_rows(tok, cfg["n_ctx"], SEED, main_repeat)
            epoch = 0
        if step < a_start:
            e = (step * bs) // rows.shape[0]
            if e != epoch:
                rows, epoch = build_rows(tok, cfg["n_ctx"], SEED + e, main_repeat), e
                print(f"epoch {epoch}: {rows.shape[0]} rows")
            i0 = (step * bs) % rows.shape[0]
            x = rows[i0 : i0 + bs]
            if x.shape[0] < bs:
                x = torch.cat([x, rows[: bs - x.shape[0]]])
        x = x.to(dev)
        total = state["total_steps"] or 10**9
        lr = (
            args.lr * (step + 1) / warm
            if step < warm
            else args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm)))))
        )
        for gr in opt.param_groups:
            gr["lr"] = lr
        loss = train_step(model, opt, x, extra(step))
        if ema is not None and step >= a_start:
            ema.update_parameters(model)
        state["step"] += 1
        if step % 25 == 0:
            el = state["elapsed"] + time.time() - t_seg
            state["log"].append([step, round(loss.item(), 4), round(el, 1)])
            if par_loss:
                # log row: step, that step's next-token loss, seconds, and the parallel loss's mean since the last row
                state["log"][-1].append(round(torch.stack(par_loss).mean().item(), 4))
                par_loss.clear()
            if step % 100 == 0 or args.device == "cpu":
                aux = f" parallel {state['log'][-1][3]:.3f}" if len(state["log"][-1]) > 3 else ""
                print(f"step {step}/{total} loss {loss.item():.3f}{aux} lr {lr:.2e} {el / 60:.1f} min", flush=True)
        if time.time() - last_ckpt > args.ckpt_minutes * 60:
            save()
            last_ckpt = time.time()
        if args.max_minutes is not None and state["elapsed"] + time.time() - t_seg > args.max_minutes * 60 + 180:
            print("time limit reached before the planned steps; stopping")
            break
    save()
    summary = {
        "steps": state["step"],
        "batch_size": bs,
        "n_ctx": cfg["n_ctx"],
        "tokens": state["step"] * bs * cfg["n_ctx"],
        "minutes": state["elapsed"] / 60,
        "device": args.device,
        "final_loss": state["log"][-1][1] if state["log"] else None,
        "lr": args.lr,
        "repeat": main_repeat,
        "anneal_repeat": anneal_repeat,
        "anneal_frac": args.anneal_frac,
        "seed": args.seed,
        "ema_decay": args.ema_decay,
        "exported": "ema" if ema is not None and ema.n_averaged > 0 else "last_step",
        "align_init": args.align_init,
        "align_weight": args.align_weight,
        "align_weight_out": weights[1],
        "align_homographs": args.align_homographs,
        "align_language_offset": args.align_language_offset,
        "aligned_groups": len(groups),
        "aligned_tokens": sum(map(len, groups)),
        "align_parallel": args.align_parallel,
        **(
            {}
            if parallel is None
            else {
                "align_parallel_layers": list(par_layers),
                "align_parallel_pairs": args.align_parallel_pairs,
                "align_parallel_from": args.align_parallel_from,
                "parallel_lines": len(parallel),
                "parallel_filters": {
                    "min_chars_en": parallel.min_chars,
                    "max_tokens": parallel.max_tokens,
                    "pairs": ", ".join("-".join(p) for p in PAIRS) + " by turns",
                },
                "parallel_sha256": file_sha256(cache_dir() / "parallel_train.jsonl"),
                "parallel_temperature": PARALLEL_TEMPERATURE,
            }
        ),
        "config": cfg,
        "corpus_sha256": file_sha256(cache_dir() / "corpus_train.jsonl"),
        "evals": state["evals"],
    }
    ((args.run_dir or cache_dir()) / "train_model.json").write_text(json.dumps(summary, indent=1))
    print(f"done: {state['step']} steps in {state['elapsed'] / 60:.1f} min")


if __name__ == "__main__":
    main()
