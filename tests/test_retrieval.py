"""Translation retrieval from the residual stream (babelgraph.languages.retrieval): known answers on the demo model
and on tiny random models of two other architectures."""

from __future__ import annotations

import functools

import _tiny
import pytest
import torch

import babelgraph as bg
from babelgraph.languages.overlap import derangement
from babelgraph.languages.retrieval import top1, translation_retrieval

LINES = [
    "The sun is hot.",
    "Le chat dort sur le lit.",
    "大小",
    "The opposite of small is big, and the opposite of hot is cold.",
    "Ici, lune.",
    "我看见了山和水。",
]


@functools.lru_cache(maxsize=1)
def demo() -> bg.ReplacementModel:
    return bg.load_model("demo")


def test_top1_counts_rows_whose_best_column_is_their_own():
    assert top1(torch.eye(3)) == 1.0
    assert top1(torch.tensor([[0.0, 1.0], [1.0, 0.0]])) == 0.0
    assert top1(torch.tensor([[2.0, 1.0, 0.0], [0.0, 1.0, 2.0], [0.0, 0.0, 1.0]])) == pytest.approx(2 / 3)


TINY_LINES = [  # distinct token sequences in the tiny models' word vocabulary
    "the opposite of small is big",
    "le contraire de petit est grand",
    "hot cold",
    "chaud froid chaud",
    "small big small",
    "petit",
]


@pytest.mark.parametrize("model", ["demo", "llama", "gemma"])
def test_identical_texts_are_retrieved_at_every_layer_and_a_derangement_never(model):
    if model == "demo":
        model, lines = demo(), LINES
    else:
        hooked = _tiny.llama_style() if model == "llama" else _tiny.gemma_style()
        sae = _tiny.make_sae("topk", "blocks.1.hook_resid_post")
        model, lines = bg.load_model(hooked, [sae], check_fit=False), TINY_LINES
    same = translation_retrieval(model, {"en": lines, "xx": lines})
    assert same.n_texts == len(lines) and same.chance == pytest.approx(1 / len(lines))
    assert same.by_layer["en-xx"] == [1.0] * model.model.cfg.n_layers
    order = derangement(len(lines), seed=0)
    moved = translation_retrieval(model, {"en": lines, "xx": [lines[j] for j in order]})
    assert moved.by_layer["en-xx"] == [0.0] * model.model.cfg.n_layers  # each text finds itself, now elsewhere


def test_length_only_retriever_follows_token_counts():
    """Texts of distinct lengths paired with texts of the same lengths: length alone retrieves them all; reversed
    lengths (longest with shortest) it retrieves only the middle one."""
    words = ["sun", "moon", "river", "mountain", "snow"]
    lines = [" ".join(words[: k + 1]) for k in range(5)]
    result = translation_retrieval(demo(), {"en": lines, "xx": lines})
    assert result.length_only["en-xx"] == 1.0
    reversed_lengths = translation_retrieval(demo(), {"en": lines, "xx": lines[::-1]})
    assert reversed_lengths.length_only["en-xx"] == pytest.approx(1 / 5)


def test_retrieval_rejects_bad_input_and_formats_its_table():
    with pytest.raises(bg.BabelgraphError, match="same number of lines"):
        translation_retrieval(demo(), {"en": LINES, "fr": LINES[:-1]})
    with pytest.raises(bg.BabelgraphError, match="at least two"):
        translation_retrieval(demo(), {"en": LINES})
    with pytest.raises(bg.BabelgraphError, match="text 2 tokenizes to nothing"):
        translation_retrieval(demo(), {"en": ["The sun.", "  "], "fr": ["Le soleil.", "La lune."]})
    result = translation_retrieval(demo(), {"en": LINES, "fr": LINES, "zh": LINES})
    assert list(result.by_layer) == ["en-fr", "en-zh", "fr-zh"]
    table = result.format_table().splitlines()
    assert table[0].startswith(f"top-1 retrieval of the translation among {len(LINES)} texts")
    assert table[1].startswith("en-fr: length only") and len(table) == 4
    assert result.to_json()["pairs"]["en-zh"]["by_layer"] == result.by_layer["en-zh"]
