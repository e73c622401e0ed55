"""The bundled demo model loads offline, answers the canonical antonym prompts, and its dictionaries
reconstruct their activations as well as MODEL_CARD.md says."""

from __future__ import annotations

import json

import pytest
import torch

from babelgraph.demo import DEMO_DIR, demo_dictionary_dirs, load_demo_transformer

CANONICAL = {
    "en": ('The opposite of "small" is "', "big"),
    "fr": ('Le contraire de "petit" est "', "grand"),
    "zh": ('"小"的反义词是"', "大"),
}
FEW_PROMPTS = [
    'The opposite of "hot" is "cold"',
    'Le contraire de "chaud" est "froid"',
    '"热"的反义词是"冷"',
    'Français: "neige" - 中文: "雪"',
    "The river is near the mountain. 我看见了山和水。 Nous avons parlé de neige.",
]


@pytest.fixture(scope="module")
def model():  # noqa: ANN201
    model = load_demo_transformer(device="cpu")
    for parameter in model.parameters():  # no autograd graph, without touching global torch state
        parameter.requires_grad_(False)
    return model


@pytest.fixture(scope="module")
def card_results() -> dict:
    return json.loads((DEMO_DIR / "eval_results.json").read_text(encoding="utf-8"))


def test_loads_with_bos_and_float32(model) -> None:  # noqa: ANN001
    toks = model.to_tokens('"小"的反义词是"')
    assert toks[0, 0].item() == model.tokenizer.bos_token_id
    assert model.W_E.dtype == torch.float32
    assert model.cfg.n_layers == len(demo_dictionary_dirs("transcoders")) == len(demo_dictionary_dirs("residual"))


@pytest.mark.parametrize("lang", ["en", "fr", "zh"])
def test_canonical_antonym_prompts(model, lang: str) -> None:  # noqa: ANN001
    prompt, answer = CANONICAL[lang]
    top = int(model(model.to_tokens(prompt))[0, -1].argmax())
    expected = model.tokenizer(answer, add_special_tokens=False)["input_ids"][0]
    assert top == expected, f"{prompt!r} -> {model.tokenizer.decode(top)!r}, expected {answer!r}"


def _fvu(pred: torch.Tensor, target: torch.Tensor) -> float:
    return float((pred - target).pow(2).sum() / (target - target.mean(0)).pow(2).sum())


@pytest.mark.parametrize("kind", ["transcoders", "residual"])
def test_dictionaries_reconstruct_within_card_bounds(model, card_results: dict, kind: str) -> None:  # noqa: ANN001
    from sae_lens import SAE, SkipTranscoder, TopKSAE

    card = card_results["dictionaries"]["transcoders" if kind == "transcoders" else "residual_saes"]
    dirs = demo_dictionary_dirs(kind)
    saes = [SAE.load_from_disk(d) for d in dirs]
    names = [s.cfg.metadata.hook_name for s in saes]
    if kind == "transcoders":
        names += [s.cfg.metadata.hook_name_out for s in saes]
    tokens = [model.to_tokens(p)[0] for p in FEW_PROMPTS]
    acts: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    for t in tokens:
        _, cache = model.run_with_cache(t[None], names_filter=names)
        for n in names:
            acts[n].append(cache[n][0, 1:])  # BOS excluded, as in training
    for layer, (sae, row) in enumerate(zip(saes, card, strict=True)):
        assert isinstance(sae, SkipTranscoder if kind == "transcoders" else TopKSAE)
        assert sae.cfg.metadata.hook_name.startswith(f"blocks.{layer}.")
        x = torch.cat(acts[sae.cfg.metadata.hook_name])
        y = torch.cat(acts[sae.cfg.metadata.hook_name_out]) if kind == "transcoders" else x
        with torch.no_grad():
            fvu = _fvu(sae(x), y)
        assert fvu < row["test_fvu_bound"], f"{dirs[layer]}: FVU {fvu:.3f} >= bound {row['test_fvu_bound']}"
        l0 = float((sae.encode(x) > 0).sum(-1).float().mean())
        assert 1 <= l0 <= 3 * row["l0"] + 5


def test_udhr_overlap_targets_are_what_babelgraph_overlap_measures(card_results: dict) -> None:
    """The card's UDHR overlap table and targets are recomputed here from the shipped model and paragraphs: every
    cell of both measures, and each target met exactly when the plain IoU's lower bounds at the middle layers are
    above 0."""
    import babelgraph as bg
    from babelgraph.languages.overlap import feature_overlap

    folder = DEMO_DIR / "heldout" / "udhr_paragraphs"
    texts = {lang: (folder / f"{lang}.txt").read_text(encoding="utf-8").splitlines() for lang in ("en", "fr", "zh")}
    model = bg.load_model("demo", check_fit=False)
    for measure in ("iou", "idf"):
        shipped = card_results["overlap_udhr_paragraphs"][measure]
        assert len(texts["en"]) == shipped["n_pairs"] == 50
        result = feature_overlap(model, texts, baseline_seed=0, measure=measure, baseline="length")
        assert shipped["middle_layers"] == [2, 3] and result.layers == [0, 1, 2, 3, 4, 5]
        for row in result.rows():
            key = "tokens" if row["dictionary"] == "tokens" else str(row["layer"])
            cell = shipped["pairs"][row["pair"]][key]
            for statistic in ("difference", "difference_low", "difference_high"):
                assert row[statistic] == pytest.approx(cell[statistic], abs=1e-6), (measure, row["pair"], key)
    plain = card_results["overlap_udhr_paragraphs"]["iou"]
    for pair in ("en-fr", "en-zh", "fr-zh"):
        target = card_results["targets"][f"transcoders_udhr_overlap_middle_layers/{pair}"]
        lowest = min(plain["pairs"][pair][str(k)]["difference_low"] for k in plain["middle_layers"])
        assert target["value"] == lowest and target["met"] == (lowest > 0)


def test_udhr_retrieval_beside_the_overlap_targets_is_what_the_shipped_model_gives(card_results: dict) -> None:
    """The card's dictionary-free row (top-1 retrieval of each UDHR paragraph's translation by layer) is recomputed
    from the shipped model."""
    import babelgraph as bg
    from babelgraph.languages.retrieval import translation_retrieval

    folder = DEMO_DIR / "heldout" / "udhr_paragraphs"
    texts = {lang: (folder / f"{lang}.txt").read_text(encoding="utf-8").splitlines() for lang in ("en", "fr", "zh")}
    shipped = card_results["retrieval_udhr_paragraphs"]
    got = translation_retrieval(bg.load_model("demo", check_fit=False), texts).to_json()
    assert shipped["n_texts"] == got["n_texts"] == 50
    for pair, values in shipped["pairs"].items():
        assert got["pairs"][pair]["length_only"] == pytest.approx(values["length_only"])
        # one near-tied argmax may flip under another thread count or BLAS: at most one text in 50 per layer
        assert got["pairs"][pair]["by_layer"] == pytest.approx(values["by_layer"], abs=1 / 50 + 1e-6)
