"""The replacement model: a transformer_lens model with dictionaries spliced in, traced once and replayed frozen.

This is the only module that names transformer_lens hooks (the backend seam): attribution, the logit lens,
reference statistics and interventions ask it for what they need (a trace, a frozen replay, per-layer residuals,
dictionary inputs, a run with edited features) and never touch a hook themselves.

The method (docs/method.md, "Local replacement model"): run the model once and record its nonlinear parts
(attention patterns, every normalisation scale, MLP gates) and each dictionary's activations and error. Replaying
the model with those parts frozen is an affine function of the sources (feature activations, errors,
embeddings) that reproduces the original forward pass exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformer_lens import HookedTransformer

from babelgraph.errors import BabelgraphError
from babelgraph.model.dictionaries import Dictionary

Prompt = str | Sequence[int] | torch.Tensor
EMBEDDING_HOOK = "blocks.0.hook_resid_pre"
FINAL_NORM_HOOK = "ln_final.hook_normalized"


@dataclass(frozen=True)
class WritePoint:
    """One place a dictionary writes: the unit that owns an error node per position."""

    dictionary: int  # index into ReplacementModel.dictionaries
    write: int  # index into that dictionary's write_hooks
    hook: str
    layer: int


@dataclass
class ReplacementModel:
    """A ``HookedTransformer`` with its dictionaries, ordered by where they read in the forward pass.

    Construction checks the placement (every hook runs, each dictionary reads before it writes, one writer per
    hook) and lays out the write points in execution order.
    """

    model: HookedTransformer
    dictionaries: list[Dictionary]
    name: str
    settings: dict[str, Any] = field(default_factory=dict)  # how the model was loaded, beyond babelgraph's defaults
    fit: dict[str, float] = field(default_factory=dict)  # dictionary name -> reconstruction FVU on a short text
    write_points: list[WritePoint] = field(init=False)
    hook_rank: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.hook_rank = hook_order(self.model)
        _check_placement(self.dictionaries, self.hook_rank)
        self.dictionaries = sorted(self.dictionaries, key=lambda d: self.hook_rank[d.read_hook])
        points = [
            WritePoint(k, w, hook, layer_of(hook))
            for k, d in enumerate(self.dictionaries)
            for w, hook in enumerate(d.write_hooks)
        ]
        self.write_points = sorted(points, key=lambda p: (self.hook_rank[p.hook], p.dictionary))

    @property
    def n_layers(self) -> int:
        return int(self.model.cfg.n_layers)

    @property
    def device(self) -> torch.device:
        return self.model.W_U.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.W_U.dtype

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    def writes_before(self, hook: str | None) -> list[int]:
        """Indices of the write points that run before ``hook`` (all of them for ``None``: the logits)."""
        if hook is None:
            return list(range(len(self.write_points)))
        rank = self.hook_rank[hook]
        return [i for i, p in enumerate(self.write_points) if self.hook_rank[p.hook] < rank]

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "n_layers": self.n_layers,
            "d_model": int(self.model.cfg.d_model),
            "dictionaries": [d.describe() for d in self.dictionaries],
            "write_points": [{"dictionary": p.dictionary, "hook": p.hook, "layer": p.layer} for p in self.write_points],
        }


# ---- hooks ------------------------------------------------------------------------------------------------------
def hook_order(model: HookedTransformer) -> dict[str, int]:
    """Each hook's rank in the forward pass, from a one-token run (registration order is not execution order:
    a block registers ``hook_resid_pre`` after ``hook_mlp_out``)."""
    order: dict[str, int] = {}

    def record(activation: torch.Tensor, hook: Any) -> None:
        order.setdefault(hook.name, len(order))

    with torch.no_grad():
        token = torch.zeros(1, 1, dtype=torch.long, device=model.W_U.device)
        model.run_with_hooks(token, fwd_hooks=[(lambda name: True, record)], return_type=None)
    return order


def layer_of(hook: str) -> int:
    parts = hook.split(".")
    if parts[0] == "blocks" and len(parts) > 1 and parts[1].isdigit():
        return int(parts[1])
    raise BabelgraphError(f"hook {hook!r} is not inside a block; dictionaries must sit in blocks.N")


def hook_width(model: HookedTransformer, hook: str) -> int:
    """Flattened width of a hook's activation (``hook_z`` is heads x d_head)."""
    cfg = model.cfg
    leaf = hook.split(".")[-1]
    if leaf in ("hook_z", "hook_q", "hook_v", "hook_k"):
        return int(cfg.n_heads * cfg.d_head)
    if leaf in ("hook_pre", "hook_post", "hook_pre_linear"):
        return int(cfg.d_mlp)
    return int(cfg.d_model)


