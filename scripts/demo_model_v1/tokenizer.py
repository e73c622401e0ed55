"""Train the demo tokenizer: byte-level BPE (vocabulary 4096) with whole-character Chinese tokens.

With little Chinese text, byte-level BPE would split Chinese characters into byte pieces; every Chinese
character of the corpus is therefore added as one token, so `小` and `大` are single tokens and a
feature or a logit for a Chinese word is one node. A `TemplateProcessing` post-processor prepends
`<|bos|>`, which is what transformer_lens expects from `to_tokens`.

Run: ``PYTHONPATH=scripts python -m demo_model_v1.tokenizer``
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from demo_model_v1.common import DEMO_DIR, cache_dir, load_words, split_antonyms
from demo_model_v1.corpus import read_jsonl

VOCAB_SIZE = 4096
BOS = "<|bos|>"
EOS = "<|endoftext|>"


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def chinese_characters(texts: list[str]) -> list[str]:
    """Every CJK character of the texts and of the word tables, in a stable order."""
    chars: set[str] = set()
    for t in texts:
        chars.update(c for c in t if _is_cjk(c))
    for w in load_words():
        chars.update(w["zh"])
    trained, held = split_antonyms()
    for p in trained + held:
        chars.update("".join(p.zh))
    return sorted(chars)


def train_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """Train BPE on `texts` and wrap it as a Hugging Face fast tokenizer that prepends BOS."""
    cjk = chinese_characters(texts)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - len(cjk),
        min_frequency=2,
        special_tokens=[BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.add_tokens(cjk)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=EOS, add_bos_token=True
    )


def _record_token_counts(hf: PreTrainedTokenizerFast, docs: list[dict[str, str]]) -> None:
    """Add token counts per corpus kind/language to the corpus statistics (for the data card)."""
    stats_path = cache_dir() / "corpus_stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    counts: dict[str, int] = {}
    ids = hf([d["text"] for d in docs], add_special_tokens=False)["input_ids"]
    for d, x in zip(docs, ids, strict=True):
        key = f"{d['kind']}/{d['lang'] if d['kind'] == 'text' else '-'}"
        counts[key] = counts.get(key, 0) + len(x)
    stats["tokens"] = dict(sorted(counts.items()))
    stats_path.write_text(json.dumps(stats, indent=1))


def main(out_dir: Path = DEMO_DIR) -> None:
    docs = read_jsonl(cache_dir() / "corpus_train.jsonl")
    hf = train_tokenizer([d["text"] for d in docs])
    hf.save_pretrained(str(out_dir))
    print(f"vocabulary {len(hf)} tokens, saved to {out_dir}")
    _record_token_counts(hf, docs)
    for s in ('The opposite of "small" is "big"', '"小"的反义词是"大"', 'Français: "neige" - 中文: "雪"'):
        print(hf.convert_ids_to_tokens(hf(s)["input_ids"]))


if __name__ == "__main__":
    main()
