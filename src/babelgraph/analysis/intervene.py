"""Feature interventions: set, scale or add to dictionary features and see how the next-token distribution moves.

Two regimes (docs/method.md, "Interventions"). With attention frozen and no ``constrained_layers``, the edit runs in
the local replacement model that attribution graphs describe: every nonlinearity frozen and every layer
constrained, so an edit's effect is exactly its graph edges. Otherwise the real model runs with hooks: at each
edited dictionary's write hooks we add ``(new - old) * decoder_row``, features in ``constrained_layers`` are
clamped to their recorded values, the others recompute from whatever reaches them, and with
``freeze_attention=True`` attention patterns stay at their recorded values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from babelgraph.errors import BabelgraphError, check_finite
from babelgraph.files import atomic_path
from babelgraph.model.replacement import (
    Editor,
    Prompt,
    ReplacementModel,
    Trace,
    frozen_forward,
    run_with_edits,
    token_strings,
    tokenize,
    trace,
)

Op = Literal["set", "scale", "add"]
OPS = ("set", "scale", "add")


@dataclass
class Edit:
    """One change to some features of one dictionary.

    ``layer`` is the *model layer* of the dictionary (``Dictionary.layer``, the ``layer`` of graph nodes and the
    ``L`` in the CLI's ``L3:1234``); when several dictionaries sit at one layer, pick one with ``dictionary``
    (its index in ``model.dictionaries``), which then overrides ``layer``. ``features`` is one feature or a
    group; ``positions`` are token positions (negative counts from the end; ``None``: every non-BOS position).
    ``scale`` multiplies the recorded activation (negative values suppress), ``set`` replaces it, ``add`` adds.
    """

    layer: int
    features: int | Sequence[int]
    value: float
    op: Op = "scale"
    positions: Sequence[int] | None = None
    dictionary: int | None = None

    @property
    def feature_list(self) -> list[int]:
        return [int(self.features)] if isinstance(self.features, int) else [int(f) for f in self.features]

    def apply(self, acts: torch.Tensor, positions: list[int]) -> torch.Tensor:
        """``acts [pos, d_sae]`` with this edit applied at ``positions`` (resolved, non-negative)."""
        out = acts.clone()
        rows = torch.tensor(positions, dtype=torch.long, device=acts.device)[:, None]
        cols = torch.tensor(self.feature_list, dtype=torch.long, device=acts.device)[None, :]
        current = out[rows, cols]
        if self.op == "set":
            new = torch.full_like(current, self.value)
        elif self.op == "scale":
            new = current * self.value
        else:
            new = current + self.value
        out[rows, cols] = new
        return out


@dataclass
class InterventionResult:
    """Next-token predictions before and after, and the full distributions for further questions."""

    prompt: str
    edits: list[Edit]
    before: list[tuple[str, float]]  # top-k (token, probability)
    after: list[tuple[str, float]]
    probs_before: torch.Tensor = field(repr=False)  # [d_vocab]
    probs_after: torch.Tensor = field(repr=False)
    mode: str = ""
    warnings: list[str] = field(default_factory=list)  # e.g. an edit of features inactive where it applies

    def format(self) -> str:
        lines = [f"{'before':>28}   {'after':>28}   ({self.mode})"]
        for (tb, pb), (ta, pa) in zip(self.before, self.after):
            lines.append(f"{tb!r:>20} {pb:7.4f}   {ta!r:>20} {pa:7.4f}")
        return "\n".join(lines)


EDIT_SYNTAX = "L{layer}:{feature}[,{feature}...][@{pos}[,{pos}...]]={value}"
_EDIT = re.compile(r"^L(-?\d+):(\d+(?:,\d+)*)(?:@(-?\d+(?:,-?\d+)*))?=([^=]+)$")


def parse_edit(text: str, op: str) -> Edit:
    """Parse the CLI's edit syntax, e.g. ``L3:1234,77@-1=-2`` (layer 3, two features, last position, value -2)."""
    match = _EDIT.match(text.strip())
    value = None
    if match:
        try:
            value = float(match.group(4))
        except ValueError:
            value = None
    if not match or value is None or op not in OPS:
        raise BabelgraphError(f"cannot read edit {text!r}: write {EDIT_SYNTAX}, e.g. L3:1234@-1=-2")
    check_finite(value, f"the value of edit {text!r}")
    positions = [int(p) for p in match.group(3).split(",")] if match.group(3) else None
    features = [int(f) for f in match.group(2).split(",")]
    return Edit(int(match.group(1)), features, value, op, positions)  # type: ignore[arg-type]


def _resolve(model: ReplacementModel, edit: Edit, n_tokens: int, has_bos: bool) -> tuple[int, list[int]]:
    """(dictionary index, positions) of an edit, with every mistake a one-line BabelgraphError."""
    if edit.op not in OPS:
        raise BabelgraphError(f"unknown edit operation {edit.op!r}: use one of {', '.join(OPS)}")
    check_finite(edit.value, f"an edit's value ({edit.op} at layer {edit.layer})")
    if edit.dictionary is not None:
        if not 0 <= edit.dictionary < len(model.dictionaries):
            raise BabelgraphError(f"dictionary index {edit.dictionary} out of range (0..{len(model.dictionaries) - 1})")
        k = edit.dictionary
    else:
        matches = [k for k, d in enumerate(model.dictionaries) if d.layer == edit.layer]
        if not matches:
            layers = sorted({d.layer for d in model.dictionaries})
            raise BabelgraphError(f"no dictionary at layer {edit.layer}: this model has dictionaries at {layers}")
        if len(matches) > 1:
            raise BabelgraphError(
                f"layer {edit.layer} has {len(matches)} dictionaries (indices {matches}): pick one with dictionary="
            )
        k = matches[0]
    width = model.dictionaries[k].width
    features = edit.feature_list
    if not features:
        raise BabelgraphError("an edit names no features")
    for f in features:
        if not 0 <= f < width:
            raise BabelgraphError(f"feature {f} is out of range for the layer-{edit.layer} dictionary (width {width})")
    start = int(has_bos)
    if edit.positions is None:
        return k, list(range(start, n_tokens))
    positions = []
    for p in edit.positions:
        q = p + n_tokens if p < 0 else p
        if not start <= q < n_tokens:
            raise BabelgraphError(
                f"position {p} is outside the prompt's {n_tokens - start} tokens"
                + (" (position 0 is the BOS token)" if has_bos and q == 0 else "")
            )
        positions.append(q)
    return k, positions


def edited_activations(model: ReplacementModel, tr: Trace, edits: Sequence[Edit]) -> list[torch.Tensor]:
    """The trace's activations with every edit applied (edits apply in order)."""
    acts = [a.clone() for a in tr.activations]
    for edit in edits:
        k, positions = _resolve(model, edit, len(tr.tokens), tr.has_bos)
        acts[k] = edit.apply(acts[k], positions)
    return acts


def inactive_warnings(model: ReplacementModel, tr: Trace, edits: Sequence[Edit]) -> list[str]:
    """One message per edit that touches features whose recorded activation is 0 at every edited position.

    Scaling such a feature (or setting it to 0) changes nothing; setting or adding a nonzero value switches on a
    feature the prompt does not use there. Either way it is rarely what was meant.
    """
    messages = []
    for edit in edits:
        k, positions = _resolve(model, edit, len(tr.tokens), tr.has_bos)
        acts = tr.activations[k][positions][:, edit.feature_list]  # [positions, features]
        inactive = [f for f, active in zip(edit.feature_list, (acts != 0).any(0).tolist()) if not active]
        if not inactive:
            continue
        noop = edit.op == "scale" or (edit.op == "set" and edit.value == 0) or (edit.op == "add" and edit.value == 0)
        effect = "so this edit changes nothing" if noop else "so this edit switches them on"
        where = "@" + ",".join(str(p) for p in edit.positions) if edit.positions is not None else ""
        names = ",".join(str(f) for f in inactive)
        messages.append(
            f"--{edit.op} L{model.dictionaries[k].layer}:{names}{where}: inactive (activation 0) at every edited"
            f" position, {effect}; the prompt's graph (`babelgraph build`) lists the active features"
        )
    return messages


def _editors(model: ReplacementModel, tr: Trace, edits: Sequence[Edit]) -> dict[int, Editor]:
    """Per edited dictionary, a function applying its edits (in order) to its activations."""
    resolved = [(*_resolve(model, e, len(tr.tokens), tr.has_bos), e) for e in edits]
    editors: dict[int, Editor] = {}
    for k in dict.fromkeys(k for k, _, _ in resolved):
        mine = [(positions, e) for j, positions, e in resolved if j == k]

        def edit(acts: torch.Tensor, mine: list = mine) -> torch.Tensor:
            for positions, e in mine:
                acts = e.apply(acts, positions)
            return acts

        editors[k] = edit
    return editors


def _top(model: ReplacementModel, probs: torch.Tensor, k: int) -> list[tuple[str, float]]:
    values, ids = probs.topk(min(k, probs.shape[-1]))
    return list(zip(token_strings(model, ids), values.tolist()))


def intervene(
    model: ReplacementModel,
    prompt: Prompt,
    edits: Sequence[Edit],
    *,
    freeze_attention: bool = True,
    constrained_layers: Sequence[int] | None = None,
    top_k: int = 10,
) -> InterventionResult:
    """Apply ``edits`` and compare the next-token distribution before and after (see the module docstring for
    the regimes). ``constrained_layers`` are model layers whose features stay clamped to their recorded values."""
    tokens, has_bos = tokenize(model, prompt)
    tr = trace(model, tokens, has_bos)
    edits = list(edits)
    notes = inactive_warnings(model, tr, edits)
    if constrained_layers is None and freeze_attention:
        acts = edited_activations(model, tr, edits)
        with torch.no_grad():
            logits = frozen_forward(model, tr, 1, activations=acts, requires_grad=False).logits
        assert logits is not None
        after_logits, mode = logits[0, -1], "replacement model: nonlinearities frozen, every layer constrained"
    else:
        constrained = set(constrained_layers or [])
        after_logits = run_with_edits(
            model, tr, _editors(model, tr, edits), freeze_attention=freeze_attention, constrained_layers=constrained
        )
        attention = "frozen" if freeze_attention else "free"
        mode = f"real model: attention {attention}, constrained layers {sorted(constrained) or 'none'}"
    before = torch.softmax(tr.logits[-1].double(), -1)
    after = torch.softmax(after_logits.double(), -1)
    text = prompt if isinstance(prompt, str) else "".join(token_strings(model, tokens))
    return InterventionResult(
        text, edits, _top(model, before, top_k), _top(model, after, top_k), before, after, mode, notes
    )


# ---- sweeps -------------------------------------------------------------------------------------------------
@dataclass
class SweepResult:
    """Probability of each answer (summed over the tokens that begin it) at each edit strength."""

    strengths: list[float]
    probabilities: dict[str, list[float]]
    top_tokens: list[str]
    warnings: list[str] = field(default_factory=list)  # every distinct warning of the runs, in order


def sweep(
    model: ReplacementModel,
    prompt: Prompt,
    edit_factory: Callable[[float], Sequence[Edit]],
    strengths: Sequence[float],
    answers: Sequence[str] | dict[str, str],
    **options,
) -> SweepResult:
    """Run ``intervene`` once per strength with ``edit_factory(strength)``'s edits; ``options`` go to it."""
    from babelgraph.analysis.lens import answer_tokens

    labelled = dict(answers) if isinstance(answers, dict) else {a: a for a in answers}
    ids = {label: answer_tokens(model, word) for label, word in labelled.items()}
    probabilities: dict[str, list[float]] = {label: [] for label in labelled}
    tops = []
    notes: dict[str, None] = {}
    for strength in strengths:
        check_finite(strength, "a sweep strength")
        result = intervene(model, prompt, edit_factory(float(strength)), top_k=1, **options)
        for label, index in ids.items():
            probabilities[label].append(float(result.probs_after[index].sum()))
        tops.append(result.after[0][0])
        notes.update(dict.fromkeys(result.warnings))
    return SweepResult([float(s) for s in strengths], probabilities, tops, list(notes))


def save_sweep_plot(result: SweepResult, path: str | Path, xlabel: str = "edit strength") -> Path:
    """PNG: each answer's probability against the edit strength."""
    from babelgraph.plotting import pyplot

    plt = pyplot()

    path = Path(path)
    fig, ax = plt.subplots(figsize=(5, 3), constrained_layout=True)
    for label, values in result.probabilities.items():
        ax.plot(result.strengths, values, marker="o", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("probability")
    ax.set_ylim(-0.02, 1.02)
    ax.legend()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
