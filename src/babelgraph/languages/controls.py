"""Control prompts: the same prompt about other concepts, so a tag can tell a concept feature from a task feature.

For a prompt in language L, babelgraph finds the word-table word it is about (the longest word of L's column of
the shipped tables that occurs in it, quoted occurrences first) and swaps in a seeded sample of other words of
the same table: ``The opposite of "small" is "`` gives ``The opposite of "hot" is "``, ``... "long" ...``. A
user can pass controls instead (``compare(..., controls={"en": [...], ...})``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence

import torch

from babelgraph.languages.tasks import LANGUAGES, read_table
from babelgraph.model.replacement import ReplacementModel, dictionary_activations, tokenize

DEFAULT_N_CONTROLS = 16


def _vocabulary(lang: str) -> tuple[list[str], dict[str, str]]:
    """The table words of one language, and each antonym word's partner (never used as its control)."""
    words: list[str] = []
    partner: dict[str, str] = {}
    for row in read_table("antonyms.tsv"):
        a, b = row.get(f"{lang}_a"), row.get(f"{lang}_b")
        if a and b:
            words += [a, b]
            partner[a], partner[b] = b, a
    words += [row[lang] for row in read_table("words.tsv") if row.get(lang)]
    return list(dict.fromkeys(words)), partner


def _find(prompt: str, word: str, lang: str) -> int:
    """Where ``word`` occurs in ``prompt`` as a whole word (Chinese: anywhere); quoted occurrences first; -1."""
    boundary = "" if lang == "zh" else r"(?<!\w)"
    end = "" if lang == "zh" else r"(?!\w)"
    found = [m.start() for m in re.finditer(boundary + re.escape(word) + end, prompt)]
    quoted = [i for i in found if prompt[i - 1 : i] in "\"“«'「" and i > 0]
    return (quoted or found or [-1])[0]


def concept_word(prompt: str, lang: str) -> str | None:
    """The table word the prompt is about: the longest one it contains (quoted ones preferred)."""
    words, _ = _vocabulary(lang)
    hits = [(w, _find(prompt, w, lang)) for w in words]
    hits = [(w, i) for w, i in hits if i >= 0]
    if not hits:
        return None
    quoted = [(w, i) for w, i in hits if i > 0 and prompt[i - 1] in "\"“«'「"]
    return max(quoted or hits, key=lambda h: len(h[0]))[0]


def auto_controls(
    model: ReplacementModel, prompts: Mapping[str, str], n: int = DEFAULT_N_CONTROLS, seed: int = 0
) -> tuple[dict[str, list[str]], list[str]]:
    """Control prompts per language (a language without a table word gets none) and notes saying what was done.

    Controls are length-matched first: a control whose tokens number the same as the prompt's puts every later
    token at the same absolute position, so a feature that fires at "the closing quote at position 8" fires on
    those controls too and is not mistaken for a concept feature. Other lengths fill up to ``n`` when too few match.
    """
    controls: dict[str, list[str]] = {}
    notes: list[str] = []
    for lang, prompt in prompts.items():
        if lang not in LANGUAGES:
            notes.append(f"no control prompts for {lang}: babelgraph has word tables for {', '.join(LANGUAGES)} only")
            continue
        word = concept_word(prompt, lang)
        if word is None:
            notes.append(f"no control prompts for {lang}: the prompt contains no word of the word tables")
            continue
        words, partner = _vocabulary(lang)
        # the same table as the concept word: antonym words replace antonym words, nouns replace nouns
        antonyms = set(partner)
        pool = [w for w in words if w != word and w != partner.get(word) and (w in antonyms) == (word in antonyms)]
        at = _find(prompt, word, lang)
        candidates = [prompt[:at] + w + prompt[at + len(word) :] for w in pool]
        random.Random(f"{seed}:{lang}:{word}").shuffle(candidates)
        length = len(tokenize(model, prompt)[0])
        matched = [c for c in candidates if len(tokenize(model, c)[0]) == length]
        controls[lang] = (matched + [c for c in candidates if c not in matched])[:n]
        if len(matched) < min(n, len(candidates)):
            notes.append(f"{lang}: {len(matched)} of {len(controls[lang])} control prompts match the prompt's length")
    return controls, notes


def prompt_maxima(model: ReplacementModel, prompts: Sequence[str]) -> list[torch.Tensor]:
    """Per dictionary ``[n_prompts, width]``: each feature's max activation over each prompt's non-BOS positions.

    Prompts run right-padded in one batch (the model is causal, so padding changes nothing before it); padding
    and BOS positions are masked out.
    """
    encoded = [tokenize(model, p) for p in prompts]
    width = max(len(t) for t, _ in encoded)
    batch = torch.zeros(len(encoded), width, dtype=torch.long, device=model.device)
    valid = torch.zeros(len(encoded), width, dtype=torch.bool, device=model.device)
    for row, (tokens, has_bos) in enumerate(encoded):
        batch[row, : len(tokens)] = tokens
        valid[row, int(has_bos) : len(tokens)] = True
    acts = dictionary_activations(model, batch)
    return [a.masked_fill(~valid[..., None], 0).amax(dim=1).float().cpu() for a in acts]
