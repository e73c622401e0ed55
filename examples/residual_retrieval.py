"""Can a text's translation be picked out from the model's residual stream? A dictionary-free check for `overlap`.

`babelgraph overlap` asks whether translations share dictionary features. When it finds nothing, the model may
not represent them alike, or the dictionaries may miss what it shares. This asks the residual stream directly:
per layer, each text is the mean of its non-BOS residual vectors, centred per language (so the language's own
direction drops out), and a text of A "retrieves" the text of B with the highest cosine. Reported: top-1 accuracy
against chance (1 / lines) and against a length-only retriever (nearest log token count), since translations of
long texts are long and mean vectors can carry length.

Run: python examples/residual_retrieval.py src/babelgraph/demo/heldout/udhr_paragraphs [--languages en,fr,zh]
     python examples/residual_retrieval.py reference      (the shipped reference lines)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import babelgraph as bg
from babelgraph.languages.reference import encode_line, reference_texts


def mean_residuals(model: bg.ReplacementModel, lines: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """[lines, layers, d_model] mean non-BOS residual stream after each block, centred over lines; and token counts."""
    rows, counts = [], []
    n_layers = model.model.cfg.n_layers
    for line in lines:
        tokens, start = encode_line(model, line)
        with torch.no_grad():
            _, cache = model.model.run_with_cache(tokens[None], names_filter=lambda name: name.endswith("resid_post"))
        rows.append(torch.stack([cache[f"blocks.{k}.hook_resid_post"][0, start:].mean(0) for k in range(n_layers)]))
        counts.append(len(tokens) - start)
    means = torch.stack(rows).float()
    return means - means.mean(0, keepdim=True), torch.tensor(counts, dtype=torch.float)


def top1(similarity: torch.Tensor) -> float:
    """Share of rows whose highest-scoring column is their own index (the aligned translation)."""
    return (similarity.argmax(1) == torch.arange(len(similarity))).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts", help="folder with {lang}.txt (one aligned text per line), or 'reference'")
    parser.add_argument("--languages", default="en,fr,zh")
    parser.add_argument("--model", default="demo")
    args = parser.parse_args()
    languages = args.languages.split(",")
    if args.texts == "reference":
        texts = reference_texts(languages)
    else:
        texts = {
            lang: (Path(args.texts) / f"{lang}.txt").read_text(encoding="utf-8").splitlines() for lang in languages
        }
    texts = {lang: [line for line in lines if line.strip()] for lang, lines in texts.items()}
    model = bg.load_model(args.model)
    encoded = {lang: mean_residuals(model, lines) for lang, lines in texts.items()}
    n = len(texts[languages[0]])
    print(f"top-1 retrieval of the translation among {n} texts (chance {1 / n:.3f}); residual stream by layer")
    for x, a in enumerate(languages):
        for b in languages[x + 1 :]:
            (means_a, count_a), (means_b, count_b) = encoded[a], encoded[b]
            log_a, log_b = count_a.log() - count_a.log().mean(), count_b.log() - count_b.log().mean()
            by_length = top1(-(log_a[:, None] - log_b[None, :]).abs())
            by_layer = [
                top1(
                    torch.nn.functional.normalize(means_a[:, k], dim=-1)
                    @ torch.nn.functional.normalize(means_b[:, k], dim=-1).T
                )
                for k in range(means_a.shape[1])
            ]
            print(f"{a}-{b}: length only {by_length:.3f}; layers " + " ".join(f"{v:.2f}" for v in by_layer))


if __name__ == "__main__":
    main()
