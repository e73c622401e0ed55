"""Pruning and scores on a hand-built graph whose influences were worked out by hand (see comments)."""

from __future__ import annotations

import pytest
import torch

from babelgraph import AttributionGraph, Node, graph_scores, prune
from babelgraph.errors import BabelgraphError

# nodes: f0 f1 f2 (features), r (error), e (embedding), l0 (p=0.6), l1 (p=0.3)
F0, F1, F2, R, E, L0, L1 = range(7)


def hand_graph() -> AttributionGraph:
    nodes = [
        Node(id="f0", kind="feature", layer=0, position=1, activation=1.0, token="a", feature=0),
        Node(id="f1", kind="feature", layer=0, position=1, activation=1.0, token="a", feature=1),
        Node(id="f2", kind="feature", layer=0, position=1, activation=1.0, token="a", feature=2),
        Node(id="r", kind="error", layer=0, position=1, activation=1.0, token="a"),
        Node(id="e", kind="embedding", layer=-1, position=1, activation=1.0, token="a"),
        Node(id="l0", kind="logit", layer=1, position=1, activation=1.0, token="x", probability=0.6),
        Node(id="l1", kind="logit", layer=1, position=1, activation=1.0, token="y", probability=0.3),
    ]
    a = torch.zeros(7, 7)
    a[F0, E] = 2.0  # normalised row f0: e 1
    a[F1, E], a[F1, R] = 1.0, -1.0  # f1: e .5, r .5
    a[F2, E] = 0.1  # f2: e 1
    a[L0, F0], a[L0, F1] = 3.0, -1.0  # l0: f0 .75, f1 .25
    a[L1, F1], a[L1, F2] = 3.0, 1.0  # l1: f1 .75, f2 .25
    return AttributionGraph("a", [0, 1], ["<s>", "a"], nodes, a)


def test_influences_match_hand_computation():
    # w Â: f0 = .6*.75 = .45; f1 = .6*.25 + .3*.75 = .375; f2 = .3*.25 = .075
    # w Â²: e = .45 + .375*.5 + .075 = .7125; r = .375*.5 = .1875
    pruned = prune(hand_graph(), node_threshold=0.8, edge_threshold=0.98)
    got = {node.id: node.influence for node in pruned.nodes}
    expected = {"f0": 0.45, "f1": 0.375, "r": 0.1875, "e": 0.7125, "l0": 0.0, "l1": 0.0}
    assert got == pytest.approx(expected)


def test_node_threshold_keeps_the_smallest_set_holding_it():
    # candidates .45, .375, .1875, .075 (sum 1.0875): cumulative .414, .759, .931 -> f2 is the one dropped
    pruned = prune(hand_graph(), node_threshold=0.8, edge_threshold=1.0)
    assert [node.id for node in pruned.nodes] == ["f0", "f1", "r", "e", "l0", "l1"]


def test_edge_threshold_drops_weak_edges_then_orphans():
    # after dropping f2, influences recomputed: f0 .45, f1 .45. Edge scores Â*(I+w):
    # f0<-e .45, l0<-f0 .45, l1<-f1 .3, f1<-e .225, f1<-r .225, l0<-f1 .15 (total 1.8)
    at_90 = prune(hand_graph(), node_threshold=0.8, edge_threshold=0.9)
    assert at_90.adjacency[4, 1] == 0 and at_90.n_edges == 5  # only l0<-f1 (.15) is gone
    assert [node.id for node in at_90.nodes] == ["f0", "f1", "r", "e", "l0", "l1"]
    # at .6 only f0<-e, l0<-f0, l1<-f1 survive; f1 then has no input, so it and r go, and so does l1<-f1
    at_60 = prune(hand_graph(), node_threshold=0.8, edge_threshold=0.6)
    assert [node.id for node in at_60.nodes] == ["f0", "e", "l0", "l1"]
    kept = {(at_60.nodes[s].id, at_60.nodes[t].id) for t, s in torch.nonzero(at_60.adjacency).tolist()}
    assert kept == {("e", "f0"), ("f0", "l0")}
    assert at_60.adjacency[0, 1] == 2.0 and at_60.adjacency[2, 0] == 3.0  # signed weights survive


def test_scores_match_hand_computation():
    # replacement: e / (e + r) = .7125 / .9; completeness: sum (I + w) * non-error share / sum (I + w)
    scores = graph_scores(hand_graph())
    assert scores["replacement"] == pytest.approx(0.7125 / 0.9)
    assert scores["completeness"] == pytest.approx(2.5125 / 2.7)


def test_pruned_scores_count_pruned_inputs_as_unexplained():
    pruned = prune(hand_graph(), node_threshold=0.8, edge_threshold=0.6)
    scores = pruned.metadata["scores"]
    assert scores["unpruned"]["replacement"] == pytest.approx(0.7125 / 0.9)
    # pruned graph: l0 keeps .75 of its input, l1 none; f0 keeps all. Influence: f0 .45, e .45;
    # lost mass .25 * .6 (l0) + 1 * .3 (l1) = .45 counts as error -> replacement .45 / .9
    assert scores["pruned"]["replacement"] == pytest.approx(0.5)
    assert scores["pruned"]["completeness"] < scores["unpruned"]["completeness"]


def test_bad_thresholds_are_refused():
    with pytest.raises(BabelgraphError, match="node_threshold"):
        prune(hand_graph(), node_threshold=0.0)
    with pytest.raises(BabelgraphError, match="edge_threshold"):
        prune(hand_graph(), edge_threshold=1.5)
