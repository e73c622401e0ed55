"""Step 7: check the artefacts the way the package will use them.

Layout and size (< 40 MB), the loader logic (a copy, pointed at the output folder), BOS prepended by
`to_tokens`, every dictionary loading as the expected sae_lens class, the canonical prompts' top-1, and
`babelgraph.load_model` + `babelgraph.attribute` on the canonical English prompt with the transcoders and
with the residual SAEs.

Run: python scripts/demo_model/check.py
"""

from __future__ import annotations

import json
import sys
import time

import torch
from common import ARTEFACTS, out_dir
from evaluate import CANONICAL
from load import dictionary_dirs, load_transformer

REQUIRED = [
    *ARTEFACTS,
    "reference/en.txt",
    "reference/fr.txt",
    "reference/zh.txt",
    "reference/README.md",
    "heldout/udhr_en.txt",
    "heldout/udhr_fr.txt",
    "heldout/udhr_zh.txt",
]


def main() -> int:
    torch.set_num_threads(1)
    t0 = time.time()
    o = out_dir()
    problems = []
    for f in REQUIRED:
        if not (o / f).exists():
            problems.append(f"missing {f}")
    size = sum(p.stat().st_size for p in o.rglob("*") if p.is_file())
    if size >= 40 * 2**20:
        problems.append(f"{size / 2**20:.1f} MB >= 40 MB")
    lines = {l: (o / "reference" / f"{l}.txt").read_text(encoding="utf-8").splitlines() for l in ("en", "fr", "zh")}
    if len({len(v) for v in lines.values()}) != 1:
        problems.append("reference files are not aligned")
    model = load_transformer(o)
    toks = model.to_tokens('"小"的反义词是"')
    if toks[0, 0].item() != model.tokenizer.bos_token_id:
        problems.append("to_tokens does not prepend BOS")
    from sae_lens import SAE, SkipTranscoder, TopKSAE

    L = model.cfg.n_layers
    for kind, cls in (("transcoders", SkipTranscoder), ("residual", TopKSAE)):
        dirs = dictionary_dirs(o, kind)
        if len(dirs) != L:
            problems.append(f"{len(dirs)} {kind} for {L} layers")
        for d in dirs:
            s = SAE.load_from_disk(d)
            if type(s) is not cls or next(s.parameters()).dtype != torch.float32:
                problems.append(f"{d} loads as {type(s).__name__}/{next(s.parameters()).dtype}")
    top1 = {}
    with torch.no_grad():
        for lang, (p, a) in CANONICAL.items():
            top = int(model(model.to_tokens(p))[0, -1].argmax())
            top1[lang] = model.tokenizer.decode(top)
            if top != model.tokenizer(a, add_special_tokens=False)["input_ids"][0]:
                problems.append(f"canonical {lang}: {p!r} -> {top1[lang]!r}, expected {a!r}")
    import babelgraph as bg

    for kind in ("transcoders", "residual"):
        m = bg.load_model(model, [str(d) for d in dictionary_dirs(o, kind)])
        g = bg.attribute(m, 'The opposite of "small" is "')
        print(f"bg.attribute with {kind}: {type(g).__name__}, metadata keys {sorted(g.metadata)[:6]}")
    print(
        json.dumps(
            {
                "size_mb": round(size / 2**20, 2),
                "canonical_top1": top1,
                "problems": problems,
                "seconds": round(time.time() - t0),
            },
            ensure_ascii=False,
            indent=1,
        )
    )
    return 1 if [p for p in problems if not p.startswith("canonical")] else 0


if __name__ == "__main__":
    sys.exit(main())
