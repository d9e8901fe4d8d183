"""Follow-up questions ("And what about Iran?", "Who said that?") are resolved against the conversation
before retrieval, by merging: the search query is the follow-up appended to the turn the conversation is
about (the latest that was not a follow-up) and the turn just before it. A follow-up without a question word of its
own ("And Iran?") keeps the answer type of the question it follows ("How much…" still wants a number).

A question counts as a follow-up when it starts like one ("and", "what about", "how about", "also", "so",
"then"), refers back with a pronoun (he, she, it, they, that, this, those, there, …) or is very short and names
nothing of its own ("Why?", "When?"; not "What is the capital of France?", a new question)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .lexical import words

_OPENERS = re.compile(r"^\s*(and|but|so|then|also|what about|how about|and what about|what of|same for)\b", re.I)
_PRONOUNS = {"he", "she", "him", "her", "his", "hers", "they", "them", "their", "it", "its", "that", "this",
             "those", "these", "there", "then"}
History = Sequence[Any]


def user_turns(history: History | None) -> list[str]:
    """The user's earlier questions from any history shape: strings, (question, answer) pairs, chat messages
    ({"role": "user", "content": …}) or `Answer` objects."""
    turns: list[str] = []
    for item in history or []:
        if isinstance(item, str):
            turns.append(item)
        elif isinstance(item, dict):
            if item.get("role") == "user" and isinstance(item.get("content"), str):
                turns.append(item["content"])
        elif isinstance(item, (tuple, list)) and item and isinstance(item[0], str):
            turns.append(item[0])
        elif hasattr(item, "question"):
            turns.append(item.question)
    return [t for t in turns if t and t.strip()]


def is_followup(question: str) -> bool:
    tokens = re.findall(r"[a-z']+", question.lower())
    short = len(words(question)) <= 2 and names_nothing(question)
    return bool(_OPENERS.match(question)) or bool(_PRONOUNS & set(tokens)) or short


def names_nothing(question: str) -> bool:
    """The question names no person, place or thing of its own (no capitalised word after the first)."""
    return not re.search(r"(?<!^)\b[A-Z][a-z]+", question.strip())


def resolve(question: str, history: History | None, force: bool = False) -> tuple[str, list[str]]:
    """(search query, the earlier turns it was merged with, oldest first): the latest turn that was not itself a
    follow-up (what the conversation is about) and the turn just before this one (what "it" or "how many?"
    most likely refers to); the follow-ups between them are left out, so a long chain does not drown the
    question in earlier wording. `force`: merge even a question that does not look like a follow-up."""
    turns = user_turns(history)
    if not turns or not (force or is_followup(question)):
        return question, []
    root = next((t for t in reversed(turns) if not is_followup(t)), turns[0])
    used = list(dict.fromkeys([root, turns[-1]]))
    return " ".join([*used, question]), used
