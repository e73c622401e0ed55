"""Validate babelgraph's Neuronpedia JSON (and its graph-metadata.json) with circuit-tracer's own pydantic models.

circuit-tracer is not a babelgraph dependency, so this runs in its venv (benchmarks/circuit_tracer/setup_venv.sh):

    /tmp/ct-venv/bin/python benchmarks/circuit_tracer/validate_json.py out/graph.json

The semantics the viewer relies on (cumulative influence, unique ids, null activations) are tested without it in
tests/test_export_clients.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from circuit_tracer.frontend import graph_models


def main() -> None:
    for name in sys.argv[1:]:
        path = Path(name)
        data = json.loads(path.read_text(encoding="utf-8"))
        parsed = graph_models.Model(**data)
        index = json.loads((path.parent / "graph-metadata.json").read_text(encoding="utf-8"))
        for entry in index["graphs"]:
            graph_models.Metadata(**entry)
        print(f"{path}: {len(parsed.nodes)} nodes, {len(parsed.links)} links; graph-metadata.json valid")


if __name__ == "__main__":
    main()
