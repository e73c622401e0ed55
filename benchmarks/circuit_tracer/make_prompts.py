#!/usr/bin/env python
"""Random benchmark prompts: JSON list of token-id lists, BOS (id 0) first, other ids in [2, d_vocab).

  python make_prompts.py --out prompts.json --lengths 16 32 64 128 [--seed 123] [--d-vocab 4096]

Lengths include the BOS token. All prompts come from one torch.Generator(seed), in order.
(`prompts_seed123_16_32_64_128.json` here was made the same way, after an 8-token prompt
had been drawn first; it is the exact file behind the timings in README.md.)
"""

import argparse
import json

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--lengths", type=int, nargs="+", default=[16, 32, 64, 128])
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--d-vocab", type=int, default=4096)
    ap.add_argument("--bos-id", type=int, default=0)
    a = ap.parse_args()
    g = torch.Generator().manual_seed(a.seed)
    prompts = [[a.bos_id] + torch.randint(2, a.d_vocab, (n - 1,), generator=g).tolist() for n in a.lengths]
    with open(a.out, "w") as f:
        json.dump(prompts, f)


if __name__ == "__main__":
    main()
