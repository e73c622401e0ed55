"""Fast checks of a training run in plain PyTorch: antonym accuracy and held-out UDHR loss.

Used by train_model.py (`--eval-every`) and sweep.py to compare training recipes while they run; the
model card's numbers come from evaluate.py, which runs the exported HookedTransformer. Needs only
torch and the tokenizer, so it also runs on a machine without transformer_lens.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from common import ANT_HELDOUT, ANT_TRAIN, LANGS, antonym_plan, out_dir

CANONICAL = {
    "en": ('The opposite of "small" is "', "big"),
    "fr": ('Le contraire de "petit" est "', "grand"),
    "zh": ('"小"的反义词是"', "大"),
}


def fill(tpl: str, **kw: str) -> str:
    for k, v in kw.items():
        tpl = tpl.replace("{" + k + "}", v)
    return tpl


def prompt_and_answer(tok, tpl: str, **kw: str) -> tuple[list[int], int] | None:  # noqa: ANN001
    """Token ids of the wording cut before the answer, and the answer's first token (None if BPE disagrees)."""
    head = tpl.split("{b}" if "{b}" in tpl else "{t}")[0]
    prefix = fill(head, **kw).rstrip(" ")
    full = fill(tpl.split("{b}" if "{b}" in tpl else "{t}")[0] + ("{b}" if "{b}" in tpl else "{t}"), **kw)
    ip, iff = tok(prefix)["input_ids"], tok(full)["input_ids"]
    if iff[: len(ip)] != ip or len(iff) <= len(ip):
        return None
    return ip, iff[len(ip)]


def directed(tpl: str) -> bool:
    """Symmetric list formats (`a -> b`, `a / b`, `a 和 b`) are not directed questions."""
    return not (tpl.startswith("{a} ->") or "/" in tpl or "和" in tpl)


def one_token(tok, word: str) -> bool:  # noqa: ANN001
    """Whether the word is one token bare or after a space (the words train_model.py can align)."""
    return any(len(tok(v, add_special_tokens=False)["input_ids"]) == 1 for v in (word, " " + word))


def first_tokens(tok, word: str) -> set[int]:  # noqa: ANN001
    """The first token of the word bare and after a space: how an answer or a cue can start."""
    return {tok(v, add_special_tokens=False)["input_ids"][0] for v in (word, " " + word)}


OUTCOMES = (
    "right",
    "answer in a taught language",
    "answer in an untaught language",
    "cue word",
    "another pair's word",
    "other",
)


def antonym_words(tok, lang: str) -> set[int]:  # noqa: ANN001
    """First tokens of every antonym-table word in one language."""
    return set().union(*(first_tokens(tok, w) for p in antonym_plan() for w in p["pair"][lang]))


class AnswerOutcome:
    """What the top-1 token of an antonym prompt is, in this order: the answer; the same antonym in another
    language the pair is taught in, or in the remaining untaught one (the antonym step right, the answer's
    language wrong); the cue word in any language (the model repeats it); a word of another antonym pair in the
    wording's language (the wrong pair's answer); or something else. Earlier categories win where token sets
    overlap (`long` is both the en and the fr answer).

    The embedding tie makes a group's answers nearly interchangeable to the unembedding, so the top-1 token
    between `day` and `jour` can turn on a small gap; `mass` gives the probability of the whole group and the
    answer's part of it, which does not."""

    def __init__(self, tok, plan_row: dict, lang: str, direction: int, lang_words: set[int]) -> None:  # noqa: ANN001
        pair, taught = plan_row["pair"], plan_row["taught"]
        others = [l for l in LANGS if l != lang]
        answers = {l: first_tokens(tok, pair[l][1 - direction]) for l in LANGS}
        self.taught = set().union(*(answers[l] for l in others if l in taught))
        self.untaught = set().union(*(answers[l] for l in others if l not in taught))
        self.cues = set().union(*(first_tokens(tok, pair[l][direction]) for l in LANGS))
        antonym = set().union(*answers.values())  # the antonym in all three languages
        self.group = sorted(antonym)
        self.other_pairs = lang_words - antonym - self.cues

    def __call__(self, top: int, answer: int) -> str:
        if top == answer:
            return "right"
        if top in self.taught:
            return "answer in a taught language"
        if top in self.untaught:
            return "answer in an untaught language"
        if top in self.cues:
            return "cue word"
        return "another pair's word" if top in self.other_pairs else "other"

    def mass(self, probs: torch.Tensor, answer: int) -> tuple[float, float]:
        """(probability of the antonym in any language, the answer's share of it) for next-token `probs`."""
        group = float(probs[self.group].sum())
        return group, float(probs[answer]) / group if group > 0 else 0.0


