"""The logit lens: what the residual stream after each layer would predict if the model stopped there.

Following "Do Llamas Work in English?" (Wendler et al., 2024), each layer's residual stream at the last position
goes through the model's final norm and unembedding; we report, per layer, the probability of the answer in the
target language and of its English counterpart (each summed over the tokens that begin the word) and the entropy
of the whole distribution. A task mode averages this over a word table with a 95% confidence band.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch

from babelgraph.errors import BabelgraphError
from babelgraph.files import atomic_path
from babelgraph.languages.tasks import LANGUAGES, antonym_prompt, read_table, translation_prompt
from babelgraph.model.replacement import Prompt, ReplacementModel, residual_logits, token_strings, tokenize

TASKS = ("translation", "repetition", "antonym")


@dataclass
class LensResult:
    """Per-layer answer probabilities and entropy (bits); ``layers[0]`` is the embeddings, ``layers[l+1]`` the
    residual stream after block ``l``, so the last entry is the model's own prediction.

    ``low``/``high`` (and ``entropy_low``/``entropy_high``) are the 95% band (mean +- 1.96 sem) over prompts;
    for a single prompt they equal the values.
    """

    layers: list[int]
    probabilities: dict[str, list[float]]  # answer label (language) -> per-layer probability
    entropy: list[float]
    low: dict[str, list[float]]
    high: dict[str, list[float]]
    entropy_low: list[float]
    entropy_high: list[float]
    prompts: list[str]
    answers: list[dict[str, str]]  # per prompt: label -> word
    top_tokens: list[str] = field(default_factory=list)  # per layer, top token of the first prompt
    title: str = ""

    @property
    def n_prompts(self) -> int:
        return len(self.prompts)

    def rows(self) -> list[dict[str, float | int | str]]:
        """One flat row per layer, as written to CSV/JSON."""
        rows: list[dict[str, float | int | str]] = []
        for i, layer in enumerate(self.layers):
            row: dict[str, float | int | str] = {"layer": layer}
            for label in self.probabilities:
                row[f"p_{label}"] = self.probabilities[label][i]
                row[f"p_{label}_low"] = self.low[label][i]
                row[f"p_{label}_high"] = self.high[label][i]
            row["entropy_bits"] = self.entropy[i]
            row["entropy_low"] = self.entropy_low[i]
            row["entropy_high"] = self.entropy_high[i]
            if self.top_tokens:
                row["top_token"] = self.top_tokens[i]
            rows.append(row)
        return rows

    def format_table(self) -> str:
        labels = list(self.probabilities)
        header = "layer " + " ".join(f"{'p(' + label + ')':>9}" for label in labels) + "  entropy  top"
        lines = [header]
        for row in self.rows():
            probs = " ".join(f"{float(row[f'p_{label}']):9.4f}" for label in labels)
            lines.append(f"{row['layer']:>5} {probs}  {float(row['entropy_bits']):7.3f}  {row.get('top_token', '')!r}")
        return "\n".join(lines)


# ---- which tokens begin a word ------------------------------------------------------------------------------
class _Vocabulary:
    """The decoded, stripped vocabulary, sorted so that "tokens that begin a word" is a few dictionary/bisect
    look-ups instead of a scan of the whole vocabulary per word."""

    def __init__(self, model: ReplacementModel) -> None:
        n = int(model.model.cfg.d_vocab)
        strings = token_strings(model, torch.arange(n))
        special = set(getattr(model.model.tokenizer, "all_special_ids", []) or [])
        self.by_string: dict[str, list[int]] = {}
        for i, s in enumerate(strings):
            s = s.strip()
            if s and i not in special and "\ufffd" not in s:
                self.by_string.setdefault(s, []).append(i)
        self.sorted = sorted(self.by_string)

    def beginning(self, word: str) -> list[int]:
        """Tokens t with ``word.startswith(t)`` or ``t.startswith(word)`` (t decoded and stripped)."""
        ids: set[int] = set()
        for end in range(1, len(word) + 1):
            ids.update(self.by_string.get(word[:end], ()))
        start = bisect.bisect_left(self.sorted, word)
        while start < len(self.sorted) and self.sorted[start].startswith(word):
            ids.update(self.by_string[self.sorted[start]])
            start += 1
        return sorted(ids)


_VOCABULARIES: dict[int, _Vocabulary] = {}


def answer_tokens(model: ReplacementModel, word: str) -> list[int]:
    """The vocabulary tokens that begin ``word``; an empty word or one no token begins is an error."""
    word = word.strip()
    if not word:
        raise BabelgraphError("an answer word is empty: give e.g. --answer zh=雪")
    if model.model.tokenizer is None:
        raise BabelgraphError("this model has no tokenizer, so answer words cannot be matched to tokens")
    key = id(model.model)
    if key not in _VOCABULARIES:
        _VOCABULARIES[key] = _Vocabulary(model)
    ids = _VOCABULARIES[key].beginning(word)
    if not ids:
        raise BabelgraphError(f"no token of this model's vocabulary begins the answer {word!r}")
    return ids


# ---- the lens -----------------------------------------------------------------------------------------------
def layer_logits(model: ReplacementModel, prompts: list[Prompt]) -> torch.Tensor:
    """``[n_prompts, n_layers + 1, d_vocab]`` lens logits at each prompt's last position: the embeddings, then
    the residual stream after every block. Prompts run right-padded in one batch: the model is causal, so
    padding after a prompt's last token changes nothing before it."""
    token_lists = [tokenize(model, prompt)[0] for prompt in prompts]
    lengths = torch.tensor([len(t) for t in token_lists], device=model.device)
    tokens = torch.nn.utils.rnn.pad_sequence(token_lists, batch_first=True, padding_value=int(token_lists[0][0]))
    return residual_logits(model, tokens, lengths - 1)


