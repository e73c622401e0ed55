"""Do the shared-concept features matter? Ablate them in every language and compare with random features.

A comparison tags features; a tag is a claim. This example tests it: for each language it sets the features
tagged ``shared-concept`` (or ``specific-concept`` for that language) to zero at the positions where they fire,
and reports how much the probability of the expected answer drops, beside the same ablation of as many random
active features from the same layers and positions (20 draws: the control). It runs in the replacement model
(attention and norms frozen, every layer constrained: what the graph describes) and in the real model (free).

Run: python examples/multilingual_interventions.py [--concept hot] [--model demo]
"""

from __future__ import annotations

import argparse
import random
import statistics

import babelgraph as bg
from babelgraph.analysis.intervene import Edit, intervene
from babelgraph.languages.compare import compare
from babelgraph.languages.tasks import antonym_concepts, concept_prompts, read_table


def answers(concept: str) -> dict[str, str]:
    """The expected first word of the answer per language (the antonym in the table)."""
    row = next(r for r in read_table("antonyms.tsv") if r["en_a"] == concept)
    return {lang: row[f"{lang}_b"] for lang in ("en", "fr", "zh")}


def ablations(comparison: bg.Comparison, lang: str, tags: set[str]) -> list[Edit]:
    """Zero the tagged features at every (non-BOS) position where they fire in ``lang``."""
    edits = []
    for info in comparison.features.values():
        positions = info.evidence[lang].positions
        if info.tag.tag in tags and lang in info.tag.languages and positions:
            edits.append(Edit(info.layer, info.feature, 0.0, "set", positions, dictionary=info.dictionary_index))
    return edits


def random_ablations(comparison: bg.Comparison, lang: str, like: list[Edit], rng: random.Random) -> list[Edit]:
    """As many random active, untagged-for-this-claim features as ``like``, from the same dictionaries and
    positions (the control: does ablating *any* features that much move the answer?)."""
    graph = comparison.graphs[lang]
    chosen = {(e.dictionary, f) for e in like for f in e.feature_list}
    edits = []
    for e in like:
        pool = [
            n.feature
            for n in graph.nodes
            if n.kind == "feature"
            and n.layer == e.layer
            and n.position in e.positions
            and (e.dictionary, n.feature) not in chosen
        ]
        if pool:
            edits.append(Edit(e.layer, rng.choice(pool), 0.0, "set", e.positions, dictionary=e.dictionary))
    return edits


def p_answer(model: bg.ReplacementModel, prompt: str, edits: list[Edit], word: str, frozen: bool) -> float:
    from babelgraph.analysis.lens import answer_tokens

    result = intervene(model, prompt, edits, freeze_attention=frozen, constrained_layers=None if frozen else [])
    return float(result.probs_after[answer_tokens(model, word)].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concept", default="hot", choices=sorted(antonym_concepts()))
    parser.add_argument("--model", default="demo")
    parser.add_argument("--draws", type=int, default=20)
    args = parser.parse_args()
    model = bg.load_model(args.model)
    prompts = concept_prompts(args.concept)
    comparison = compare(model, prompts, progress=False)
    expected = answers(args.concept)
    print(f"concept {args.concept!r}: {comparison.counts()}")
    rng = random.Random(0)
    for lang, prompt in prompts.items():
        for claim, tags in (("shared-concept", {"shared-concept"}), (f"{lang}-only concept", {"specific-concept"})):
            edits = ablations(comparison, lang, tags)
            n = sum(len(e.feature_list) for e in edits)
            if not n:
                print(f"{lang} {claim:>22}: no such features")
                continue
            for frozen in (True, False):
                base = p_answer(model, prompt, [], expected[lang], frozen)
                after = p_answer(model, prompt, edits, expected[lang], frozen)
                control = [
                    p_answer(model, prompt, random_ablations(comparison, lang, edits, rng), expected[lang], frozen)
                    for _ in range(args.draws)
                ]
                mode = "replacement" if frozen else "real model"
                print(
                    f"{lang} {claim:>22} ({n} features, {mode:>11}): p({expected[lang]}) {base:.3f} -> {after:.3f};"
                    f" random features of the same layers/positions -> {statistics.mean(control):.3f}"
                    f" (min {min(control):.3f}, {args.draws} draws)"
                )


if __name__ == "__main__":
    main()