def antonym_items(tok) -> list[tuple[str, str, str, list[int], int, bool, AnswerOutcome]]:  # noqa: ANN001
    """(wording set, taught|transfer, lang, prompt ids, answer id, whether all six words of the pair are one
    token, its outcome classifier) for both directions of every pair."""
    items = []
    for wset, templates in (("heldout", ANT_HELDOUT), ("trained", ANT_TRAIN)):
        for lang in LANGS:
            lang_words = antonym_words(tok, lang)
            for tpl in filter(directed, templates[lang]):
                for p in antonym_plan():
                    kind = "taught" if lang in p["taught"] else "transfer"
                    single = all(one_token(tok, w) for ws in p["pair"].values() for w in ws)
                    for direction in (0, 1):
                        a, b = p["pair"][lang][direction], p["pair"][lang][1 - direction]
                        pa = prompt_and_answer(tok, tpl, a=a, b=b)
                        if pa is not None:
                            items.append(
                                (wset, kind, lang, *pa, single, AnswerOutcome(tok, p, lang, direction, lang_words))
                            )
    return items


class QuickEval:
    """Tokenizes the evaluation material once; `__call__(model)` returns a flat dict of scores."""

    def __init__(self, tok, device: str = "cpu", n_ctx: int = 128, heldout: Path | None = None) -> None:  # noqa: ANN001
        self.device = device
        self.items = antonym_items(tok)
        self.canonical = {
            lang: (tok(p)["input_ids"], tok(a, add_special_tokens=False)["input_ids"][0])
            for lang, (p, a) in CANONICAL.items()
        }
        self.udhr: dict[str, list[list[int]]] = {}
        for lang in LANGS:
            rows = []
            for line in (
                ((heldout or out_dir() / "heldout") / f"udhr_{lang}.txt").read_text(encoding="utf-8").splitlines()
            ):
                ids = tok(line, add_special_tokens=False)["input_ids"]
                rows += [[tok.bos_token_id] + ids[j : j + n_ctx - 1] for j in range(0, len(ids), n_ctx - 1)]
            self.udhr[lang] = rows

    def _last_logits(self, model, prompts: list[list[int]]) -> torch.Tensor:  # noqa: ANN001
        out = []
        for i in range(0, len(prompts), 512):
            chunk = prompts[i : i + 512]
            n = max(map(len, chunk))
            x = torch.zeros(len(chunk), n, dtype=torch.long)
            for j, p in enumerate(chunk):
                x[j, : len(p)] = torch.tensor(p)
            logits = model(x.to(self.device))
            last = torch.tensor([len(p) - 1 for p in chunk], device=logits.device)
            out.append(logits[torch.arange(len(chunk), device=logits.device), last].float().cpu())
        return torch.cat(out)

    @torch.no_grad()
    def __call__(self, model) -> dict[str, float]:  # noqa: ANN001
        was_training = model.training
        model.eval()
        res: dict[str, float] = {}
        logits = self._last_logits(model, [it[3] for it in self.items])
        tops = logits.argmax(-1).tolist()
        probs = logits.softmax(-1)
        groups: dict[str, list[float]] = {}
        for it, top, p in zip(self.items, tops, probs, strict=True):
            h = top == it[4]
            groups.setdefault(f"{it[0]}/{it[1]}/{it[2]}", []).append(int(h))
            if it[0] == "heldout":  # the right antonym, but in another language than the wording's
                other = it[6](top, it[4]).startswith("answer in")
                groups.setdefault(f"heldout/{it[1]}_in_another_language/{it[2]}", []).append(int(other))
                mass, share = it[6].mass(p, it[4])
                groups.setdefault(f"heldout/{it[1]}_antonym_mass/{it[2]}", []).append(mass)
                groups.setdefault(f"heldout/{it[1]}_answer_share/{it[2]}", []).append(share)
            if it[5]:  # the pairs whose every word is one token: the ones alignment can tie
                groups.setdefault(f"{it[0]}/{it[1]}_one_token/{it[2]}", []).append(int(h))
        res.update({k: sum(v) / len(v) for k, v in sorted(groups.items())})
        can = self._last_logits(model, [p for p, _ in self.canonical.values()]).softmax(-1)
        for i, (lang, (_, a)) in enumerate(self.canonical.items()):
            res[f"canonical_p/{lang}"] = float(can[i, a])
        for lang, rows in self.udhr.items():
            nll, n = 0.0, 0
            for r in rows:
                x = torch.tensor([r], device=self.device)
                lp = model(x)[0, :-1].float()
                nll += float(F.cross_entropy(lp, x[0, 1:], reduction="sum"))
                n += len(r) - 1
            res[f"udhr_loss/{lang}"] = nll / n
        model.train(was_training)
        return res


def main() -> None:
    """`python quick_eval.py MODEL_DIR`: the scores of an exported model (a folder with config.json,
    model.safetensors and its tokenizer) as JSON; how the card's control outside this build is measured."""
    import argparse
    import json
    import sys

    from safetensors.torch import load_file
    from train_model import from_transformer_lens
    from transformers import PreTrainedTokenizerFast

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("model_dir")
    args = ap.parse_args()
    d = Path(args.model_dir)
    cfg = json.loads((d / "config.json").read_text())
    model = from_transformer_lens(load_file(str(d / "model.safetensors")), cfg)
    scores = QuickEval(PreTrainedTokenizerFast.from_pretrained(str(d)), heldout=d / "heldout")(model)
    json.dump({"model": cfg.get("model_name"), **scores}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
