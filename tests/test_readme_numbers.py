"""The README's demo-model table and target count are the shipped evaluation's, so a new model cannot ship beside
stale numbers: each figure the README states is read back from the README and compared with eval_results.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
RESULTS = json.loads((ROOT / "src" / "babelgraph" / "demo" / "eval_results.json").read_text(encoding="utf-8"))
LANGS = ("en", "fr", "zh")


def table_row(label: str) -> list[str]:
    """The cells of the README table row whose first cell starts with `label`."""
    rows = [line for line in README.splitlines() if line.startswith(f"| {label}")]
    assert len(rows) == 1, f"expected one README row starting {label!r}, found {len(rows)}"
    return [cell.strip() for cell in rows[0].strip("|").split("|")[1:]]


def percent(value: float) -> str:
    return f"{round(100 * value)}%"


@pytest.mark.parametrize("kind", ["taught", "transfer"])
def test_readme_antonym_rows_are_the_shipped_evaluation(kind: str) -> None:
    label = "antonyms, held-out wordings, pairs " + {"taught": "taught", "transfer": "never"}[kind]
    shipped = RESULTS["antonyms"]["heldout_wordings"][kind]
    assert table_row(label) == [percent(shipped[lang]) for lang in LANGS]


def test_readme_udhr_loss_row_is_the_shipped_evaluation() -> None:
    loss = RESULTS["heldout_loss"]
    expected = [f"{loss[lang]['model']:.2f}; {loss[lang]['unigram']:.2f}" for lang in LANGS]
    assert table_row("loss on the Universal Declaration") == expected


def test_readme_target_count_and_canonical_probabilities_are_the_shipped_evaluation() -> None:
    targets = RESULTS["targets"].values()
    met = sum(t["met"] for t in targets)
    claim = re.search(
        r"the model meets (\d+) of the card's (\d+) targets\s+\(v4,\s+(\d+) of the (\d+)\s+measured on it\)", README
    )
    assert claim is not None, "the README states how many of the card's targets the demo model (and v4) meets"
    assert (int(claim[1]), int(claim[2])) == (met, len(targets))
    v4 = re.search(r"^(\d+) of (\d+) targets met", (ROOT / "docs" / "demo_model_v4_card.md").read_text(), re.M)
    assert v4 is not None and (int(claim[3]), int(claim[4])) == (int(v4[1]), int(v4[2]))
    canonical = re.search(r"canonical prompts \([^)]*; p = ([\d.]+),\s+([\d.]+), ([\d.]+)\)", README)
    assert canonical is not None, "the README states the canonical prompts' probabilities"
    assert list(canonical.groups()) == [f"{RESULTS['canonical'][lang]['p_expected']:.2f}" for lang in LANGS]
