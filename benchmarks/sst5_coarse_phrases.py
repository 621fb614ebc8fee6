"""SST-5 with a first stage on SST-2's binary phrases through the 5-class head.

A lever for issue 13's SST-5 target that the product's `--model runs/sst-phrases`
route cannot express: there the phrases train a 2-class head that the SST-5 fine-tune
then replaces. Here the phrases train the *5-class* head itself, by the marginal
likelihood of their coarse side (a negative phrase: P(very negative) + P(negative); a
positive one: P(positive) + P(very positive)), and the sentence fine-tune continues from
that head. The phrases come from SST's training trees (no SST-5 dev sentence among
them); phrases shorter than --min-words, equal to an SST-5 sentence, or found inside an
SST-5 dev sentence are dropped.

A self-contained loop (the product's recipe: [CLS] + dropout 0.1 + linear head, AdamW
5e-5, weight decay 0.01, 10% warmup then linear decay, batch 32, 128 tokens, dev scored
each epoch, best epoch kept), so that `--phrases 0` is the same loop without the first
stage: the fair reference. Writes benchmarks/results/sst5-coarse-phrases-N-seedS.json.

    python benchmarks/sst5_coarse_phrases.py --phrases 0 --threads 1      # 3 epochs, ~35 min
    python benchmarks/sst5_coarse_phrases.py --phrases 30000 --threads 1  # + ~30 min
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

from bertsent.encoders.pretrained import resolve_model
from bertsent.training.config import DEFAULT_MODEL
from results_file import save_results

RESULTS = Path(__file__).parent / "results"
LABELS = ["very negative", "negative", "neutral", "positive", "very positive"]


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def coarse_loss(logits: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
    """-log of the probability mass on the phrase's side (0 negative, 1 positive)."""
    log_probs = logits.log_softmax(-1)
    negative = torch.logsumexp(log_probs[:, :2], -1)
    positive = torch.logsumexp(log_probs[:, 3:], -1)
    return -torch.where(side == 1, positive, negative).mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phrases", type=int, default=0, help="SST-2 phrases in stage 1")
    parser.add_argument("--min-words", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)

    fine = args.data_dir / "sst-fine"
    train = [(r["text"], LABELS.index(r["label"])) for r in read(fine / "train.csv")]
    dev = [(r["text"], LABELS.index(r["label"])) for r in read(fine / "dev.csv")]
    source = resolve_model(DEFAULT_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(source)
    encoder = AutoModel.from_pretrained(source)
    head = nn.Linear(encoder.config.hidden_size, len(LABELS))
    nn.init.xavier_uniform_(head.weight)
    nn.init.zeros_(head.bias)
    dropout = nn.Dropout(0.1)
    parameters = list(encoder.parameters()) + list(head.parameters())

    def logits(texts: list[str], training: bool) -> torch.Tensor:
        encoder.train(training)
        dropout.train(training)
        batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        return head(dropout(encoder(**batch).last_hidden_state[:, 0]))

    def dev_accuracy() -> float:
        with torch.no_grad():
            predicted = torch.cat(
                [
                    logits([text for text, _ in dev[i : i + 128]], False).argmax(-1)
                    for i in range(0, len(dev), 128)
                ]
            )
        return float((predicted == torch.tensor([label for _, label in dev])).float().mean())

    def run(examples: list[tuple[str, int]], loss: Any, epochs: int) -> list[float]:
        optimiser = torch.optim.AdamW(parameters, lr=5e-5, weight_decay=0.01)
        steps = epochs * ((len(examples) + 31) // 32)
        schedule = get_linear_schedule_with_warmup(optimiser, int(0.1 * steps), steps)
        history = []
        for epoch in range(epochs):
            random.shuffle(examples)
            started = time.time()
            for i in range(0, len(examples), 32):
                batch = examples[i : i + 32]
                value = loss(
                    logits([text for text, _ in batch], True),
                    torch.tensor([label for _, label in batch]),
                )
                value.backward()
                nn.utils.clip_grad_norm_(parameters, 1.0)
                optimiser.step()
                schedule.step()
                optimiser.zero_grad()
            history.append(dev_accuracy())
            speed = len(examples) / (time.time() - started)
            print(f"epoch {epoch + 1}: dev {history[-1]:.4f} ({speed:.0f} ex/s)", flush=True)
        return history

    result: dict[str, Any] = {"seed": args.seed, "phrases": args.phrases}
    if args.phrases:
        sentences = {text for text, _ in train} | {text for text, _ in dev}
        dev_text = " ".join(text for text, _ in dev)
        phrases = [
            (r["text"], 1 if r["label"] == "positive" else 0)
            for r in read(args.data_dir / "sst2" / "train.csv")
        ]
        phrases = [
            (text, side)
            for text, side in phrases
            if len(text.split()) >= args.min_words and text not in sentences
            and text not in dev_text
        ]  # fmt: skip
        random.shuffle(phrases)
        phrases = phrases[: args.phrases]
        print(len(phrases), "phrases", flush=True)
        result["stage1_dev_by_epoch"] = run(phrases, coarse_loss, 1)
    result["dev_by_epoch"] = run(list(train), nn.functional.cross_entropy, 3)
    result["best"] = max(result["dev_by_epoch"])
    print(json.dumps(result))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"sst5-coarse-phrases-{args.phrases}-seed{args.seed}.json"
    save_results(out, result)


if __name__ == "__main__":
    main()
