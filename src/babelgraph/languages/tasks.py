"""Task data in one place: the languages babelgraph ships text for, the prompt templates, the word tables.

Every module that builds an antonym or translation prompt, or reads the shipped word tables, reads them here.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from babelgraph.errors import BabelgraphError

LANGUAGES: dict[str, str] = {"en": "English", "fr": "Français", "zh": "中文"}  # code -> name in that language

# antonym prompts end at the opening quote of the answer: the next token is the antonym's first token
ANTONYM_TEMPLATES: dict[str, str] = {
    "en": 'The opposite of "{}" is "',
    "fr": 'Le contraire de "{}" est "',
    "zh": '"{}"的反义词是"',
}


def antonym_prompt(language: str, word: str) -> str:
    return ANTONYM_TEMPLATES[language].format(word)


def translation_prompt(source: str, target: str, word: str) -> str:
    """``Français: "neige" - 中文: "``: the demo model's translation format, answer after the quote."""
    return f'{LANGUAGES[source]}: "{word}" - {LANGUAGES[target]}: "'


@cache
def read_table(name: str) -> tuple[dict[str, str], ...]:
    """Rows of a shipped TSV table (``antonyms.tsv``: ``en_a en_b fr_a fr_b zh_a zh_b``; ``words.tsv``:
    ``en fr zh``) as dicts keyed by the header."""
    text = resources.files("babelgraph").joinpath("data", name).read_text(encoding="utf-8")
    lines = [line.split("\t") for line in text.splitlines() if line.strip()]
    return tuple(dict(zip(lines[0], row)) for row in lines[1:])


def antonym_concepts() -> dict[str, dict[str, str]]:
    """English first-column word -> {language: word} from the antonym table (the concepts of ``compare``)."""
    return {row["en_a"]: {lang: row[f"{lang}_a"] for lang in LANGUAGES} for row in read_table("antonyms.tsv")}


def concept_prompts(concept: str) -> dict[str, str]:
    """The antonym prompts of one concept of the table, in every language."""
    concepts = antonym_concepts()
    if concept not in concepts:
        some = ", ".join(list(concepts)[:8])
        raise BabelgraphError(f"unknown concept {concept!r}: choose an antonym-table word such as {some}")
    return {lang: antonym_prompt(lang, word) for lang, word in concepts[concept].items()}
