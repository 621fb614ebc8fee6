"""In-domain unlabelled texts for distillation: copies of a dataset's training texts with
some words swapped for their neighbours in the packaged encoder's word embeddings.

TinyBERT (Jiao et al. 2020) distils into small students on such copies: a teacher labels
them (``bertsent train --teacher T --distill-texts FILE``), so a swap that turns the
sentiment ("good" -> "bad", which sit close together) is labelled by the teacher, not
by the copy's source. Unlike IMDb's user-review sentences (``imdb_sentences.py``) they
keep the critics' vocabulary and length. Only the training split is copied, and no copy
equals a dev or test text as ``bertsent evaluate``'s overlap guard compares them (their
letters and digits, case-folded), since the student remembers every text it was trained on.

    python benchmarks/perturbed_texts.py --data rotten-tomatoes --copies 3 \
        --output runs/rt-perturbed.csv
    python benchmarks/perturbed_texts.py --data rotten-tomatoes --copies 3 --seed 1 \
        --keep runs/rt-perturbed.csv --output runs/rt-perturbed6.csv  # 3 more of each
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

import torch
from safetensors.torch import load_file

from bertsent.data import load_dataset, read_unlabelled
from bertsent.data.splits import normalise_text
from bertsent.encoders.pretrained import DEFAULT_MODEL, resolve_model
from imdb_sentences import write_texts

WORD = re.compile(r"[A-Za-z]+")


def word_neighbours(model_dir: Path, count: int) -> dict[str, list[str]]:
    """Each whole, alphabetic word of the vocabulary -> its ``count`` nearest other such
    words by the cosine of their input embeddings."""
    vocabulary = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    weights = load_file(str(model_dir / "model.safetensors"))
    embeddings = next(v for k, v in weights.items() if k.endswith("word_embeddings.weight"))
    words = [i for i, w in enumerate(vocabulary) if len(w) > 1 and w.isascii() and w.isalpha()]
    unit = torch.nn.functional.normalize(embeddings[words].float(), dim=1)
    neighbours: dict[str, list[str]] = {}
    for start in range(0, len(words), 2048):
        similarity = unit[start : start + 2048] @ unit.T
        for row, index in enumerate(range(start, min(start + 2048, len(words)))):
            similarity[row, index] = -1.0  # not the word itself
        nearest = similarity.topk(count, dim=1).indices.tolist()
        for row, chosen in enumerate(nearest):
            word = vocabulary[words[start + row]]
            neighbours[word] = [vocabulary[words[i]] for i in chosen]
    return neighbours


def perturbed(text: str, neighbours: dict[str, list[str]], share: float, rng: random.Random) -> str:
    """``text`` with each known word swapped, with probability ``share``, for one of its
    neighbours (capitalised as it was)."""

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        choices = neighbours.get(word.lower())
        if not choices or rng.random() >= share:
            return word
        new = rng.choice(choices)
        return new.capitalize() if word[0].isupper() else new

    return WORD.sub(swap, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="rotten-tomatoes")
    parser.add_argument("--output", type=Path, default=Path("runs/rt-perturbed.csv"))
    parser.add_argument("--copies", type=int, default=3, help="copies of each training text")
    parser.add_argument("--share", type=float, default=0.4, help="chance a word is swapped")
    parser.add_argument("--neighbours", type=int, default=15, help="candidates per word")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="whose word embeddings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--keep",
        type=Path,
        help="an earlier output to extend: its copies come first, unchanged, and this run "
        "adds its own (give another --seed than the earlier run's, or it adds none)",
    )
    args = parser.parse_args()

    splits = load_dataset(args.data)
    neighbours = word_neighbours(Path(resolve_model(args.model)), args.neighbours)
    held_out = {normalise_text(t) for t in splits.dev.texts}
    held_out |= {normalise_text(t) for t in splits.test.texts} if splits.test else set()
    seen = held_out | {normalise_text(t) for t in splits.train.texts}
    rng = random.Random(args.seed)
    if args.keep and not args.keep.is_file():
        raise SystemExit(f"--keep {args.keep}: not a file written by this script")
    chosen = read_unlabelled(str(args.keep))[0] if args.keep else []
    if held_out & {normalise_text(text) for text in chosen}:
        raise SystemExit(f"{args.keep}: holds a dev or test text")
    seen |= {normalise_text(text) for text in chosen}
    kept = len(chosen)
    for text in splits.train.texts:
        for _ in range(args.copies):
            copy = perturbed(text, neighbours, args.share, rng)
            copy_key = normalise_text(copy)
            if copy_key not in seen:
                seen.add(copy_key)
                chosen.append(copy)

    if kept and len(chosen) == kept:
        raise SystemExit(f"no copy added to {args.keep}'s: give another --seed")
    write_texts(args.output, chosen)
    print(
        f"{len(chosen) - kept:,} copies of {len(splits.train):,} training texts"
        + (f", after the {kept:,} of {args.keep}" if kept else "")
        + f" -> {args.output}"
    )


if __name__ == "__main__":
    main()
