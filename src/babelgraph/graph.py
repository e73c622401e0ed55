"""The attribution graph: the one object every stage (attribute, prune, compare, export) passes on.

A graph is a list of nodes and a dense signed adjacency matrix ``A`` with rows = targets and columns = sources:
``A[t, s]`` is the direct effect of source ``s`` on target ``t`` (see docs/method.md, "Nodes and edges"). Nodes
are ordered features, errors, embeddings, logits, and ``Node.index`` is the node's row/column in ``A``.

On disk a graph is one ``.safetensors`` file: the tensors (adjacency, influence) as tensors and everything else as
JSON in the file's metadata header. No pickle, so a graph file from a stranger is safe to open.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

import networkx as nx
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from babelgraph.errors import BabelgraphError, one_line
from babelgraph.files import atomic_path

NodeKind = Literal["feature", "error", "embedding", "logit"]
FORMAT_VERSION = 1


@dataclass
class Node:
    """One node of the graph.

    ``layer`` is the dictionary's layer in the model (``-1`` for embeddings, ``n_layers`` for logits);
    ``dictionary`` names the dictionary (its hook) for features and errors; ``feature`` is the feature index
    in that dictionary (``None`` for other kinds); ``position`` is the token position (logits: the last one).
    ``activation`` is the feature activation, the error vector's norm, the embedding's norm, or the logit.
    ``influence`` is filled in by pruning: the node's total (indirect) influence on the logits.
    ``label`` is an optional automatic feature label (``babelgraph.languages.labels.label_features``); files
    written before it existed load with ``None``.
    """

    id: str
    kind: NodeKind
    layer: int
    position: int
    activation: float
    token: str
    feature: int | None = None
    dictionary: str | None = None
    token_id: int | None = None
    probability: float | None = None
    influence: float | None = None
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AttributionGraph:
    """Nodes, the signed direct-effect matrix between them, and what produced them."""

    prompt: str
    tokens: list[int]
    token_strings: list[str]
    nodes: list[Node]
    adjacency: torch.Tensor
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.nodes)
        if tuple(self.adjacency.shape) != (n, n):
            raise ValueError(f"adjacency has shape {tuple(self.adjacency.shape)} but there are {n} nodes")

    # ---- views -------------------------------------------------------------------------------------------
    def indices(self, kind: NodeKind) -> list[int]:
        """Row/column indices of the nodes of one kind, in graph order."""
        return [i for i, node in enumerate(self.nodes) if node.kind == kind]

    @property
    def logit_nodes(self) -> list[Node]:
        return [node for node in self.nodes if node.kind == "logit"]

    @property
    def logit_probabilities(self) -> torch.Tensor:
        """Model probability of each logit node's token, in graph order."""
        return torch.tensor([node.probability or 0.0 for node in self.logit_nodes], dtype=torch.float32)

    @property
    def n_edges(self) -> int:
        return int((self.adjacency != 0).sum().item())

    def node_counts(self) -> dict[str, int]:
        counts = {"feature": 0, "error": 0, "embedding": 0, "logit": 0}
        for node in self.nodes:
            counts[node.kind] += 1
        return counts

    def subgraph(self, keep: list[int], edge_mask: torch.Tensor | None = None) -> AttributionGraph:
        """A graph with only the nodes at ``keep`` (in order) and, optionally, only the edges in ``edge_mask``."""
        index = torch.tensor(keep, dtype=torch.long)
        adjacency = self.adjacency[index][:, index].clone()
        if edge_mask is not None:
            adjacency = adjacency * edge_mask[index][:, index]
        nodes = [replace(self.nodes[i]) for i in keep]
        return AttributionGraph(
            self.prompt, list(self.tokens), list(self.token_strings), nodes, adjacency, dict(self.metadata)
        )

    def to_networkx(self) -> nx.DiGraph:
        """A directed networkx graph, edges source -> target with the signed direct effect as ``weight``."""
        graph = nx.DiGraph(prompt=self.prompt)
        for node in self.nodes:
            graph.add_node(node.id, **{k: v for k, v in node.to_dict().items() if k != "id"})
        targets, sources = torch.nonzero(self.adjacency, as_tuple=True)
        weights = self.adjacency[targets, sources].tolist()
        for t, s, w in zip(targets.tolist(), sources.tolist(), weights):
            graph.add_edge(self.nodes[s].id, self.nodes[t].id, weight=float(w))
        return graph

    # ---- files ---------------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the graph to ``path`` (a ``.safetensors`` file), atomically."""
        path = Path(path)
        header = {
            "format": "babelgraph-graph",
            "version": FORMAT_VERSION,
            "prompt": self.prompt,
            "tokens": self.tokens,
            "token_strings": self.token_strings,
            "nodes": [node.to_dict() for node in self.nodes],
            "metadata": self.metadata,
        }
        tensors = {"adjacency": self.adjacency.detach().to("cpu", torch.float32).contiguous()}
        _check_finite(tensors["adjacency"], path, saving=True)
        try:
            text = json.dumps(header, ensure_ascii=False, allow_nan=False)
        except ValueError:
            raise BabelgraphError(
                f"not saving {path}: a node or the metadata holds NaN or infinity, which no graph file may hold"
            ) from None
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={"babelgraph": text})
        return path

    @classmethod
    def load(cls, path: str | Path, max_nodes: int | None = None) -> AttributionGraph:
        """Read a graph written by :meth:`save`, validating everything before it is used.

        Every problem with the file (not safetensors, truncated, a header that is not JSON or nested too deeply,
        NaN or infinite literals, missing or mistyped keys, an unknown node kind, a newer format version, an
        adjacency whose shape does not match the nodes, that is not float32 or holds NaN/infinities) is one
        :class:`BabelgraphError`.

        **Memory bound.** Sizes are checked before anything large is allocated, so what the header claims never
        decides what is allocated. A graph with more than ``max_nodes`` nodes (default :data:`MAX_NODES` =
        32,768, a 4 GiB adjacency; ``$BABELGRAPH_MAX_NODES`` if set) is refused before its adjacency is read.
        Otherwise peak memory is at most about twice the adjacency's ``4 n^2`` bytes for ``n`` nodes (the
        memory-mapped file, whose pages are reclaimable, and the tensor read from it; measured: +253 MB for a
        139 MB file of 6,000 nodes), plus the parsed JSON header (safetensors caps headers at 100 MB) and a
        finiteness check in chunks of at most 64 MiB.
        """
        path = Path(path)
        limit = max_nodes if max_nodes is not None else default_max_nodes()
        if not path.is_file():
            what = "is a folder, not a graph file" if path.is_dir() else "does not exist"
            raise BabelgraphError(f"graph file {path} {what}: build one with `babelgraph build`")
        try:
            with safe_open(str(path), framework="pt") as handle:
                raw = (handle.metadata() or {}).get("babelgraph")
                if raw is None:
                    raise BabelgraphError(f"{path} is a safetensors file but not a babelgraph graph")
                header = _parse_header(raw, path)
                n = len(header["nodes"])
                if n > limit:
                    raise BabelgraphError(
                        f"{path} has {n} nodes, more than the limit of {limit} (its adjacency alone would take "
                        f"{4 * n * n / 2**30:.1f} GiB): prune it first, or raise the limit with max_nodes= "
                        "(CLI: --max-nodes) if you have the memory"
                    )
                if "adjacency" not in handle.keys():  # noqa: SIM118 - safe_open has no __contains__
                    raise BabelgraphError(f"{path} has no adjacency tensor: it is not a complete babelgraph graph")
                stored = handle.get_slice("adjacency")
                shape, dtype = list(stored.get_shape()), stored.get_dtype()
                if shape != [n, n]:
                    raise BabelgraphError(
                        f"{path}: the adjacency has shape {shape} but the header lists {n} nodes (expected "
                        f"[{n}, {n}]): the file is corrupt; rebuild it with `babelgraph build`"
                    )
                if dtype != "F32":
                    raise BabelgraphError(
                        f"{path}: the adjacency is stored as {dtype}, but graph files hold float32: convert it "
                        "(graph.adjacency = graph.adjacency.float(); graph.save(...)) or rebuild it"
                    )
                adjacency = handle.get_tensor("adjacency")
        except (SafetensorError, OSError, ValueError) as exc:
            raise BabelgraphError(f"{path} is not a babelgraph graph file ({one_line(exc)})") from None
        _check_finite(adjacency, path)
        nodes = [_node_from(item, i, path) for i, item in enumerate(header["nodes"])]
        seen: set[str] = set()
        for node in nodes:
            if node.id in seen:
                raise BabelgraphError(f"{path}: node id {node.id!r} appears twice: the file is corrupt")
            seen.add(node.id)
        return cls(
            prompt=header["prompt"],
            tokens=header["tokens"],
            token_strings=header["token_strings"],
            nodes=nodes,
            adjacency=adjacency,
            metadata=header["metadata"],
        )


