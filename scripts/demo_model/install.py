"""Step 8 (by hand, after check): copy a finished build into the package.

The model, tokenizer, dictionaries, card and evaluation go to src/babelgraph/demo/; the held-out
reference lines (aligned en/fr/zh, never trained on) replace src/babelgraph/data/reference/ and the
held-out UDHR text goes to src/babelgraph/demo/heldout/ (evaluation only).

Run: python scripts/demo_model/install.py
"""

from __future__ import annotations

import shutil

from common import ARTEFACTS, REPO, out_dir

FOLDERS = ["transcoders", "residual_saes", "heldout"]


def main() -> None:
    src = out_dir()
    demo = REPO / "src" / "babelgraph" / "demo"
    for name in ARTEFACTS:
        shutil.copy(src / name, demo / name)
    for name in FOLDERS:
        shutil.rmtree(demo / name, ignore_errors=True)
        shutil.copytree(src / name, demo / name)
    reference = REPO / "src" / "babelgraph" / "data" / "reference"
    shutil.rmtree(reference, ignore_errors=True)
    shutil.copytree(src / "reference", reference)
    size = sum(p.stat().st_size for p in demo.rglob("*") if p.is_file()) / 1e6
    print(f"installed {src} into {demo} ({size:.1f} MB) and {reference}")


if __name__ == "__main__":
    main()
