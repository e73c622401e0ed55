"""Text of MODEL_CARD.md, filled in from measured results (see `evaluate.py`)."""

from __future__ import annotations

from demo_model_v1.common import ANTONYM_TEMPLATES, HELD_OUT_FRACTION, SEED
from demo_model_v1.corpus import MIX, N_TRAIN_DOCS, N_VAL_DOCS, TEXT_LANG_WEIGHTS
from demo_model_v1.train_model import DEFAULT_BATCH, DEFAULT_LR, DEFAULT_STEPS, N_CTX

REBUILD = "PYTHONPATH=scripts python -m demo_model_v1"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _minutes(times: dict, key: str) -> str:
    return f"{times[key] / 60:.1f} min" if key in times else "not recorded"


def render(res: dict, stats: dict, times: dict, sizes: dict, machine: str) -> str:
    d = res["dictionaries"]
    chars = stats.get("chars", {})
    tokens = stats.get("tokens", {})
    corpus_rows = "\n".join(f"| {k} | {v:,} | {tokens.get(k, 0):,} |" for k, v in chars.items())
    canon = "\n".join(
        f"| `{c['prompt']}` | `{c['expected']}` | `{c['top1']}` | {c['p_expected']:.3f} |"
        for c in res["canonical"].values()
    )
    ant = "\n".join(
        f"| {lang} | {_pct(res['antonym_trained'][lang])} | {_pct(res['antonym_heldout'][lang])} | "
        f"{res['antonym_heldout_p'][lang]:.3f} |"
        for lang in ("en", "fr", "zh")
    )
    trans = "\n".join(f"| {k} | {_pct(v)} |" for k, v in res["translation"].items())
    loss = "\n".join(f"| {k} | {v:.3f} |" for k, v in res["heldout_loss"].items())
    tc_rows = "\n".join(
        f"| {t['layer']} | `{t['hook_name']}` | {t['d_sae']} | {t['l0']:.1f} | {t['fvu']:.3f} | "
        f"{_pct(t['dead_fraction'])} | {t.get('test_fvu_bound', float('nan')):.2f} |"
        for t in d["transcoders"]
    )
    sae_rows = "\n".join(
        f"| {s['layer']} | `{s['hook_name']}` | {s['d_sae']} | {s['k']} | {s['l0']:.1f} | {s['fvu']:.3f} | "
        f"{s['spliced_loss']:.3f} | {100 * s['loss_recovered']:.2f}% | {_pct(s['dead_fraction'])} | "
        f"{s.get('test_fvu_bound', float('nan')):.2f} |"
        for s in d["residual_saes"]
    )
    held = ", ".join(f"{a}/{b}" for a, b in res["heldout_pairs"])
    templates = "\n".join(f"  - {lang}: " + "; ".join(f"`{t}`" for t in ts) for lang, ts in ANTONYM_TEMPLATES.items())
    tokens_seen = DEFAULT_STEPS * DEFAULT_BATCH * N_CTX
    total_mb = sizes["model"] + sizes["transcoders"] + sizes["residual_saes"]
    size_line = (
        f"model {sizes['model']:.1f} MB, transcoders {sizes['transcoders']:.1f} MB, "
        f"residual SAEs {sizes['residual_saes']:.1f} MB; total {total_mb:.1f} MB"
    )
    return f"""# babelgraph demo model

A small GPT-2-style transformer (transformer_lens `HookedTransformer`) trained from scratch on a
generated English/French/Chinese corpus, with a skip transcoder on every MLP and a TopK SAE on every
residual stream. It exists so that babelgraph's attribution graphs, multilingual tagging, logit lens
and interventions can be run and tested on a laptop CPU, offline. It knows a few hundred words and two
tasks (antonyms and word translation); it is not a general language model.

All numbers below are measured by `PYTHONPATH=scripts python -m demo_model_v1.evaluate`, which rewrites this
file and `eval_results.json`.

## Rebuild

```
{REBUILD}
```

(from the repository root; once the package is installed, `PYTHONPATH=scripts python -m demo_model_v1`). It runs
`corpus` -> `tokenizer` -> `train_model` -> `train_dictionaries` -> `evaluate`, each also runnable
alone as `PYTHONPATH=scripts python -m demo_model_v1.<step>`. Generated corpora and checkpoints go to
`~/.cache/babelgraph/demo-build` (or `$BABELGRAPH_DEMO_CACHE`), never into the package; training
resumes from the checkpoint there (delete that folder for a rebuild from scratch). Everything is
seeded (seed {SEED}) and single-threaded; `train_model --max-minutes N` stops early and still exports.

Build times on this machine ({machine}; 2-core CPU shared with other work, `torch.set_num_threads(1)`):
corpus {_minutes(times, "corpus")}, tokenizer {_minutes(times, "tokenizer")},
transformer {_minutes(times, "train_model")}, dictionaries {_minutes(times, "train_dictionaries")},
evaluation {_minutes(times, "evaluate")}.

## Model

| field | value |
|---|---|
| layers / d_model / heads x d_head / d_mlp | 4 / 192 / 6 x 32 / 768 |
| context, vocabulary | 128 tokens, 4,096 |
| normalisation, activation, positions | LayerNorm, GELU, learned absolute |
| parameters | {res["n_params"]:,} |
| training | {DEFAULT_STEPS:,} steps x {DEFAULT_BATCH} rows x {N_CTX} tokens ({tokens_seen / 1e6:.1f}M tokens), AdamW \
(peak lr {DEFAULT_LR:g}, warm-up then cosine to a tenth, weight decay 0.05), seed {SEED} |
| files | `config.json` (HookedTransformerConfig fields), `model.safetensors` (float16, upcast on load) |
| size on disk | {size_line} |

Load it with `babelgraph.demo.load_demo_transformer()` (or `babelgraph.load_model("demo")`); the
dictionary folders are listed by `babelgraph.demo.demo_dictionary_dirs("transcoders" | "residual")`.

Tokenizer: byte-level BPE trained with `tokenizers` on the training corpus (4,096 entries including
`<|bos|>` and `<|endoftext|>`); every Chinese character of the corpus and of the word tables is one
token, so `小`, `大` and every Chinese answer is a single token. It is a Hugging Face fast tokenizer
whose post-processor prepends `<|bos|>`, so `model.to_tokens(prompt)` starts with BOS. English and
French words follow the opening quote without a leading space (`"big"` -> `"`, `big`, `"`).

## Data card

Sources: only the two hand-checked word tables shipped in `babelgraph/data/` (`antonyms.tsv`, 56
antonym pairs; `words.tsv`, 109 nouns, colours and numbers; credited in `babelgraph/data/README.md`).
No external running text was used (a deliberate choice for this first build): it keeps the build
free of extra packages and of share-alike terms (most running-text sources the project's notes list
are CC-BY-SA, GPL or GFDL), and it spends the one-thread training budget on the two tasks.
The running text is therefore **templated** from the same word tables (12 sentence templates per
language, e.g. `I saw a {{noun}} and a {{noun}} near the {{noun}}.`,
`Nous avons parlé de {{noun}} et de {{noun}} toute la journée.`, `我看见了{{noun}}和{{noun}}。`): simple,
sometimes odd sentences (no articles or gender agreement in French), but real per-language text for
monolinguality scores and feature-overlap baselines. Licence of the generated corpus: same as the
project; nothing third-party is in it.

Documents ({N_TRAIN_DOCS:,} training, {N_VAL_DOCS:,} validation with another seed), drawn with shares
{", ".join(f"{k} {_pct(v)}" for k, v in MIX.items())}; running text in en/fr/zh with weights
{", ".join(f"{k} {v}" for k, v in TEXT_LANG_WEIGHTS.items())} (by tokens that is about half English and a
quarter each French and Chinese, as intended):

| kind/language | characters | tokens |
|---|---|---|
{corpus_rows}

- **Antonyms**: zero-shot lines and few-shot blocks (2-6 lines of the same language), both directions
  of each pair, canonical template 60% of the time, variants otherwise:
{templates}
- **Held-out pairs** ({_pct(HELD_OUT_FRACTION)} of the table, seeded choice, `small` never held out): {held}.
  Their antonym task appears in English only; their French and Chinese words still appear in
  translation lines and running text.
- **Translation**: `Français: "neige" - 中文: "雪"` lines in all six directions plus repetition lines
  (`English: "snow" - English: "snow"`, 15% of blocks), zero-shot and few-shot blocks, over the 109
  table words and both words of every antonym pair (221 triples).
- Training rows: documents each prefixed with `<|bos|>`, packed greedily into 128-token rows that
  always start at a document (so every row starts at BOS, like an evaluation prompt).

## Behaviour

Canonical prompts (top-1 token and probability of the expected first token):

| prompt | expected | top-1 | p(expected) |
|---|---|---|---|
{canon}

Antonym top-1 accuracy (canonical template, both directions of each pair; an answer counts when the
top-1 token is the first token of the expected word). "Held-out" pairs were trained in English only,
so their French and Chinese columns measure cross-lingual transfer:

| language | trained pairs | held-out pairs | held-out: mean p(answer) |
|---|---|---|---|
{ant}

Translation top-1 accuracy per direction (all 221 triples; any correct translation of an ambiguous
source word counts):

| direction | accuracy |
|---|---|
{trans}

Held-out loss (nats per token, validation documents):

| documents | loss |
|---|---|
{loss}

## Dictionaries

Trained with babelgraph's own short loop (`train_dictionaries.py`) on activations from about 150k
corpus tokens (BOS positions excluded) and saved with sae_lens' `save_model`; load each folder with
`sae_lens.SAE.load_from_disk(path)`. Metrics are on validation rows (BOS positions excluded from
L0/FVU and left unspliced in loss measurements). FVU = residual sum of squares / total sum of squares
about the mean. "Test bound" is the FVU that `tests/test_demo_model.py` holds each dictionary to on
a few prompts.

Transcoders (`SkipTranscoder`, ReLU, `hook_name = blocks.{{l}}.ln2.hook_normalized`,
`hook_name_out = blocks.{{l}}.hook_mlp_out`; L1 penalty steered to a mean L0 of about 24):

| layer | hook_name | width | mean L0 | FVU | dead | test bound |
|---|---|---|---|---|---|---|
{tc_rows}

All four transcoders spliced in at once (errors removed): loss {d["all_transcoders_spliced_loss"]:.3f}
vs clean {d["clean_loss"]:.3f} and all MLPs zero-ablated {d["all_mlps_zero_ablated_loss"]:.3f}:
**loss recovered {_pct(d["all_transcoders_loss_recovered"])}**.

Residual-stream SAEs (`TopKSAE`, `hook_name = blocks.{{l}}.hook_resid_post`, unit-norm decoder rows),
each spliced in alone (loss recovered against zero-ablating that residual stream; clean loss
{d["clean_loss"]:.3f}):

| layer | hook_name | width | k | mean L0 | FVU | spliced loss | loss recovered | dead | test bound |
|---|---|---|---|---|---|---|---|---|---|
{sae_rows}

## Limits

- Tiny vocabulary of facts: outside the word tables and templates the model says little of use.
- The running text is templated, not natural; loss on it says how well the model learnt the templates.
- No cross-lingual transfer of the antonym task: on the pairs trained in English only, the French and
  Chinese prompts do not give the antonym (see the held-out columns above). Graphs of held-out pairs
  show what the model does instead, which is itself a useful negative example.
- Dead or rarely-active dictionary features exist (column "dead": never active on the validation rows).
"""