Sample = tuple[torch.Tensor, torch.Tensor, list[str]]


def _lens_many(
    model: ReplacementModel, prompts: list[Prompt], answers: list[dict[str, str]], chunk: int = 16
) -> list[Sample]:
    """Per prompt: probabilities ``[n_answers, layers]``, entropies ``[layers]`` (bits) and top tokens."""
    samples: list[Sample] = []
    for start in range(0, len(prompts), chunk):
        logits = layer_logits(model, prompts[start : start + chunk]).double()
        probs = torch.softmax(logits, dim=-1)
        entropy = torch.special.entr(probs).sum(-1) / math.log(2)
        for i, words in enumerate(answers[start : start + chunk]):
            ids = [answer_tokens(model, word) for word in words.values()]
            answer_probs = torch.stack([probs[i][:, index].sum(-1) for index in ids])
            samples.append((answer_probs, entropy[i], token_strings(model, probs[i].argmax(-1))))
    return samples


def _summarise(
    samples: list[Sample],
    labels: list[str],
    prompts: list[str],
    answers: list[dict[str, str]],
    title: str,
) -> LensResult:
    probs = torch.stack([s[0] for s in samples])  # [n, labels, layers]
    entropy = torch.stack([s[1] for s in samples])  # [n, layers]
    n = len(samples)

    def band(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean = x.mean(0)
        sem = x.std(0, unbiased=True) / math.sqrt(n) if n > 1 else torch.zeros_like(mean)
        return mean, mean - 1.96 * sem, mean + 1.96 * sem

    p_mean, p_low, p_high = band(probs)
    e_mean, e_low, e_high = band(entropy)
    return LensResult(
        layers=list(range(probs.shape[-1])),
        probabilities={label: p_mean[i].tolist() for i, label in enumerate(labels)},
        entropy=e_mean.tolist(),
        low={label: p_low[i].tolist() for i, label in enumerate(labels)},
        high={label: p_high[i].tolist() for i, label in enumerate(labels)},
        entropy_low=e_low.tolist(),
        entropy_high=e_high.tolist(),
        prompts=prompts,
        answers=answers,
        top_tokens=samples[0][2],
        title=title,
    )


def logit_lens(model: ReplacementModel, prompt: Prompt, answers: dict[str, str] | None = None) -> LensResult:
    """Lens one prompt. ``answers`` maps a label (usually a language code) to the answer word in that language;
    the first label is the target, and plots compare it with ``"en"``."""
    answers = dict(answers) if answers is not None else {"zh": "雪", "en": "snow"}
    if not answers:
        raise BabelgraphError("give at least one answer word, e.g. --answer zh=雪")
    for word in answers.values():
        answer_tokens(model, word)  # fail on a bad answer before running anything
    sample = _lens_many(model, [prompt], [answers])[0]
    text = prompt if isinstance(prompt, str) else "".join(token_strings(model, tokenize(model, prompt)[0]))
    return _summarise([sample], list(answers), [text], [answers], title=repr(text)[-60:])


# ---- task mode ----------------------------------------------------------------------------------------------
def task_prompts(
    task: str, source: str, target: str, n_demos: int = 4, seed: int = 0
) -> list[tuple[str, dict[str, str]]]:
    """``(prompt, answers)`` for every word of the task's table: ``n_demos`` random completed examples, then
    the query. Translation goes ``source`` -> ``target``; repetition and antonym use ``target`` only."""
    if task not in TASKS:
        raise BabelgraphError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    for language in (source, target):
        if language not in LANGUAGES:
            raise BabelgraphError(f"unknown language {language!r}: choose one of {', '.join(LANGUAGES)}")
    if n_demos < 0:
        raise BabelgraphError("n_demos must be at least 0")
    rng = random.Random(seed)
    if task == "antonym":
        pairs = [(row[f"{target}_a"], row[f"{target}_b"], row["en_b"]) for row in read_table("antonyms.tsv")]

        def query(a: str) -> str:
            return antonym_prompt(target, a)
    else:
        src = target if task == "repetition" else source
        pairs = [(row[src], row[target], row["en"]) for row in read_table("words.tsv")]

        def query(a: str) -> str:
            return translation_prompt(src, target, a)

    def line(a: str, b: str) -> str:
        return query(a) + b + '"'

    out = []
    for i, (a, b, english) in enumerate(pairs):
        others = [p for j, p in enumerate(pairs) if j != i]
        demos = rng.sample(others, min(n_demos, len(others)))
        prompt = "\n".join([line(x, y) for x, y, _ in demos] + [query(a)])
        answers = {target: b} if target == "en" else {target: b, "en": english}
        out.append((prompt, answers))
    return out


def lens_task(
    model: ReplacementModel,
    task: str = "translation",
    source: str = "fr",
    target: str = "zh",
    n_demos: int = 4,
    seed: int = 0,
    max_words: int | None = None,
) -> LensResult:
    """Average the lens over a task's word table (its first ``max_words`` usable words, default all), keeping
    only words where target and English are told apart: the English form is not contained in the target word
    and no token begins both."""
    prompts: list[Prompt] = []
    answers: list[dict[str, str]] = []
    for prompt, words in task_prompts(task, source, target, n_demos, seed):
        if max_words is not None and len(prompts) >= max_words:
            break
        if target != "en":
            if words["en"] in words[target]:
                continue
            try:
                overlap = set(answer_tokens(model, words[target])) & set(answer_tokens(model, words["en"]))
            except BabelgraphError:
                continue  # a word this vocabulary cannot begin
            if overlap:
                continue
        else:
            try:
                answer_tokens(model, words[target])
            except BabelgraphError:
                continue
        prompts.append(prompt)
        answers.append(words)
    if not prompts:
        raise BabelgraphError(f"no word of the {task} table is usable for {source}->{target} with this model")
    if "en" in answers[0] and len(answers) > 1:
        _add_english_control(model, answers)
    samples = _lens_many(model, prompts, answers)
    labels = list(answers[0])
    name = f"{source}->{target}" if task == "translation" else target
    texts = [str(p) for p in prompts]
    return _summarise(samples, labels, texts, answers, title=f"{task} {name}, {len(samples)} words")


CONTROL = "en_control"


def _add_english_control(model: ReplacementModel, answers: list[dict[str, str]]) -> None:
    """Give every prompt a control answer: the English word of another prompt of the task (the next one that
    shares no beginning token with this prompt's answers). Its probability is the baseline for "the English word
    is ahead": a lens that favours English-looking tokens in general lifts the control as much."""
    n = len(answers)
    for i, words in enumerate(answers):
        taken = {t for w in words.values() for t in answer_tokens(model, w)}
        for step in range(1, n):
            other = answers[(i + step) % n]["en"]
            if other != words["en"] and not set(answer_tokens(model, other)) & taken:
                words[CONTROL] = other
                break
        else:
            raise BabelgraphError("no control word: the task needs English words that begin with different tokens")


# ---- output -------------------------------------------------------------------------------------------------
def save_lens_table(result: LensResult, path: str | Path) -> Path:
    """Write the per-layer rows as CSV, or as JSON (with prompts and answers) when the suffix is .json."""
    path = Path(path)
    if path.suffix not in (".csv", ".json"):
        raise BabelgraphError(f"lens table {path.name!r}: use a .csv or .json suffix")
    with atomic_path(path) as tmp:
        if path.suffix == ".json":
            payload = {
                "title": result.title,
                "layers": result.rows(),
                "prompts": result.prompts,
                "answers": result.answers,
            }
            tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
        else:
            rows = result.rows()
            with tmp.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
    return path


def save_lens_plot(result: LensResult, path: str | Path) -> Path:
    """PNG: answer probabilities per layer (with their bands) above, entropy as a strip below."""
    from babelgraph.plotting import pyplot

    plt = pyplot()

    path = Path(path)
    fig, (top, strip) = plt.subplots(
        2, 1, figsize=(6, 3.8), sharex=True, gridspec_kw={"height_ratios": [4, 1]}, constrained_layout=True
    )
    colors = ["tab:red", "tab:blue", "tab:green", "tab:purple"]
    for color, (label, values) in zip(colors, result.probabilities.items()):
        top.plot(result.layers, values, marker="o", color=color, label=label)
        top.fill_between(result.layers, result.low[label], result.high[label], color=color, alpha=0.2)
    top.set_ylabel("probability")
    top.set_ylim(-0.02, 1.02)
    top.legend(loc="upper left")
    top.set_title(f"logit lens: {result.title}", fontsize=9)
    image = torch.tensor(result.entropy)[None].numpy()
    strip.imshow(image, aspect="auto", cmap="viridis", extent=(-0.5, len(result.layers) - 0.5, 0, 1))
    for layer, value in zip(result.layers, result.entropy):
        strip.text(layer, 0.5, f"{value:.1f}", ha="center", va="center", color="white", fontsize=7)
    strip.set_yticks([])
    strip.set_ylabel("entropy\n(bits)", fontsize=8)
    strip.set_xlabel("layer (0 = embeddings)")
    strip.set_xticks(result.layers)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
