"""Rebuild the whole demo model: corpus, tokenizer, transformer, dictionaries, evaluation and card.

Run from the repository root: ``PYTHONPATH=src python -m babelgraph.demo.build``. Each step can also
be run alone (``python -m babelgraph.demo.build.<step>``); training steps resume from their cache.
"""

from __future__ import annotations

import importlib
import sys
import time

from babelgraph.demo.build.common import record_time

STEPS = ("corpus", "tokenizer", "train_model", "train_dictionaries", "evaluate")


def main() -> None:
    for step in STEPS:
        print(f"== {step}", flush=True)
        module = importlib.import_module(f"babelgraph.demo.build.{step}")
        start = time.time()
        saved_argv, sys.argv = sys.argv, [f"babelgraph.demo.build.{step}"]  # each step's own defaults
        try:
            module.main()
        finally:
            sys.argv = saved_argv
        record_time(step, time.time() - start)
    # The card was written before the evaluation's own time was known: render it again.
    from babelgraph.demo.build import evaluate

    evaluate.write_card(evaluate.json.loads(evaluate.RESULTS_FILE.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
