"""The seed experiments on SmolLM2-135M-Instruct with babelgraph's trained dictionaries; figures for docs/smollm2.md.

Stages (``--only`` picks some; results accumulate in docs/smollm2_results.json):
  lens       logit lens on French->English and English->French word translation (the bundled word table, 4
             demonstrations per prompt), and on the single antonym prompt in French
  graphs     the antonym graphs in English, French and Chinese: top logits, node counts, replacement and
             completeness scores, time
  compare    the EN/FR/ZH comparison of "small"/"petit"/"小" with concept-controlled tags
  intervene  ablate the features the English graph puts on the "small" token (constrained replacement model and
             the real model with free attention) and compare p(large) with ablating as many other active
             features at the same position

Run (after ``babelgraph fetch smollm2``): PYTHONPATH=src python scripts/smollm2/experiments.py [--only lens]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

import babelgraph as bg
from babelgraph.analysis.intervene import Edit, intervene
from babelgraph.analysis.lens import lens_task, logit_lens, save_lens_plot
from babelgraph.languages.compare import compare
from babelgraph.model.replacement import tokenize, trace

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
RESULTS = DOCS / "smollm2_results.json"
PROMPTS = {"en": 'The opposite of "small" is "', "fr": 'Le contraire de "petit" est "', "zh": '"小"的反义词是"'}


def load_results() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}


def save_results(results: dict) -> None:
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False))


def lens(model, results: dict, max_words: int) -> None:  # noqa: ANN001
    out = {}
    for source, target in (("fr", "en"), ("en", "fr")):
        t = time.time()
        result = lens_task(model, "translation", source, target, max_words=max_words)
        save_lens_plot(result, DOCS / f"smollm2_lens_{source}_{target}.png")
        out[f"{source}->{target}"] = {"n_prompts": result.n_prompts, "rows": result.rows(), "s": time.time() - t}
        print(result.format_table(), flush=True)
    single = logit_lens(model, PROMPTS["fr"], {"fr": "grand", "en": "large"})
    save_lens_plot(single, DOCS / "smollm2_lens_petit.png")
    out["petit"] = {"rows": single.rows()}
    print(single.format_table(), flush=True)
    results["lens"] = out


def summary(graph, pruned, seconds: float) -> dict:  # noqa: ANN001
    scores = pruned.metadata["scores"]
    return {
        "tokens": len(graph.tokens),
        "top_logits": [(n.token, round(float(n.probability), 4)) for n in graph.logit_nodes],
        "unpruned": graph.node_counts() | {"edges": graph.n_edges},
        "pruned": pruned.node_counts() | {"edges": pruned.n_edges},
        "scores": scores,
        "seconds": round(seconds, 1),
    }


def graphs(model, results: dict, out: Path) -> None:  # noqa: ANN001
    out = {}
    for lang, prompt in PROMPTS.items():
        t = time.time()
        graph = bg.attribute(model, prompt, progress=False)
        pruned = bg.prune(graph)
        out[lang] = summary(graph, pruned, time.time() - t)
        pruned.save(out / f"opposite_{lang}.safetensors")
        print(lang, json.dumps(out[lang], ensure_ascii=False), flush=True)
    results["graphs"] = out


def comparison(model, results: dict, n_controls: int, out: Path) -> None:  # noqa: ANN001
    t = time.time()
    comp = compare(model, PROMPTS, n_controls=n_controls, statistics=False, progress=False)
    by_layer = comp.counts_by_layer()
    results["compare"] = {
        "counts": comp.counts(),
        "counts_by_layer": {str(k): v for k, v in by_layer.items()},
        "robustness": comp.robustness(),
        "notes": comp.notes,
        "n_controls": n_controls,
        "seconds": round(time.time() - t, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare_small.json").write_text(json.dumps(comp.to_dict(), indent=1, ensure_ascii=False, default=str))
    print(json.dumps({k: results["compare"][k] for k in ("counts", "counts_by_layer", "seconds")}), flush=True)
    plot_compare(results)


def plot_compare(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_layer = {int(k): v for k, v in results["compare"]["counts_by_layer"].items()}
    layers = list(by_layer)
    tags = [tag for tag in next(iter(by_layer.values())) if any(row[tag] for row in by_layer.values())]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bottom = [0] * len(layers)
    for tag in tags:
        values = [by_layer[layer][tag] for layer in layers]
        ax.bar([str(layer) for layer in layers], values, bottom=bottom, label=tag)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xlabel("layer (residual SAE)")
    ax.set_ylabel("features in the pruned graphs")
    ax.set_title('SmolLM2-135M: "small" / "petit" / zh (xiao), features by tag (en+fr+zh graphs)', fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    fig.savefig(DOCS / "smollm2_compare_small.png", dpi=110)


def intervention(model, results: dict, n_random: int) -> None:  # noqa: ANN001
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prompt = PROMPTS["en"]
    graph = bg.attribute(model, prompt, progress=False)
    pruned = bg.prune(graph)
    position = max(i for i, s in enumerate(graph.token_strings) if "small" in s)
    large = model.model.tokenizer.encode("large", add_special_tokens=False)[0]
    tr = trace(model, *tokenize(model, prompt))
    influence: dict[tuple[int, int], float] = {}  # (layer, feature) -> influence; active but pruned away: 0
    for d, a in zip(model.dictionaries, tr.activations):
        for f in torch.nonzero(a[position] > 0).flatten().tolist():
            influence[(d.layer, f)] = 0.0
    for node in pruned.nodes:
        if node.kind == "feature" and node.position == position:
            influence[(node.layer, node.feature)] = float(node.influence or 0.0)
    ranked = sorted(influence, key=lambda key: -influence[key])
    in_graph = [key for key in ranked if influence[key] > 0]

    def run(keys: list[tuple[int, int]]) -> dict:
        groups: dict[int, list[int]] = {}
        for layer, feature in keys:
            groups.setdefault(layer, []).append(feature)
        edits = [Edit(layer, feats, 0.0, "scale", [position]) for layer, feats in groups.items()]
        row: dict = {"n": len(keys)}
        for mode, frozen in (("constrained", True), ("free", False)):
            res = intervene(model, prompt, edits, freeze_attention=frozen)
            row[mode] = {
                "p_large_before": float(res.probs_before[large]),
                "p_large_after": float(res.probs_after[large]),
                "top_after": res.after[:3],
            }
        return row

    rows: dict[str, dict] = {f"all {len(in_graph)} graph features": run(in_graph)}
    for n in (1, 3, 10):
        rows[f"top {n} by influence"] = run(ranked[:n])
        rows[f"bottom {n} active"] = run(ranked[-n:])
    rng = random.Random(0)
    rows["random controls"] = [run(rng.sample(ranked, min(10, len(ranked)))) for _ in range(n_random)]
    out = {
        "prompt": prompt,
        "position": position,
        "token": graph.token_strings[position],
        "active_features_at_position": len(ranked),
        "graph_features_at_position": len(in_graph),
        "ranked": [[layer, feature, influence[(layer, feature)]] for layer, feature in ranked],
        "ablations": rows,
    }
    results["intervention"] = out
    print(json.dumps(rows, ensure_ascii=False, default=str)[:3000], flush=True)

    labels, free, constrained = [], [], []
    for label, row in rows.items():
        for i, r in enumerate(row if isinstance(row, list) else [row]):
            labels.append(label if not isinstance(row, list) else f"random 10 #{i + 1}")
            free.append(r["free"]["p_large_after"])
            constrained.append(r["constrained"]["p_large_after"])
    before = rows[next(iter(rows))]["free"]["p_large_before"]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], free, width=0.4, label="real model (free attention)")
    ax.bar([i + 0.2 for i in x], constrained, width=0.4, label="constrained replacement")
    ax.axhline(before, color="k", lw=0.8, ls="--", label="no ablation")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel('p("large")')
    ax.set_title(f'SmolLM2-135M: ablating features on "small" ({prompt!r})', fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(DOCS / "smollm2_intervention.png", dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", default=["lens", "graphs", "compare", "intervene"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--graphs-out", type=Path, default=Path("babelgraph-out") / "smollm2", help="pruned graphs")
    ap.add_argument("--max-words", type=int, default=40, help="words per lens task")
    ap.add_argument("--n-controls", type=int, default=4, help="control prompts per language for the tags")
    ap.add_argument("--n-random", type=int, default=3, help="random-feature control ablations")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = None if args.only == ["plots"] else bg.load_model("smollm2")
    results = load_results()
    results["machine"] = f"2-core shared CPU, {args.threads} thread(s), {time.strftime('%Y-%m-%d')}"
    for stage in args.only:
        t = time.time()
        {
            "lens": lambda: lens(model, results, args.max_words),
            "graphs": lambda: graphs(model, results, args.graphs_out),
            "compare": lambda: comparison(model, results, args.n_controls, args.graphs_out),
            "intervene": lambda: intervention(model, results, args.n_random),
            "plots": lambda: plot_compare(results),
        }[stage]()
        print(f"{stage}: {time.time() - t:.0f}s", flush=True)
        save_results(results)


if __name__ == "__main__":
    main()
