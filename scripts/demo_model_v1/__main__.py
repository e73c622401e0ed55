"""Rebuild the whole demo model: corpus, tokenizer, transformer, dictionaries, evaluation and card.

Run from the repository root: ``PYTHONPATH=scripts python -m demo_model_v1``. Each step can also
be run alone (``PYTHONPATH=scripts python -m demo_model_v1.<step>``); training steps resume from their cache.
"""

from __future__ import annotations

import importlib
import sys
import time

from demo_model_v1.common import record_time

STEPS = ("corpus", "tokenizer", "train_model", "train_dictionaries", "evaluate")


def main() -> None:
    for step in STEPS:
        print(f"== {step}", flush=True)
        module = importlib.import_module(f"demo_model_v1.{step}")
        start = time.time()
        saved_argv, sys.argv = sys.argv, [f"demo_model_v1.{step}"]  # each step's own defaults
        try:
            module.main()
        finally:
            sys.argv = saved_argv
        record_time(step, time.time() - start)
    # The card was written before the evaluation's own time was known: render it again.
    from demo_model_v1 import evaluate

    evaluate.write_card(evaluate.json.loads(evaluate.RESULTS_FILE.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
