"""babelgraph: attribution graphs over sparse-dictionary features, compared across languages.

The stages, each its own module, data flowing one way: ``load_model`` (load) -> ``attribute`` (attribute)
-> ``prune`` (prune) -> export. The :class:`AttributionGraph` is what every stage passes on.
"""

from babelgraph.attribute import attribute
from babelgraph.compare import Comparison, FeatureInfo, compare, comparison_graph, tag_features
from babelgraph.errors import BabelgraphError
from babelgraph.export import export
from babelgraph.graph import AttributionGraph, Node
from babelgraph.intervene import Edit, InterventionResult, intervene, save_sweep_plot, sweep
from babelgraph.lens import LensResult, lens_task, logit_lens, save_lens_plot, save_lens_table
from babelgraph.load import Dictionary, ReplacementModel, load_model
from babelgraph.prune import graph_scores, prune

__all__ = [
    "AttributionGraph",
    "BabelgraphError",
    "Comparison",
    "Dictionary",
    "Edit",
    "FeatureInfo",
    "InterventionResult",
    "LensResult",
    "Node",
    "ReplacementModel",
    "attribute",
    "compare",
    "comparison_graph",
    "export",
    "graph_scores",
    "intervene",
    "lens_task",
    "logit_lens",
    "load_model",
    "prune",
    "save_lens_plot",
    "save_lens_table",
    "save_sweep_plot",
    "sweep",
    "tag_features",
]
__version__ = "0.1.0"
