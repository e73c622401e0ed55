"""babelgraph: attribution graphs over sparse-dictionary features, compared across languages.

The stages, each its own module, data flowing one way: ``load_model`` (load) -> ``attribute`` (attribute)
-> ``prune`` (prune) -> export. The :class:`AttributionGraph` is what every stage passes on.
"""

from babelgraph.attribute import attribute
from babelgraph.errors import BabelgraphError
from babelgraph.graph import AttributionGraph, Node
from babelgraph.load import Dictionary, ReplacementModel, load_model
from babelgraph.prune import graph_scores, prune

__all__ = [
    "AttributionGraph",
    "BabelgraphError",
    "Dictionary",
    "Node",
    "ReplacementModel",
    "attribute",
    "graph_scores",
    "load_model",
    "prune",
]
__version__ = "0.1.0"
