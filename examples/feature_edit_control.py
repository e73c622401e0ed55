"""Does editing this feature move the answer more than editing its neighbours would? A control for `intervene`.

`babelgraph intervene` shows what one edit does; a claim that a feature matters needs the same edit of comparable
features beside it. This example builds each canonical prompt's pruned graph, applies the edit (scale by `--value`,
or set to 0 with `--value 0 --op set`) to the named feature(s) at the answer position, and applies the same edit to
every other feature of the same layer that is in the graph at that position, one at a time: the control. It reports
p(answer) (the answer's first token, as `intervene --answer` does) in the replacement model (attention and norms
frozen, every layer constrained: what the graph describes) and in the real model (attention free), with the control's
mean and its three lowest, with the features that gave them.

Run: python examples/feature_edit_control.py L4:99 [--value -4] [--op scale] [--model demo]
     python examples/feature_edit_control.py L4:99,653 --value 0 --op set   (two features edited together)
"""

from __future__ import annotations

import argparse
import statistics

import babelgraph as bg
from babelgraph.analysis.intervene import Edit, intervene

CANONICAL = (
    ('The opposite of "small" is "', "big"),
    ('Le contraire de "petit" est "', "grand"),
    ('"小"的反义词是"', "大"),
)


def p_first_token(model: bg.ReplacementModel, prompt: str, edit: Edit, answer: int, frozen: bool) -> float:
    result = intervene(model, prompt, [edit], freeze_attention=frozen, constrained_layers=None if frozen else [])
    return float(result.probs_after[answer])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("features", help="L{layer}:{feature}[,{feature}...], edited together")
    parser.add_argument("--value", type=float, default=-4.0)
    parser.add_argument("--op", choices=("scale", "set", "add"), default="scale")
    parser.add_argument("--model", default="demo")
    args = parser.parse_args()
    layer_text, _, feature_text = args.features.partition(":")
    layer, features = int(layer_text.lstrip("L")), [int(f) for f in feature_text.split(",")]
    model = bg.load_model(args.model)
    for prompt, word in CANONICAL:
        graph = bg.prune(bg.attribute(model, prompt, progress=False))
        last = len(graph.tokens) - 1
        others = sorted(
            {n.feature for n in graph.nodes if n.kind == "feature" and n.layer == layer and n.position == last}
            - set(features)
        )
        answer = model.model.tokenizer(word, add_special_tokens=False)["input_ids"][0]
        for frozen in (True, False):
            p = p_first_token(model, prompt, Edit(layer, features, args.value, args.op, [-1]), answer, frozen)
            control = {
                f: p_first_token(model, prompt, Edit(layer, f, args.value, args.op, [-1]), answer, frozen)
                for f in others
            }
            base = p_first_token(model, prompt, Edit(layer, features, 1.0, "scale", [-1]), answer, frozen)
            lowest = sorted(control, key=control.get)[:3]
            mode = "replacement" if frozen else "real model"
            print(
                f"{word} ({mode:>11}): p {base:.3f} -> {p:.3f} editing L{layer}:{feature_text};"
                f" the same edit of each of {len(control)} other L{layer} graph features at that position:"
                f" mean {statistics.mean(control.values()):.3f}, lowest "
                + ", ".join(f"{control[f]:.3f} (L{layer}:{f})" for f in lowest)
            )


if __name__ == "__main__":
    main()
