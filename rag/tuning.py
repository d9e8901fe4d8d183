"""The ledger: every number in rag/ that was tuned or set by judgement, in one place, each with where it comes
from (the script that derives it and the figure it was chosen on) or "set by hand" and why.

The modules that use these numbers import them from here; nothing else in rag/ writes them. Numbers the
trained models carry (the evidence scorer's and the reader's thresholds and weights) live in their model
files, which their training scripts write; the ledger names them and tests/test_tuning.py checks that each
entry below agrees with what its script last kept (evals/results/<script>.json; `result`), reruns the scripts
that take seconds, and checks the shipped model files. Where a rerun chooses another value than the one in
use, `script_says` records it and `why` says why the value in use stays (a test fails when either moves).

Cosine thresholds: five numbers below all read as "says the same", and they are kept apart on purpose, since
they compare different things and their errors cost differently:
- DUP_THRESHOLD 0.59 compares whole *articles* (mean best-match cosine of one article's sentences against the
  other's): a low bar over many sentences; chosen between the bundled corpus's derived pairs (>= 0.64) and its
  unrelated same-topic pairs (<= 0.54).
- SEM_SUPPORT 0.7 and DISAGREE_SIMILAR 0.7 compare one *sentence* with another that should state the same fact
  (a generated sentence and its source; two quotes of one answer). SEM_SUPPORT was measured (evals/tune_support.py);
  DISAGREE_SIMILAR shares its value because it asks the same question of two quotes, and is not tuned apart.
- COLLAPSE 0.75 compares retrieved *passages* (chunk vectors, several sentences): two passages that close hold
  the same text in two copies of an article; higher than the sentence bar because chunks that only share a
  topic already reach ~0.7.
- SAME_SENTENCE 0.8 compares *sentences of near-duplicate articles* (a translation's sentence and the
  original's): the strictest, because a wrong "same" here drops a quote or merges two citations.
Making them one number would change answers (every eval figure moves), which a redesign must not do; each
is a candidate for its own tuning script.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    name: str
    value: float | int
    used_in: str
    source: str  # the script that derives it, or "set by hand"
    why: str  # the figure it was chosen on, or why it is set by hand
    result: str = ""  # "<evals/results file>:<path.to.value>": where that script keeps what it chose
    script_says: float | int | None = None  # the script's choice when it differs from `value` (`why` says why)


# ---------------------------------------------------------------- chunking and retrieval (index)
CHUNK_SIZE = 500  # Settings.chunk_size's default: target chunk length in characters
CHUNK_OVERLAP = 1  # Settings.chunk_overlap's default: sentences repeated at the start of the next chunk
TOP_K = 5  # Settings.top_k's default: passages one answer reads
CANDIDATES = 20  # Settings.candidates' default: candidates each retriever (dense, BM25) gives to fusion
MAX_K = 100  # passages one search may return
MAX_READ_K = 50  # passages one answer may read (k of ask; the API's, MCP's and CLI's -k; Settings.top_k)
COLLAPSE = 0.75  # cosine above which two retrieved passages are one passage in two copies
DUP_THRESHOLD = 0.59  # Settings.dup_threshold's default: near-duplicate articles (sentence containment)
RRF_K = 60  # reciprocal rank fusion's constant

# ---------------------------------------------------------------- choosing the answer (answer)
RATIO = 0.6  # a further sentence joins the answer at >= this share of the best one's probability
MAX_SENTENCES = 3  # sentences one extractive answer quotes (before the second hop and contradicting quotes)
SAME_SENTENCE = 0.8  # cosine above which a near-duplicate article's sentence says the same
DISAGREE_SIMILAR = 0.7  # cosine above which two quotes of one answer state the same thing
HOP_BELOW = 0.2  # the second hop is tried below this confidence (or for bridge questions)
HOP_MIN = 0.005  # the second hop's sentence joins at this probability or more
MERGE_MARGIN = 0.1  # a conversation-merged reading replaces the plain one when surer by this much

# ---------------------------------------------------------------- checking generated sentences (answer)
LEX_SUPPORT = 0.3  # share of a generated sentence's content words found in its cited passages
SEM_SUPPORT = 0.7  # cosine of a generated sentence with the closest sentence of its cited passages

# ---------------------------------------------------------------- metrics (evals)
HIT_SHARE = 0.8  # a retrieved passage "hits" when it holds at least this share of a gold quote
FUZZY = 0.9  # difflib ratio above which a claim counts as contained in a passage sentence

LEDGER: tuple[Entry, ...] = (
    Entry("CHUNK_SIZE", CHUNK_SIZE, "Settings.chunk_size, chunk.chunk_article", "evals/tune_chunking.py",
          "chosen on the first 32 bundled questions, dense retrieval: 500/1 hit@5 1.000, MRR 0.887 (700/1 0.969, "
          "0.807; 1000/1 0.812, 0.720). Rerun on today's 66 questions the script's rule picks 300/0 (hit@5 0.894, "
          "MRR 0.808 against 500/1's 0.879, 0.776: one question at hit@5). Kept: the evidence scorer and the "
          "reader were trained on 500/1 chunks and every suite figure is measured on them; a change of size is a "
          "retraining, not a redesign (evals/results/tune_chunking.json)",
          result="tune_chunking:chosen.CHUNK_SIZE", script_says=300),
    Entry("CHUNK_OVERLAP", CHUNK_OVERLAP, "Settings.chunk_overlap, chunk.chunk_article", "evals/tune_chunking.py",
          "as CHUNK_SIZE: the rerun picks overlap 0 (with size 300); 1 is kept for the same reason", result="tune_chunking:chosen.CHUNK_OVERLAP", script_says=0),
    Entry("TOP_K", TOP_K, "Settings.top_k", "set by hand",
          "five passages of ~500 characters fit a reader's screen and a generative backend's prompt; the suites' "
          "retrieval_hit_at_5 (0.72-0.97) is measured at it, not chosen by it"),
    Entry("CANDIDATES", CANDIDATES, "Settings.candidates (the fusion in rag/retrieve.py reads it)", "set by hand",
          "four times top_k from each retriever before fusion, so a passage ranked low by one and high by the "
          "other survives; not tuned"),
    Entry("MAX_K", MAX_K, "retrieve.check_query, api /v1/search, MCP search", "set by hand",
          "a bound on one request's work (a search returns at most 100 passages); not a quality setting"),
    Entry("MAX_READ_K", MAX_READ_K, "Settings.top_k, api chat k, MCP ask k, `rag ask -k`", "set by hand",
          "answering reads every passage's sentences with the scorer and the reader: 50 bounds one answer's "
          "time (~10x the default k=5) while leaving room to experiment; one constant for the four interfaces"),
    Entry("COLLAPSE", COLLAPSE, "retrieve.search", "set by hand",
          "not measured: a passage-level bar between the article-level DUP_THRESHOLD and the sentence-level "
          "SAME_SENTENCE (see the module docstring); candidate for a tuning script"),
    Entry("DUP_THRESHOLD", DUP_THRESHOLD, "Settings.dup_threshold, dedup", "measured in rag/dedup.py's docstring",
          "bundled corpus, all-MiniLM-L6-v2: derived pairs (translation, summary) 0.64-0.92, other pairs <= 0.54"),
    Entry("RRF_K", RRF_K, "retrieve.rrf", "set by hand", "the constant of Cormack et al. (2009), not tuned here"),
    Entry("RATIO", RATIO, "candidates.select", "measured once on evals/train_scorer.py's out-of-fold predictions "
          "(commit 238964e); no script reruns it",
          "scorer training articles, leave one article out: answer in the quoted text 1.0 -> 0.739, 0.8 -> 0.758, "
          "0.6 -> 0.778 with 1.18 sentences on average, 0.4 -> 0.803 with 1.35: 0.6 keeps answers short"),
    Entry("MAX_SENTENCES", MAX_SENTENCES, "candidates.select", "set by hand",
          "at RATIO 0.6 answers average 1.18 sentences; the cap only bounds rare near-ties (a reader wants a "
          "quote, not a page)"),
    Entry("SAME_SENTENCE", SAME_SENTENCE, "candidates (select, prefer_originals, rivals, abstention), "
          "answerer.second_hop", "set by hand",
          "not measured: the strictest cosine bar, since a wrong 'same' drops a quote or merges two citations; "
          "candidate for a tuning script"),
    Entry("DISAGREE_SIMILAR", DISAGREE_SIMILAR, "candidates.disagreements", "set by hand",
          "the same question as SEM_SUPPORT (do two sentences state one fact?) asked of two quotes; shares its "
          "value rather than being tuned apart (no labelled disagreements to tune on)"),
    Entry("HOP_BELOW", HOP_BELOW, "answerer.answer", "evals/tune_two_hop.py (grid; chosen by hand for cost)",
          "HotpotQA questions 51-88 (the suite reports 1-50), chosen 2026-11-25 before the reader: a relative "
          "clause or confidence < 0.2, HOP_MIN 0.3: accuracy 0.421 with 7 hops (no hop 0.342; always 0.474 but a "
          "second search on most questions). With the reader (2026-12-01): no hop 0.421, in use 0.500 with 10 "
          "hops, always 0.553 with 18; kept, a latency decision for later. With the scorer of issue 28 (trained "
          "with changed-condition questions: its probabilities are lower) no hop second sentence reached 0.3 "
          "(0.421, 2 hops); HOP_BELOW kept (2026-12-06)",
          result="tune_two_hop:in_use.HOP_BELOW"),
    Entry("HOP_MIN", HOP_MIN, "answerer.second_hop", "evals/tune_two_hop.py (grid)",
          "2026-12-06, the scorer of issue 28: the best of the grid under the rule in use (relative clause or "
          "confidence < 0.2): HOP_MIN 0.005 and 0.01 tie at accuracy 0.526 with 27 hops of 38, 0.02 0.500 (22), "
          "0.05 0.447 (15), 0.3 0.421 (2); no hop 0.395 (evals/results/tune_two_hop.json). The lower of the tie: "
          "the scorer's probability of a bridge's sentence against the merged query is small (0.008 for the "
          "two-article case of tests/test_learned_answering.py)",
          result="tune_two_hop:in_use.HOP_MIN"),
    Entry("MERGE_MARGIN", MERGE_MARGIN, "answerer.extractive", "set by hand",
          "'clearly surer': a fixed margin so that a follow-up without a pronoun is read with the conversation "
          "only when that reading wins outright; not tuned (the conversational suite has 20 questions)"),
    Entry("LEX_SUPPORT", LEX_SUPPORT, "generate.Verifier", "evals/tune_support.py",
          "48 real paraphrases and 66 unsupported pairs: with the numbers-and-names check, lex >= 0.3 and "
          "cos >= 0.7 keep 93.8% of supported pairs and drop 100% of unsupported ones (balanced 0.969)",
          result="tune_support:chosen.LEX_SUPPORT"),
    Entry("SEM_SUPPORT", SEM_SUPPORT, "generate.Verifier", "evals/tune_support.py", "as LEX_SUPPORT",
          result="tune_support:chosen.SEM_SUPPORT"),
    Entry("HIT_SHARE", HIT_SHARE, "metrics.is_hit", "set by hand",
          "a metric's definition, not a model setting: a passage that holds most of a gold quote counts even "
          "when chunking cut the quote's edge"),
    Entry("FUZZY", FUZZY, "judge.Judge (the grounding judge)", "set by hand",
          "a metric's definition: a claim nearly equal to an evidence sentence (punctuation, a dropped word) is "
          "contained in it"),
)