def _check_placement(dictionaries: Sequence[Dictionary], rank: dict[str, int]) -> None:
    """Every hook runs, each dictionary reads before it writes, and no hook has two writers."""
    seen: set[str] = set()
    for d in dictionaries:
        for hook in (d.read_hook, *d.write_hooks):
            if hook not in rank:
                raise BabelgraphError(f"hook {hook!r} exists but this model's forward pass never runs it")
        if any(rank[w] < rank[d.read_hook] for w in d.write_hooks):
            raise BabelgraphError(f"dictionary {d.name} writes before it reads ({d.read_hook})")
        for hook in d.write_hooks:
            if hook in seen:
                raise BabelgraphError(f"two dictionaries write {hook}: keep one per hook")
            seen.add(hook)


# ---- tokens -------------------------------------------------------------------------------------------------
def starts_with_bos(model: ReplacementModel, tokens: torch.Tensor, from_text: bool) -> bool:
    """Whether position 0 is a BOS token (for text, only when the model prepends one)."""
    tokenizer = model.tokenizer
    bos = tokenizer.bos_token_id if tokenizer is not None else None
    first_is_bos = bos is not None and len(tokens) > 0 and int(tokens[0]) == bos
    return first_is_bos and (bool(model.model.cfg.default_prepend_bos) if from_text else True)


def tokenize(model: ReplacementModel, prompt: Prompt) -> tuple[torch.Tensor, bool]:
    """Prompt -> 1-d token tensor (with BOS when the model uses one), and whether position 0 is a BOS."""
    hooked = model.model
    if isinstance(prompt, str):
        if not prompt.strip():
            raise BabelgraphError("the prompt is empty: give some text to attribute")
        if hooked.tokenizer is None:
            raise BabelgraphError("this model has no tokenizer: pass the prompt as a list of token ids")
        tokens = hooked.to_tokens(prompt, truncate=False)[0]
    else:
        tokens = torch.as_tensor(prompt, dtype=torch.long).flatten()
    has_bos = starts_with_bos(model, tokens, isinstance(prompt, str))
    if len(tokens) - int(has_bos) < 1:
        raise BabelgraphError("the prompt tokenizes to nothing: give some text to attribute")
    if len(tokens) > hooked.cfg.n_ctx:
        raise BabelgraphError(
            f"the prompt is {len(tokens)} tokens but the model's context is {hooked.cfg.n_ctx}: shorten it"
        )
    if int(tokens.max()) >= hooked.cfg.d_vocab or int(tokens.min()) < 0:
        raise BabelgraphError(f"token ids must lie in [0, {hooked.cfg.d_vocab}) for this model")
    return tokens.to(model.device), has_bos


def token_strings(model: ReplacementModel, tokens: torch.Tensor) -> list[str]:
    if model.tokenizer is None:
        return [str(int(t)) for t in tokens]
    return [model.tokenizer.decode([int(t)]) for t in tokens]


def single_token(model: ReplacementModel, text: str) -> int:
    """The id of a token given as a string; a string of several tokens is an error that says so."""
    tokenizer = model.tokenizer
    if tokenizer is None:
        if text.isdigit():
            return int(text)
        raise BabelgraphError("this model has no tokenizer: give logit targets as token ids")
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        pieces = [tokenizer.decode([i]) for i in ids]
        raise BabelgraphError(
            f"target {text!r} is {len(ids)} tokens {pieces}, not one: name a single token (e.g. {pieces[0]!r})"
            if ids
            else f"target {text!r} is empty"
        )
    return int(ids[0])


