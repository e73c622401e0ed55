#!/usr/bin/env bash
# Regenerate graphs/: the three canonical prompts on the bundled demo model, each as the pruned graph
# (.safetensors) and its exports (.html, .graphml, .json). Run from anywhere: bash examples/make_graphs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=graphs
mkdir -p "$out"
babelgraph build 'The opposite of "small" is "' --out "$out" --name opposite-small-en --format html,graphml,gexf,json --quiet
babelgraph build 'Le contraire de "petit" est "' --out "$out" --name contraire-petit-fr --format html,graphml,gexf,json --quiet
babelgraph build '"小"的反义词是"' --out "$out" --name fanyici-xiao-zh --format html,graphml,gexf,json --quiet
