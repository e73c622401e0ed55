"""babelgraph: attribution graphs over sparse-dictionary features, compared across languages.

The stages, data flowing one way: ``load_model`` -> ``attribute`` -> ``prune`` -> ``export``, with the
:class:`AttributionGraph` the one thing every stage passes on; ``compare`` runs them per language and aligns the
features. Names are imported lazily, so ``import babelgraph`` (and the CLI's ``--help``) stays fast; experiment
helpers (lens, interventions, overlap) live in their modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS = {
    "AttributionGraph": "babelgraph.graph",
    "Node": "babelgraph.graph",
    "BabelgraphError": "babelgraph.errors",
    "load_model": "babelgraph.model.load",
    "ReplacementModel": "babelgraph.model.replacement",
    "Dictionary": "babelgraph.model.dictionaries",
    "register_dictionary": "babelgraph.model.dictionaries",
    "attribute": "babelgraph.attribution",
    "prune": "babelgraph.pruning",
    "graph_scores": "babelgraph.pruning",
    "export": "babelgraph.formats",
    "compare": "babelgraph.languages.compare",
    "Comparison": "babelgraph.languages.compare",
    "logit_lens": "babelgraph.analysis.lens",
    "intervene": "babelgraph.analysis.intervene",
    "Edit": "babelgraph.analysis.intervene",
}
__all__ = [  # the names of _EXPORTS, spelled out for readers and linters
    "AttributionGraph",
    "BabelgraphError",
    "Comparison",
    "Dictionary",
    "Edit",
    "Node",
    "ReplacementModel",
    "attribute",
    "compare",
    "export",
    "graph_scores",
    "intervene",
    "load_model",
    "logit_lens",
    "prune",
    "register_dictionary",
]

if TYPE_CHECKING:
    from babelgraph.analysis.intervene import Edit, intervene
    from babelgraph.analysis.lens import logit_lens
    from babelgraph.attribution import attribute
    from babelgraph.errors import BabelgraphError
    from babelgraph.formats import export
    from babelgraph.graph import AttributionGraph, Node
    from babelgraph.languages.compare import Comparison, compare
    from babelgraph.model.dictionaries import Dictionary, register_dictionary
    from babelgraph.model.load import load_model
    from babelgraph.model.replacement import ReplacementModel
    from babelgraph.pruning import graph_scores, prune


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'babelgraph' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
