"""Build the end-to-end development suite of varied articles (`rag eval --suite dev-varied`).

    python -m evals.make_dev_suite     # writes evals/data/dev-varied/{corpus/,questions.jsonl} (seconds)

Only the reader's *development* articles are used (evals/train_reader.py `is_dev`: about 8% of each source's
articles by a hash of the title; never trained on by the reader, and the evidence scorer trains on SQuAD articles
only): the new-Wikipedia articles of SQuADShifts (history, mathematics, science), its Amazon product reviews, and
SelQA's Wikipedia sections (countries, people, science, sport, …). SQuADShifts' Reddit set is one "article" of
training data, so none of it can be used here. Each question is tagged with the kind of its answer (date, number,
person, place, other), read from the gold answer's form and, failing that, from the first wh-word of the clause
that asks, by rules of this script (not rag's answer-kind grammar, which is what is measured).

Questions are sampled with a fixed seed: up to PER_WIKI per new-Wikipedia article, PER_REVIEW per product, and
PER_SELQA per SelQA article; and, as unanswerable questions over the same articles, a changed copy of CHANGED_SHARE of
them and of every one naming a year or a figure (evals/changed.py: one condition swapped the way SQuAD 2.0's
writers did). SQuADShifts answers are short spans (every worker's answer an alias); SelQA marks
answer sentences, so its alias is the answer sentence itself: a question is answered when the answer quotes it.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "evals" / "data" / "reader"
OUT = ROOT / "evals" / "data" / "dev-varied"
SEED = 13
PER_WIKI, PER_REVIEW, PER_SELQA = 45, 4, 5
MAX_REVIEW_ARTICLES, MAX_SELQA_ARTICLES = 30, 40
CHANGED_SHARE = 0.4

_MONTHS = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DATE_ANSWER = re.compile(
    rf"^(?:(?:in|on|by|since|during|from|around|about|circa|c\.|early|mid|late|the)\s+)*(?:\d{{1,4}}(?:\s*(?:ad|bc|bce|ce))?s?"
    rf"|{_MONTHS}(?:\s+\d{{1,2}})?(?:,?\s+\d{{3,4}})?|\d{{1,2}}\s+{_MONTHS}(?:\s+\d{{3,4}})?"
    r"|\d{1,2}(?:st|nd|rd|th)\s+(?:century|centuries|millennium)|(?:first|second|third|fourth|fifth|sixth|seventh|"
    r"eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|"
    r"twentieth|twenty-first)\s+century)(?:\s*(?:-|–|to|and)\s*\S+)?$", re.I)
_NUMBER_ANSWER = re.compile(
    r"^(?:about|around|over|nearly|almost|more than|less than|approximately|roughly|some|up to|\$|us\$|£|€)?\s*"
    r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?|"
    r"millions?|half|a (?:few|dozen|hundred|thousand|million))\b", re.I)


def answer_kind(question: str, answer: str) -> str:
    """date, number, person, place or other."""
    text = answer.strip().rstrip(".")
    wh = re.search(r"\b(what|which|who|whom|whose|when|where|why|how)\b", question.lower())
    looks_like_date = _DATE_ANSWER.match(text) and (re.search(r"\d|centur|millenn", text, re.I) or wh and wh.group(1) == "when")
    a_year_asked_for = re.fullmatch(r"1\d{3}|20\d\d|\d{3}", text.replace(",", "")) and \
        re.search(r"\b(when|year|date|century|decade)\b", question, re.I)
    if looks_like_date and (not re.fullmatch(r"\d[\d,.]*", text) or a_year_asked_for):
        return "date"
    if _NUMBER_ANSWER.match(text) and len(text.split()) <= 6:
        return "number"
    asking = re.sub(r"^(?:when|if|while|after|before|once)\b[^,?]*,\s*", "", question.strip(), flags=re.I)
    wh = re.search(r"\b(what|which|who|whom|whose|when|where|why|how)\b", asking.lower())
    word = wh.group(1) if wh else ""
    if word in ("who", "whom", "whose"):
        return "person"
    if word == "where" or re.search(r"\b(what|which) (country|city|town|state|province|continent|region)\b", asking, re.I):
        return "place"
    if word == "when" or re.search(r"\b(what|which) (year|date|month|day|century|decade)\b", asking, re.I):
        return "date"
    if re.search(r"\bhow (many|much|long|old|far|big|large|tall|high)\b|\bwhat (percentage|share|proportion)\b",
                 asking, re.I):
        return "number"
    return "other"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")[:80]


def load(name: str) -> list | dict:
    with gzip.open(SOURCE / name, "rt", encoding="utf-8") as f:
        return json.load(f)


def main() -> None:
    from evals.train_reader import is_dev

    rng = random.Random(SEED)
    files: dict[str, str] = {}
    items: list[dict] = []

    def add(source: str, file: str, q: str, aliases: list[str], kind: str, qid: str) -> None:
        aliases = list(dict.fromkeys(a.strip() for a in aliases if a.strip()))
        if not aliases or not all(a.lower() in files[file].lower() for a in aliases):
            return
        items.append({"id": qid, "question": q.strip(), "answers": [aliases], "unanswerable": False,
                      "evidence_files": [file], "tags": {"kind": kind, "source": source}})

    for name, per, limit in (("new_wiki", PER_WIKI, None), ("amazon_reviews", PER_REVIEW, MAX_REVIEW_ARTICLES)):
        articles = [a for a in load(f"squadshifts/{name}_v1.0.json.gz")["data"] if is_dev(f"{name}:{a.get('title', '')}")]
        articles.sort(key=lambda a: a["title"])
        if limit:
            articles = rng.sample(articles, min(limit, len(articles)))
        for art in articles:
            title = art["title"].replace("_", " ") if name == "new_wiki" else \
                f"Customer reviews ({art['title'].replace('_', ' ')})"
            file = f"{'wiki' if name == 'new_wiki' else 'reviews'}_{slug(art['title'])}.txt"
            files[file] = title + "\n\n" + "\n\n".join(p["context"].strip() for p in art["paragraphs"]) + "\n"
            qas = [qa for p in art["paragraphs"] for qa in p["qas"]]
            for qa in rng.sample(qas, min(per, len(qas))):
                answers = [a["text"] for a in qa["answers"]]
                add(f"squadshifts-{name}", file, qa["question"], answers, answer_kind(qa["question"], answers[0]),
                    f"shifts-{qa['id']}")

    by_article: dict[str, list[dict]] = {}
    for split in ("dev", "test"):
        for item in load(f"selqa/selqa-ass-{split}.json.gz"):
            if is_dev(f"selqa:{item['article']}") and item.get("answers"):
                by_article.setdefault(item["article"], []).append(item)
    chosen = rng.sample(sorted(by_article), min(MAX_SELQA_ARTICLES, len(by_article)))
    for article in sorted(chosen):
        qs = by_article[article]
        file = f"selqa_{slug(article)}.txt"
        sections: dict[str, list[str]] = {}
        for q in qs:  # each section's candidate sentences once, in the order first seen
            sentences = sections.setdefault(q["section"], [])
            sentences += [s for s in q["candidates"] if s not in sentences]
        files[file] = article.replace("_", " ") + "\n\n" + "\n\n".join(
            f"{section}\n\n" + " ".join(sents) for section, sents in sections.items()) + "\n"
        for n, q in enumerate(rng.sample(qs, min(PER_SELQA, len(qs)))):
            answer = q["candidates"][q["answers"][0]]
            add("selqa", file, q["question"], [answer], answer_kind(q["question"], ""),
                f"selqa-{slug(article)}-{n}")

    # Unanswerable questions over the same articles: a changed copy of CHANGED_SHARE of the answerable ones
    # (evals/changed.py: a year, figure or name swapped for another of the article's, an antonym, a negation)
    from evals.changed import changed_condition

    changed = []
    for item in items:
        made = changed_condition(item["question"], files[item["evidence_files"][0]], rng)
        # every question whose year or figure could be changed, and CHANGED_SHARE of the others
        if made and (made[1] in ("year", "number") or rng.random() < CHANGED_SHARE):
            changed.append({"id": f"{item['id']}-changed", "question": made[0], "answers": [], "unanswerable": True,
                            "source_article": item["evidence_files"][0], "evidence_files": [],
                            "tags": {"kind": "unanswerable", "source": item["tags"]["source"], "changed": made[1]}})
    items += changed

    corpus = OUT / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for old in corpus.glob("*.txt"):
        old.unlink()
    for file, text in files.items():
        (corpus / file).write_text(text, encoding="utf-8")
    with (OUT / "questions.jsonl").open("w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    counts: dict[str, dict[str, int]] = {}
    for item in items:
        for key in ("source", "kind", "changed"):
            if key in item["tags"]:
                counts.setdefault(key, {}).setdefault(item["tags"][key], 0)
                counts[key][item["tags"][key]] += 1
    print(f"{len(files)} articles, {len(items)} questions; {json.dumps(counts)}")


if __name__ == "__main__":
    main()