# ---- the trace ------------------------------------------------------------------------------------------------
@dataclass
class Trace:
    """Everything one clean forward pass fixes: the frozen nonlinearities and each dictionary's state."""

    tokens: torch.Tensor
    has_bos: bool
    frozen: dict[str, torch.Tensor]  # hook name -> recorded value (patterns, scales, MLP pre/post), batch first
    reads: list[torch.Tensor]  # per dictionary, flattened read activations [pos, d_in]
    activations: list[torch.Tensor]  # per dictionary [pos, width]
    errors: list[torch.Tensor]  # per write point [pos, d_out]: true output minus reconstruction
    embedding: torch.Tensor  # [pos, d_model]: the residual stream entering block 0
    logits: torch.Tensor  # [pos, d_vocab]: the original model's logits

    def prefix(self, length: int) -> Trace:
        """The trace of the first ``length`` tokens: the model is causal, so it is a slice of this one."""
        if length == len(self.tokens):
            return self
        frozen = {
            name: value[..., :length, :length] if name.endswith("hook_pattern") else value[:, :length]
            for name, value in self.frozen.items()
        }
        return Trace(
            self.tokens[:length],
            self.has_bos,
            frozen,
            [x[:length] for x in self.reads],
            [a[:length] for a in self.activations],
            [e[:length] for e in self.errors],
            self.embedding[:length],
            self.logits[:length],
        )


def _frozen_hook_names(model: HookedTransformer, replaced_mlps: set[int]) -> list[str]:
    names = [n for n in model.hook_dict if n.endswith(".hook_pattern") or n.endswith("hook_scale")]
    if model.cfg.num_experts:
        raise BabelgraphError("mixture-of-experts MLPs are not supported: their routing is not frozen yet")
    if "solu" in str(model.cfg.act_fn):
        raise BabelgraphError("SoLU MLPs (with their inner LayerNorm) are not supported")
    if not model.cfg.attn_only:
        for layer in range(model.cfg.n_layers):
            if layer not in replaced_mlps:
                names.append(f"blocks.{layer}.mlp.hook_pre")
                if not model.cfg.gated_mlp:
                    names.append(f"blocks.{layer}.mlp.hook_post")
    return names


def _replaced_mlps(model: ReplacementModel) -> set[int]:
    return {layer for d in model.dictionaries for layer in d.replaced_mlps}


def trace(model: ReplacementModel, tokens: torch.Tensor, has_bos: bool) -> Trace:
    """Run the original model once and record what the local replacement model freezes."""
    hooked = model.model
    frozen_names = set(_frozen_hook_names(hooked, _replaced_mlps(model)))
    store: dict[str, torch.Tensor] = {}
    wanted = frozen_names | {d.read_hook for d in model.dictionaries} | {p.hook for p in model.write_points}
    wanted.add(EMBEDDING_HOOK)

    def record(activation: torch.Tensor, hook: Any) -> None:
        store[hook.name] = activation.detach()

    with torch.no_grad():
        logits = hooked.run_with_hooks(
            tokens[None], fwd_hooks=[(lambda name: name in wanted, record)], return_type="logits"
        )[0]
        reads = [store[d.read_hook][0].flatten(start_dim=1).to(model.dtype) for d in model.dictionaries]
        acts = [d.activations(x) for d, x in zip(model.dictionaries, reads)]
        errors = []
        for p in model.write_points:
            d = model.dictionaries[p.dictionary]
            true_out = store[p.hook][0].flatten(start_dim=1).to(model.dtype)
            errors.append(true_out - d.reconstruct(acts[p.dictionary], reads[p.dictionary], p.write))
    frozen = {name: _batch_first(store[name], len(tokens)) for name in frozen_names}
    return Trace(tokens, has_bos, frozen, reads, acts, errors, store[EMBEDDING_HOOK][0], logits)