# ---- validating graph files -------------------------------------------------------------------------------------
MAX_NODES = 32_768  # default limit on a loaded graph's nodes: a 4 GiB float32 adjacency
_CHECK_CHUNK_BYTES = 64 * 2**20


def default_max_nodes() -> int:
    """:data:`MAX_NODES`, or ``$BABELGRAPH_MAX_NODES`` when set to a positive integer."""
    text = os.environ.get("BABELGRAPH_MAX_NODES", "").strip()
    if not text:
        return MAX_NODES
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise BabelgraphError(f"BABELGRAPH_MAX_NODES must be a positive integer, got {text!r}")
    return value


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} overflows a float")
    return value


def _parse_header(raw: str, path: Path) -> dict[str, Any]:
    """The JSON header, with its top-level keys checked; any problem is one ``BabelgraphError``."""
    try:
        header = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise BabelgraphError(f"{path}: the graph header is nested too deeply to be a babelgraph graph") from None
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise BabelgraphError(f"{path}: the graph header is not valid JSON ({one_line(exc)})") from None
    if not isinstance(header, dict):
        raise BabelgraphError(f"{path}: the graph header is a JSON {type(header).__name__}, not an object")
    if header.get("format", "babelgraph-graph") != "babelgraph-graph":
        raise BabelgraphError(f"{path}: the header's format is {header.get('format')!r}, not 'babelgraph-graph'")
    version = header.get("version")
    if not _is_int(version) or version < 1:
        raise BabelgraphError(f"{path}: the header's version is {version!r}, not a format version (1, 2, ...)")
    if version > FORMAT_VERSION:
        raise BabelgraphError(f"{path} was written by a newer babelgraph (format {version}): upgrade to read it")
    expected = {"prompt": str, "tokens": list, "token_strings": list, "nodes": list, "metadata": dict}
    for key, kind in expected.items():
        if key not in header:
            raise BabelgraphError(f"{path}: the graph header has no {key!r}: the file is corrupt or not a graph")
        if not isinstance(header[key], kind):
            raise BabelgraphError(
                f"{path}: the header's {key!r} is a JSON {type(header[key]).__name__}, expected {kind.__name__}"
            )
    if not all(_is_int(t) for t in header["tokens"]):
        raise BabelgraphError(f"{path}: the header's 'tokens' must be integers (token ids)")
    if not all(isinstance(t, str) for t in header["token_strings"]):
        raise BabelgraphError(f"{path}: the header's 'token_strings' must be strings")
    if len(header["token_strings"]) != len(header["tokens"]):
        raise BabelgraphError(
            f"{path}: the header has {len(header['tokens'])} tokens but a different number of strings"
        )
    return header


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_TYPE_CHECKS = {
    "str": lambda v: isinstance(v, str),
    "int": _is_int,
    "float": _is_number,
    "bool": lambda v: v is True or v is False,
}
_TYPE_CHECKS["NodeKind"] = lambda v: v in get_args(NodeKind)


