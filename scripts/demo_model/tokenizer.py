"""Step 2: train the tokenizer on the final training mix.

Byte-level BPE plus every Chinese character that occurs at least MIN_CJK times in the mix as one whole
token (rarer characters fall back to bytes), plus merges that make every en/fr word of the word and antonym
tables one token, bare and after a space (so train_model.py can tie translation-equivalent words). A TemplateProcessing post-processor prepends `<|bos|>`, so
transformer_lens' `to_tokens` starts with BOS. Afterwards every entry's count in the tokenized mix is
recorded (tokenizer_stats.json) so the card can show that no entry is dead.

Run: python scripts/demo_model/tokenizer.py
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter

from common import BOS, EOS, LANGS, cache_dir, load_antonyms, load_words, out_dir, read_jsonl
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


def table_words() -> list[str]:
    """Every word of the word and antonym tables, in every language."""
    words = [w[lang] for w in load_words() for lang in LANGS]
    return words + [w for row in load_antonyms() for pair in row.values() for w in pair]


def with_whole_words(hf: PreTrainedTokenizerFast, words: list[str]) -> PreTrainedTokenizerFast:
    """The tokenizer with BPE merges appended so that each word, bare and after a space, is one token.

    Appended merges rank last, so they change nothing until the original merges are done; each word then
    merges left to right into one new entry. Words that span several pre-tokenizer pieces (punctuation,
    Chinese characters, which are whole tokens already) are left as they are."""
    spec = json.loads(hf.backend_tokenizer.to_str())
    vocab, merges = spec["model"]["vocab"], spec["model"]["merges"]
    known = {tuple(m) for m in merges}
    n_bpe = len(vocab)
    added = [(a, a["id"]) for a in spec["added_tokens"] if a["id"] >= n_bpe]  # the whole Chinese characters

    def build() -> Tokenizer:
        """New entries take the ids after the BPE vocabulary; the added characters move up behind them."""
        for a, original in added:
            a["id"] = original + len(vocab) - n_bpe
        return Tokenizer.from_str(json.dumps(spec))

    split = hf.backend_tokenizer.pre_tokenizer.pre_tokenize_str
    variants = sorted({v for w in words for v in (w, " " + w) if len(split(v)) == 1 and not CJK_RE.search(v)})
    for _ in range(10):  # a later word's merge can pre-empt an earlier word's: repeat until every word is whole
        todo = [build().encode(v, add_special_tokens=False).tokens for v in variants]
        todo = [pieces for pieces in todo if len(pieces) > 1]
        if not todo:
            break
        for pieces in todo:
            left = pieces[0]
            for right in pieces[1:]:
                if (left, right) not in known:
                    known.add((left, right))
                    merges.append([left, right])
                vocab.setdefault(left + right, len(vocab))
                left += right
    return PreTrainedTokenizerFast(
        tokenizer_object=build(),
        bos_token=BOS,
        eos_token=EOS,
        pad_token=EOS,
        add_bos_token=True,
    )


def main() -> None:
    t0 = time.time()
    docs = read_jsonl(cache_dir() / "corpus_train.jsonl")
    texts = [d["text"] for d in docs]
    base = train(texts)
    hf = with_whole_words(base, table_words())
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
        "whole_word_entries": len(hf) - len(base),
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