def reconstruction_fvu(model: ReplacementModel, tokens: torch.Tensor) -> list[float]:
    """Per dictionary: the fraction of variance of what it stands for (its write hooks' activations) that its
    reconstruction leaves unexplained on ``tokens`` (BOS excluded), in float64."""
    hooked = model.model
    hooks = {d.read_hook for d in model.dictionaries} | {p.hook for p in model.write_points}
    store: dict[str, torch.Tensor] = {}

    def record(activation: torch.Tensor, hook: Any) -> None:
        store[hook.name] = activation.detach()

    has_bos = starts_with_bos(model, tokens, True)
    with torch.no_grad():
        hooked.run_with_hooks(tokens[None], fwd_hooks=[(lambda name: name in hooks, record)], return_type=None)
        out = []
        for d in model.dictionaries:
            x = store[d.read_hook][0].flatten(start_dim=1).to(model.dtype)
            acts = d.activations(x)
            residual, total = 0.0, 0.0
            for w, hook in enumerate(d.write_hooks):
                true = store[hook][0].flatten(start_dim=1)[int(has_bos) :].double()
                recon = d.reconstruct(acts, x, w)[int(has_bos) :].double()
                residual += float(((true - recon) ** 2).sum())
                total += float(((true - true.mean(dim=0)) ** 2).sum())
            out.append(residual / total if total > 0 else float("nan"))
    return out


# ---- the frozen replay ----------------------------------------------------------------------------------------
@dataclass
class FrozenRun:
    """A replay of the local replacement model over a batch of copies of the prompt.

    ``reads[k]`` is dictionary k's input and ``final`` the final-norm output (where targets read);
    ``writes[i]`` (per write point) and ``embedding`` are leaves standing for what sources write. Gradients from
    reads to writes are the direct effects.
    """

    reads: list[torch.Tensor] = field(default_factory=list)
    writes: list[torch.Tensor] = field(default_factory=list)
    embedding: torch.Tensor | None = None
    final: torch.Tensor | None = None
    logits: torch.Tensor | None = None


def frozen_forward(
    model: ReplacementModel,
    tr: Trace,
    batch: int = 1,
    *,
    activations: list[torch.Tensor] | None = None,
    errors: list[torch.Tensor] | None = None,
    embedding: torch.Tensor | None = None,
    requires_grad: bool = True,
) -> FrozenRun:
    """Replay the frozen model, optionally with other source values (feature activations, errors, embedding).

    With the recorded values it reproduces the original forward pass; with others it is the affine replacement
    model the graph describes, which is what the intervention invariant is checked against.
    """
    hooked = model.model
    acts = tr.activations if activations is None else activations
    errs = tr.errors if errors is None else errors
    emb = tr.embedding if embedding is None else embedding
    run = FrozenRun(reads=[torch.empty(0)] * len(model.dictionaries))
    dtype = model.dtype  # norms run in float32 in a half model: dictionaries read in the model's dtype
    for i, p in enumerate(model.write_points):
        d = model.dictionaries[p.dictionary]
        const = acts[p.dictionary] @ d.decoder(p.write) + d.decoder_bias(p.write) + errs[i]
        run.writes.append(const.expand(batch, *const.shape).clone().requires_grad_(requires_grad))
    run.embedding = emb.expand(batch, *emb.shape).clone().requires_grad_(requires_grad)

    # Hooks run in the order listed; one that returns a tensor replaces the activation for the next.
    hooks: list[tuple[str, Callable]] = [(EMBEDDING_HOOK, lambda act, hook: run.embedding)]
    for name, value in tr.frozen.items():
        if name.endswith("mlp.hook_post"):
            continue
        if name.endswith("mlp.hook_pre") and not hooked.cfg.gated_mlp:
            hooks.extend(_frozen_gate_hooks(name, value, tr.frozen[name.replace("hook_pre", "hook_post")]))
        else:  # attention patterns, normalisation scales, the gate branch of a gated MLP
            hooks.append((name, lambda act, hook, value=value: _replay(value, act)))
    for layer in sorted(_replaced_mlps(model)):  # the MLP's own output is replaced: keep autograd out of it
        hooks.append((f"blocks.{layer}.mlp.hook_pre", lambda act, hook: act.detach()))
    for k, d in enumerate(model.dictionaries):
        hooks.append((d.read_hook, lambda act, hook, k=k: run.reads.__setitem__(k, act.flatten(start_dim=2).to(dtype))))
    for i, p in enumerate(model.write_points):
        hooks.append((p.hook, lambda act, hook, i=i, p=p: _write(model, run, i, p).reshape(act.shape).to(act.dtype)))
    hooks.append((FINAL_NORM_HOOK, lambda act, hook: setattr(run, "final", act)))

    with torch.set_grad_enabled(requires_grad):
        run.logits = hooked.run_with_hooks(tr.tokens.expand(batch, -1), fwd_hooks=hooks, return_type="logits")
    return run