def _node_from(item: Any, index: int, path: Path) -> Node:
    """A :class:`Node` from its JSON object, each field checked against its annotation (unknown keys ignored)."""
    where = f"{path}: node {index}"
    if not isinstance(item, dict):
        raise BabelgraphError(f"{where} is a JSON {type(item).__name__}, not an object: the file is corrupt")
    values = {}
    for spec in fields(Node):
        options = [part.strip() for part in str(spec.type).split("|")]
        if spec.name not in item:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise BabelgraphError(f"{where} has no {spec.name!r}: the file is corrupt")
            continue
        value = item[spec.name]
        ok = (value is None and "None" in options) or any(
            _TYPE_CHECKS.get(o, lambda v: True)(value) for o in options if o != "None"
        )
        if not ok:
            if spec.name == "kind":
                raise BabelgraphError(f"{where} has kind {value!r}: expected one of {', '.join(get_args(NodeKind))}")
            raise BabelgraphError(f"{where}: {spec.name!r} is {value!r}, expected {spec.type}")
        values[spec.name] = value
    if values["kind"] == "feature" and values.get("feature") is None:
        raise BabelgraphError(f"{where} is a feature node without a feature index: the file is corrupt")
    return Node(**values)


def _check_finite(adjacency: torch.Tensor, path: Path, saving: bool = False) -> None:
    """Refuse NaN and infinite weights, checked in row chunks so the check never doubles the memory."""
    n = adjacency.shape[0]
    rows = max(1, _CHECK_CHUNK_BYTES // max(1, 4 * adjacency.shape[1]))
    for start in range(0, n, rows):
        if not bool(torch.isfinite(adjacency[start : start + rows]).all()):
            what = f"not saving {path}: the graph's" if saving else f"{path}: the"
            raise BabelgraphError(
                f"{what} adjacency holds NaN or infinite weights (a model run in too low a precision can cause"
                " this): rebuild it, e.g. with --dtype float32"
            )
