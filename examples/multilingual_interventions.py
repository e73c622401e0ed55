"""Three feature swaps on the demo model, with features picked from the activations, not by hand.

For each experiment we take two prompts that differ in one thing (the operand, the output language, the
operation), find the features active at the token position where they differ, then on the first prompt
suppress the features only it has (scale by -1) and set the features only the second has to their values there.
We report the top next token before and after, with attention frozen (every layer constrained: what the
attribution graph describes) and with the real model recomputing freely, and say whether it worked.

Run: python examples/multilingual_interventions.py
"""

from __future__ import annotations

import babelgraph as bg
from babelgraph.analysis.intervene import Edit, intervene
from babelgraph.model.replacement import tokenize, trace


def swap_edits(model: bg.ReplacementModel, prompt: str, other: str, pos: int, other_pos: int) -> list[Edit]:
    """Suppress features active only in ``prompt`` at ``pos``; implant those active only in ``other``."""
    mine = trace(model, *tokenize(model, prompt))
    theirs = trace(model, *tokenize(model, other))
    edits = []
    for k, d in enumerate(model.dictionaries):
        a, b = mine.activations[k][pos], theirs.activations[k][other_pos]
        only_a = ((a > 0) & (b == 0)).nonzero().flatten().tolist()
        if only_a:
            edits.append(Edit(d.layer, only_a, -1.0, "scale", [pos], name="suppress"))
        for f in ((b > 0) & (a == 0)).nonzero().flatten().tolist():
            edits.append(Edit(d.layer, f, float(b[f]), "set", [pos], name="implant"))
    return edits


def experiment(model: bg.ReplacementModel, title: str, prompt: str, other: str, pos: int, wanted: str) -> None:
    edits = swap_edits(model, prompt, other, pos, pos)
    n_feats = sum(len(e.feature_list) for e in edits)
    print(f"\n== {title}\n   prompt {prompt!r}\n   donor  {other!r}  ({n_feats} features edited at position {pos})")
    for freeze in (True, False):
        result = intervene(model, prompt, edits, freeze_attention=freeze, top_k=3)
        (before, p_before), (after, p_after) = result.before[0], result.after[0]
        worked = "WORKED" if after.strip() == wanted else "did not work"
        label = "frozen (all layers constrained)" if freeze else "free (real model)"
        print(f"   {label:32s} {before!r} {p_before:.3f} -> {after!r} {p_after:.3f}   wanted {wanted!r}: {worked}")
        print(f"   {'':32s} after, top 3: {[(t, round(p, 3)) for t, p in result.after]}")


def main() -> None:
    model = bg.load_model("demo")
    experiment(
        model, "operand swap: small -> hot", 'The opposite of "small" is "', 'The opposite of "hot" is "', 5, "cold"
    )
    experiment(
        model,
        "output language swap: French -> Chinese (features at the last token)",
        'English: "snow" - Français: "',
        'English: "snow" - 中文: "',
        -1,
        "雪",
    )
    experiment(
        model,
        "operation swap: antonym -> translation (features at the last token)",
        'English: "small" - Français: "',
        'The opposite of "small" is "',
        -1,
        "big",
    )


if __name__ == "__main__":
    main()