def _batch_first(value: torch.Tensor, n_pos: int) -> torch.Tensor:
    """A recorded value laid out ``[batch, pos, ...]``.

    Most hooks already are; QK-norm scales (Qwen3, Gemma-3) are not: transformer_lens normalises each head's
    queries and keys as rows of a ``[batch * pos * heads, d_head]`` matrix, so their scales arrive as
    ``[batch * pos * heads, 1]``. Those become ``[batch, pos, heads, 1]``, so that a prefix of the prompt is a
    slice of the position axis and a replay on a batch of copies expands the batch axis.
    """
    if value.ndim == 2:
        return value.reshape(1, n_pos, -1, value.shape[-1])
    return value


def _replay(value: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
    """A batch-first recorded value in the layout of the activation it replaces (batch copies of it)."""
    if act.ndim == value.ndim:
        return value.expand_as(act)
    batch = act.numel() // (value[0].numel() // value.shape[-1] * act.shape[-1])
    return value.expand(batch, *value.shape[1:]).reshape(act.shape)


def _write(model: ReplacementModel, run: FrozenRun, i: int, p: WritePoint) -> torch.Tensor:
    """What write point i writes: its frozen output (a leaf, where gradients are read) plus any linear skip."""
    skip = model.dictionaries[p.dictionary].skip(p.write)
    return run.writes[i] if skip is None else run.writes[i] + run.reads[p.dictionary] @ skip.T


def _frozen_gate_hooks(pre_name: str, pre0: torch.Tensor, post0: torch.Tensor) -> list[tuple[str, Callable]]:
    """An MLP nonlinearity as a frozen elementwise gate ``act(z0)/z0``: exact at ``z0``, linear around it."""
    gate = torch.where(pre0 == 0, torch.zeros_like(pre0), post0 / pre0)
    current: list[torch.Tensor] = []

    def keep_pre(act: torch.Tensor, hook: Any) -> None:
        current[:] = [act]

    def linear_post(act: torch.Tensor, hook: Any) -> torch.Tensor:
        return post0 + (current.pop() - pre0) * gate

    return [(pre_name, keep_pre), (pre_name.replace("hook_pre", "hook_post"), linear_post)]


# ---- reading targets --------------------------------------------------------------------------------------------
def demeaned_unembedding(model: ReplacementModel) -> torch.Tensor:
    """``[d_model, d_vocab]``: each logit's read direction at the final norm's output.

    That hook comes before the final norm's gain, so the gain is folded in; de-meaning over the vocabulary
    makes a logit target measure its token against the average token.
    """
    w_u = model.model.W_U
    w_u = w_u - w_u.mean(dim=1, keepdim=True)
    gain = getattr(model.model.ln_final, "w", None)
    return w_u if gain is None else gain[:, None] * w_u


def pre_activations(model: ReplacementModel, run: FrozenRun) -> list[torch.Tensor]:
    """Every dictionary's feature pre-activations in a frozen run, ``[batch, pos, width]`` each."""
    return [d.pre_activations(x) for d, x in zip(model.dictionaries, run.reads)]


def demeaned_logits(model: ReplacementModel, run: FrozenRun) -> torch.Tensor:
    """``[batch, pos, d_vocab]`` logits before any soft-capping, minus their mean over the vocabulary."""
    assert run.final is not None
    residual = run.final
    norm = model.model.ln_final
    if getattr(norm, "w", None) is not None:
        residual = residual * norm.w
    if getattr(norm, "b", None) is not None:
        residual = residual + norm.b
    logits = residual @ model.model.W_U + model.model.b_U
    return logits - logits.mean(dim=-1, keepdim=True)


# ---- what the analyses ask of the model -------------------------------------------------------------------------
def residual_logits(model: ReplacementModel, tokens: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """Logit lens: ``[batch, n_layers + 1, d_vocab]`` logits of the residual stream at positions ``last`` of a
    right-padded token batch, after the embeddings and after every block, through the final norm and unembedding
    (soft-capped like the model's own logits)."""
    hooked = model.model
    names = [EMBEDDING_HOOK] + [f"blocks.{layer}.hook_resid_post" for layer in range(model.n_layers)]
    rows = torch.arange(len(tokens), device=tokens.device)
    store: dict[str, torch.Tensor] = {}

    def record(activation: torch.Tensor, hook: Any) -> None:
        store[hook.name] = activation[rows, last]

    with torch.no_grad():
        hooked.run_with_hooks(tokens, fwd_hooks=[(lambda n: n in names, record)], return_type=None)
        residual = torch.stack([store[n] for n in names], dim=1)
        if getattr(hooked.cfg, "normalization_type", None) is not None:
            residual = hooked.ln_final(residual)
        logits = hooked.unembed(residual)
        cap = getattr(hooked.cfg, "output_logits_soft_cap", 0.0) or 0.0
        if cap > 0:
            logits = cap * torch.tanh(logits / cap)
    return logits


def dictionary_activations(model: ReplacementModel, tokens: torch.Tensor) -> list[torch.Tensor]:
    """Every dictionary's feature activations ``[batch, pos, width]`` on a token batch, running only the blocks
    up to the last dictionary's read."""
    last = max(layer_of(d.read_hook) for d in model.dictionaries) + 1
    stop = None if last >= model.n_layers else last
    hooks = {d.read_hook for d in model.dictionaries}
    store: dict[str, torch.Tensor] = {}

    def record(activation: torch.Tensor, hook: Any) -> None:
        store[hook.name] = activation.detach()

    with torch.no_grad():
        model.model.run_with_hooks(
            tokens, fwd_hooks=[(lambda name: name in hooks, record)], return_type=None, stop_at_layer=stop
        )
        out = []
        for d in model.dictionaries:
            x = store[d.read_hook].flatten(start_dim=2).to(model.dtype)
            out.append(d.activations(x.reshape(-1, x.shape[-1])).reshape(*tokens.shape, -1))
    return out


Editor = Callable[[torch.Tensor], torch.Tensor]  # [pos, width] activations -> edited ones


def run_with_edits(
    model: ReplacementModel,
    tr: Trace,
    editors: dict[int, Editor],
    *,
    freeze_attention: bool,
    constrained_layers: set[int],
) -> torch.Tensor:
    """Last-position logits of the real model with features edited at their dictionaries' write hooks.

    ``editors`` maps dictionary index -> a function of its activations. A dictionary whose layer is constrained
    keeps its recorded activations (edited) and error; any other edited dictionary recomputes its features and
    adds only the edits' change to what the layer writes.
    """
    hooks: list[tuple[str, Callable]] = []
    if freeze_attention:
        hooks += [
            (n, lambda act, hook, v=v: v.expand_as(act)) for n, v in tr.frozen.items() if n.endswith("hook_pattern")
        ]
    point_index = {(p.dictionary, p.write): i for i, p in enumerate(model.write_points)}
    for k, d in enumerate(model.dictionaries):
        clamp = d.layer in constrained_layers
        if k not in editors and not clamp:
            continue
        edit = editors.get(k, lambda acts: acts)
        state: dict[str, torch.Tensor] = {}

        def read(act: torch.Tensor, hook: Any, d: Dictionary = d, state: dict = state, k: int = k, edit=edit) -> None:
            x = act[0].flatten(start_dim=1).to(model.dtype)
            current = tr.activations[k] if d.layer in constrained_layers else d.activations(x)
            state.update(x=x, current=current, new=edit(current))

        hooks.append((d.read_hook, read))
        for w, hook_name in enumerate(d.write_hooks):
            error = tr.errors[point_index[(k, w)]]

            def write(act: torch.Tensor, hook: Any, d=d, state=state, w=w, clamp=clamp, error=error) -> torch.Tensor:
                if clamp:  # recorded activations (edited), recorded error; the skip sees the current input
                    out = d.reconstruct(state["new"], state["x"], w) + error
                else:
                    out = act[0].flatten(start_dim=1) + ((state["new"] - state["current"]) @ d.decoder(w)).to(act.dtype)
                return out.reshape(act.shape).to(act.dtype)

            hooks.append((hook_name, write))
    with torch.no_grad():
        return model.model.run_with_hooks(tr.tokens[None], fwd_hooks=hooks, return_type="logits")[0, -1]
