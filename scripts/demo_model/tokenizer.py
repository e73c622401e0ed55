"""Step 2: train the tokenizer on the final training mix.

Byte-level BPE plus every Chinese character that occurs at least MIN_CJK times in the mix as one whole
token (rarer characters fall back to bytes). A TemplateProcessing post-processor prepends `<|bos|>`, so
transformer_lens' `to_tokens` starts with BOS. Afterwards every entry's count in the tokenized mix is
recorded (tokenizer_stats.json) so the card can show that no entry is dead.

Run: python scripts/demo_model/tokenizer.py
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter

from common import BOS, EOS, cache_dir, out_dir, read_jsonl
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

VOCAB_SIZE = 5120
MIN_CJK = 10
MIN_BPE_FREQ = 40
CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def train(texts: list[str]) -> PreTrainedTokenizerFast:
    counts = Counter(c for t in texts for c in t if is_cjk(c))
    cjk = sorted(c for c, n in counts.items() if n >= MIN_CJK)
    tok = Tokenizer(models.BPE())
    # Split CJK characters off before the byte-level step so BPE never merges across them.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                pattern=__import__("tokenizers").Regex(r"[\u3400-\u4dbf\u4e00-\u9fff]"), behavior="isolated"
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - len(cjk),
        min_frequency=MIN_BPE_FREQ,
        special_tokens=[BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # BPE learns from the non-Chinese part; Chinese characters are added whole below.
    tok.train_from_iterator((CJK_RE.sub(" ", t) for t in texts), trainer=trainer)
    tok.add_tokens(cjk)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=EOS, add_bos_token=True
    )


def main() -> None:
    t0 = time.time()
    docs = read_jsonl(cache_dir() / "corpus_train.jsonl")
    texts = [d["text"] for d in docs]
    hf = train(texts)
    hf.save_pretrained(str(out_dir()))
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (out_dir() / f).chmod(0o644)
    ids = hf(texts, add_special_tokens=False)["input_ids"]
    cnt = Counter(i for x in ids for i in x)
    n_special = 2
    per_entry = [cnt.get(i, 0) for i in range(len(hf)) if i >= n_special]
    kinds: dict[str, int] = {}
    for d, x in zip(docs, ids, strict=True):
        key = f"{d['kind']}/{d['lang'] if d['kind'] == 'text' else '-'}"
        kinds[key] = kinds.get(key, 0) + len(x)
    stats = {
        "vocab": len(hf),
        "cjk_whole_tokens": sum(1 for t in hf.get_vocab() if len(t) == 1 and is_cjk(t)),
        "entries_unused": sum(1 for c in per_entry if c == 0),
        "entries_under_20": sum(1 for c in per_entry if c < 20),
        "entries_under_100": sum(1 for c in per_entry if c < 100),
        "min_count": min(per_entry),
        "median_count": sorted(per_entry)[len(per_entry) // 2],
        "tokens_by_kind": kinds,
        "tokens_total": sum(kinds.values()),
    }
    (cache_dir() / "tokenizer_stats.json").write_text(json.dumps(stats, indent=1))
    print(json.dumps(stats, indent=1))
    for s in (
        'The opposite of "small" is "big"',
        '"小"的反义词是"大"',
        'Français: "neige" - 中文: "雪"',
        "Le contraire de « petit » est « grand »",
    ):
        print(hf.convert_ids_to_tokens(hf(s)["input_ids"]))
    print(f"tokenizer done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
