"""The attribution graph: the one object every stage (attribute, prune, compare, export) passes on.

A graph is a list of nodes and a dense signed adjacency matrix ``A`` with rows = targets and columns = sources:
``A[t, s]`` is the direct effect of source ``s`` on target ``t`` (see docs/method.md, "Nodes and edges"). Nodes
are ordered features, errors, embeddings, logits, and ``Node.index`` is the node's row/column in ``A``.

On disk a graph is one ``.safetensors`` file: the tensors (adjacency, influence) as tensors and everything else as
JSON in the file's metadata header. No pickle, so a graph file from a stranger is safe to open.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import networkx as nx
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from babelgraph.errors import BabelgraphError
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
    ``label`` is an optional automatic feature label (``babelgraph.formats.labels.label_features``); files
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
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={"babelgraph": json.dumps(header, ensure_ascii=False)})
        return path

    @classmethod
    def load(cls, path: str | Path) -> AttributionGraph:
        """Read a graph written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise BabelgraphError(f"graph file {path} does not exist: build one with `babelgraph build`")
        try:
            tensors = load_file(str(path))

            with safe_open(str(path), framework="pt") as handle:
                raw = (handle.metadata() or {}).get("babelgraph")
        except (SafetensorError, OSError, ValueError) as exc:
            raise BabelgraphError(f"{path} is not a babelgraph graph file ({exc})") from None
        if raw is None:
            raise BabelgraphError(f"{path} is a safetensors file but not a babelgraph graph")
        header = json.loads(raw)
        if header.get("version", 0) > FORMAT_VERSION:
            raise BabelgraphError(f"{path} was written by a newer babelgraph: upgrade to read it")
        return cls(
            prompt=header["prompt"],
            tokens=header["tokens"],
            token_strings=header["token_strings"],
            nodes=[Node(**node) for node in header["nodes"]],
            adjacency=tensors["adjacency"],
            metadata=header["metadata"],
        )
