"""Contrast examples for training: negation, contrast clauses and sarcasm, from templates.

Review corpora rarely show a model that "hardly" flips a word, that the clause after
"yet" decides, or that praise can frame a complaint; bag-of-words features cannot learn
it at all. These short reviews state it directly, with both polarities in every frame,
so a model must read the construction rather than a cue word.

They share no template and no content word with the behaviour suite
(:mod:`bertsent.evaluation.lexicon`): the suite still measures whether a model
generalises, not whether it remembers (checked by ``tests/data/test_augment.py``).

For aspect data one kind is made of the user's own sentences instead: ``joined`` puts two
training sentences judged differently into one, so that the sentence alone no longer
decides and the model must read the aspect.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from bertsent.data.splits import DatasetSplits, Split
from bertsent.data.tasks import (
    aspect_missing,
    is_aspect_data,
    join_aspect,
    ordinal_scale,
    split_aspect,
)
from bertsent.errors import ConfigError

logger = logging.getLogger(__name__)

AUGMENTATIONS = ("contrast", "intensity", "sarcasm", "aspects", "joined")
# the kinds for aspect data; the template ``aspects`` did not help on SemEval-14 laptops
# (dev 76.62% / macro-F1 0.707 with them, 76.19% / 0.701 without; sentences whose aspects
# differ 54% vs 56% right), so they are only added when asked for
ASPECT_AUGMENTATION = ("aspects", "joined")
# what ``auto`` adds to aspect data for BERT: real sentences joined. On SemEval-14, seeds
# 42/7/1 paired against the same recipe without them: laptops +2.7 points, restaurants
# +0.1 (no teacher); +1.7 and +1.0 distilled from a 110M teacher (README, issue 13)
ASPECT_DEFAULT_AUGMENTATION = ("joined",)
# kinds made of the user's own training sentences and labels, not templates: they need
# no positive and negative label, and the cap on generated examples does not apply
OWN_SENTENCE_KINDS = frozenset({"joined"})
# ``joined``: how two real training sentences become one; the first letter of the second
# is lowered after a connector that continues the sentence
JOINS = ((", but ", True), ("; ", False), (", while ", True), (". ", False))
# what ``--augment auto`` (the default) adds to data with one positive and one negative label;
# sarcasm since it cut rotten-tomatoes' sarcasm failures 35% -> 30% over 3 seeds (README)
DEFAULT_AUGMENTATION = ("contrast", "intensity", "sarcasm")
# what ``auto`` adds to a fine-grained model on a five-class scale (SST-5's names, 1-5
# stars), the one size measured: the graded wordings.
# On SST-5, seeds 42/7/1: the intensity score orders "Absolutely incredible" > "Good" >
# "Somewhat good" on 3 seeds of 3 (2 without), the suite's intensity failures 1.6% (4.8%),
# sarcasm 37.6% (45.1%), dev accuracy -0.58 points paired, within the seed spread (README)
SCALE_DEFAULT_AUGMENTATION = ("intensity",)
# ``auto`` adds them only while they stay at most this share of the real training reviews:
# templates must teach constructions, not outvote a small dataset (about 3,200 generated
# examples need 6,400 real ones; rotten-tomatoes has 10,270, sst-binary 6,920)
MAX_GENERATED_SHARE = 0.5
# label names that say which side of a two-sided label set a class is on
POSITIVE_LABELS = frozenset({"positive", "pos", "fresh", "good", "very positive", "1", "true"})
NEGATIVE_LABELS = frozenset({"negative", "neg", "rotten", "bad", "very negative", "0", "false"})

PRAISE = (
    "splendid", "marvelous", "stellar", "outstanding", "gripping", "riveting", "magnificent",
    "captivating", "exceptional", "polished", "heartfelt", "inventive", "clever", "witty",
    "engaging", "stunning", "elegant", "sturdy", "reliable", "solid",
)  # fmt: skip
CRITICISM = (
    "clumsy", "lifeless", "sloppy", "bland", "shoddy", "flimsy", "incoherent", "hollow",
    "lackluster", "unwatchable", "stale", "messy", "dismal", "inept", "wretched", "grating",
    "overlong", "cheap", "unreliable", "painful",
)  # fmt: skip
THINGS = (
    "picture", "feature", "flick", "musical", "western", "romance", "biopic", "mystery",
    "miniseries", "cartoon", "tablet", "speaker", "kettle", "printer", "router", "backpack",
    "toaster", "monitor", "microwave", "smartwatch",
)  # fmt: skip
PARTS = (
    "pacing", "cinematography", "visuals", "score", "editing", "direction", "storyline",
    "costumes", "display", "trackpad", "strap", "interface", "build quality", "lid",
    "touchscreen", "speakers", "remote", "casting",
)  # fmt: skip
CHERISH = ("savor", "admire", "cherish", "treasure", "relish")
CHEERS = ("Bravo", "Hooray", "Oh joy", "Well done", "How thrilling", "What a treat")
ORDEALS = (
    "a twist anyone could see coming from the opening credits",
    "an entire runtime of characters yelling at each other",
    "a remote that needs new batteries each morning",
    "a kettle that leaks onto the counter",
    "a villain who explains his whole plan twice",
    "a printer that jams constantly",
    "subplots that go nowhere",
    "a router that drops the connection at dinnertime",
)
MERITS = (
    "a finale that earns its tears",
    "performances that feel lived in",
    "a kettle that boils in under a minute",
    "a printer that has never once jammed",
    "jokes that still land on a second viewing",
    "a router that covers the whole house",
)

# sarcasm frames beyond the cheers of TEMPLATES: rhetorical praise around a mishap
MISHAPS = (
    "a storyline held together with duct tape",
    "a screenplay that sounds machine translated",
    "a toaster that sheds its crumb tray",
    "a score stuck on a single shrill note",
    "a microwave that roars louder than a jet engine",
    "a router that melts its own cable",
    "jump scares telegraphed by the violins",
    "a touchscreen that freezes mid-swipe",
    "a finale that simply stops",
    "a backpack whose strap snaps on its first outing",
)
DELIGHTS = (
    "a storyline that rewards close attention",
    "a screenplay that crackles",
    "a toaster that browns both sides evenly",
    "a score worth owning separately",
    "a microwave you never hear",
    "a router that stays cool",
    "jump scares that land each time",
    "a touchscreen that responds instantly",
    "a finale that lingers for months",
    "a backpack whose strap survives years of hiking",
)
SARCASM_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("{cheer}, at long last we get {mishap}.", "negative"),
    ("{cheer}, at long last we get {delight}.", "positive"),
    ("just what every {thing} needs: {mishap}.", "negative"),
    ("just what every {thing} needs: {delight}.", "positive"),
    ("what could be better than {mishap}?", "negative"),
    ("what could be better than {delight}?", "positive"),
    ("top marks for {mishap}.", "negative"),
    ("top marks for {delight}.", "positive"),
    ("{cheer}! Here is {mishap}, exactly as advertised.", "negative"),
    ("{cheer}! Here is {delight}, exactly as advertised.", "positive"),
)

# (template, label side): every construction appears with both outcomes
TEMPLATES: tuple[tuple[str, str], ...] = (
    # negation of a positive or a negative word, in forms without "not"
    ("the {part} was hardly {praise}.", "negative"),
    ("the {part} was hardly {criticism}.", "positive"),
    ("nobody could call this {thing} {praise}.", "negative"),
    ("nobody could call this {thing} {criticism}.", "positive"),
    ("the {thing} is far from {praise}.", "negative"),
    ("the {thing} is far from {criticism}.", "positive"),
    ("I wouldn't describe the {part} as {praise}.", "negative"),
    ("I wouldn't describe the {part} as {criticism}.", "positive"),
    ("the {part} turned out anything but {praise}.", "negative"),
    ("the {part} turned out anything but {criticism}.", "positive"),
    ("no part of this {thing} felt {praise}.", "negative"),
    ("no part of this {thing} felt {criticism}.", "positive"),
    ("I found nothing to {cherish} in this {thing}.", "negative"),
    ("I found plenty to {cherish} in this {thing}.", "positive"),
    # contrast: the later or main clause decides
    ("the {part} had {praise} moments, yet the {thing} as a whole felt {criticism}.", "negative"),
    ("the {part} had {criticism} moments, yet the {thing} as a whole felt {praise}.", "positive"),
    ("for all its {praise} {part}, the {thing} is {criticism}.", "negative"),
    ("for all its {criticism} {part}, the {thing} is {praise}.", "positive"),
    ("even with a {praise} {part}, the {thing} ends up {criticism}.", "negative"),
    ("even with a {criticism} {part}, the {thing} ends up {praise}.", "positive"),
    ("a {praise} {part} cannot rescue this {criticism} {thing}.", "negative"),
    ("a {criticism} {part} hardly spoils this {praise} {thing}.", "positive"),
    ("the {part} starts {praise}; still, the {thing} ends {criticism}.", "negative"),
    ("the {part} starts {criticism}; still, the {thing} ends {praise}.", "positive"),
    # sarcasm: cheering framing an ordeal, and the same cheers meant sincerely
    ("{cheer}, {ordeal}.", "negative"),
    ("{cheer}, {merit}.", "positive"),
    ("{cheer} to whoever thought this {thing} needed {ordeal}.", "negative"),
    ("{cheer} to whoever gave this {thing} {merit}.", "positive"),
    ("ten out of ten for {ordeal}, said no one.", "negative"),
    ("ten out of ten for {merit}.", "positive"),
)
# intensity: how sure a review is, taught by how often each wording carries its side's
# label (label proportions are soft targets that every classifier can learn from)
BOOSTERS = ("exceptionally", "tremendously", "thoroughly", "wildly", "immensely")
HEDGES = ("moderately", "reasonably", "passably", "marginally", "rather", "more or less")
GRADED_TEMPLATES = (
    "this {thing} feels {grade}{adjective}.",
    "I'd rate the {part} as {grade}{adjective}.",
)
# boosted, plain, hedged: (times labelled with the adjective's side, with the other side)
GRADES: tuple[tuple[int, int], ...] = ((4, 0), (4, 1), (3, 2))

# on an ordered scale, boosted, plain, hedged: [(place, times)] with places "end" of the
# adjective's side, "step" one class in from that end, and the "centre"
SCALE_GRADES: tuple[tuple[tuple[str, int], ...], ...] = (
    (("end", 4), ("step", 1)),
    (("end", 1), ("step", 3), ("centre", 1)),
    (("step", 3), ("centre", 2)),
)

# aspects: two parts of one thing judged in opposite ways, each the aspect of one example,
# so the sentence alone cannot decide; the first slot is praised, the second criticised
ASPECT_TEMPLATES = (
    "the {first} is {praise}, but the {second} is {criticism}.",
    "the {second} is {criticism}, while the {first} is {praise}.",
    "I found the {first} {praise}, although the {second} felt {criticism}.",
    "{second} {criticism}; {first} {praise}.",
    "the {first} could hardly be more {praise}, yet the {second} is {criticism}.",
    "despite a {criticism} {second}, the {first} is {praise}.",
)

SLOTS: dict[str, Sequence[str]] = {
    "praise": PRAISE,
    "criticism": CRITICISM,
    "thing": THINGS,
    "part": PARTS,
    "cherish": CHERISH,
    "cheer": CHEERS,
    "ordeal": ORDEALS,
    "merit": MERITS,
    "mishap": MISHAPS,
    "delight": DELIGHTS,
}


def contrast_examples(per_template: int = 60, seed: int = 0) -> list[tuple[str, str]]:
    """(text, "positive"|"negative") pairs: up to ``per_template`` fillings of each template.

    >>> contrast_examples(1, seed=0)[0][1]
    'negative'
    """
    return filled_templates(TEMPLATES, per_template, seed)


def sarcasm_examples(per_template: int = 60, seed: int = 0) -> list[tuple[str, str]]:
    """(text, side) pairs: praise framing a mishap (negative) beside the same frame
    around a real merit (positive), so the frame's cheer alone cannot decide."""
    return filled_templates(SARCASM_TEMPLATES, per_template, seed)


def filled_templates(
    templates: Sequence[tuple[str, str]], per_template: int, seed: int
) -> list[tuple[str, str]]:
    """Up to ``per_template`` distinct fillings of each (template, side) from :data:`SLOTS`."""
    rng = np.random.default_rng(seed)
    examples: dict[str, str] = {}
    for template, side in templates:
        names = list(dict.fromkeys(re.findall(r"{(\w+)}", template)))
        for _ in range(per_template):
            values = {name: SLOTS[name][int(rng.integers(len(SLOTS[name])))] for name in names}
            text = template.format(**values)
            examples.setdefault(text[0].upper() + text[1:], side)
    return list(examples.items())


def graded_wordings(per_template: int, seed: int) -> Iterator[tuple[str, int, int]]:
    """(text, side, grade): ``per_template`` fillings of each graded template for each side
    (0 praise, 1 criticism), each with a boosted, a plain and a hedged wording (grade 0,
    1, 2); the wordings both kinds of intensity examples label."""
    rng = np.random.default_rng(seed)
    for template in GRADED_TEMPLATES:
        for side, adjectives in enumerate((PRAISE, CRITICISM)):
            for _ in range(per_template):
                thing = THINGS[int(rng.integers(len(THINGS)))]
                part = PARTS[int(rng.integers(len(PARTS)))]
                adjective = adjectives[int(rng.integers(len(adjectives)))]
                for strength, modifiers in enumerate((BOOSTERS, ("",), HEDGES)):
                    modifier = modifiers[int(rng.integers(len(modifiers)))]
                    grade = f"{modifier} " if modifier else ""
                    text = template.format(thing=thing, part=part, grade=grade, adjective=adjective)
                    yield text[0].upper() + text[1:], side, strength


def intensity_examples(per_template: int = 24, seed: int = 0) -> list[tuple[str, str]]:
    """(text, side) pairs where a text recurs with both sides in proportion to its strength.

    A boosted adjective is always labelled with its own side, a plain one 4 times in 5,
    a hedged one 3 times in 5: a model fitted to these proportions orders "exceptionally
    sturdy" > "sturdy" > "moderately sturdy".
    """
    sides = ("positive", "negative")
    examples = []
    for text, side, grade in graded_wordings(per_template, seed):
        same, opposite = GRADES[grade]
        examples += [(text, sides[side])] * same + [(text, sides[1 - side])] * opposite
    return examples


def graded_examples(per_template: int = 24, seed: int = 0) -> list[tuple[str, str]]:
    """(text, place) pairs for an ordered scale, ``place`` one of the five SST names.

    The same wordings as :func:`intensity_examples`, spread over the scale: a boosted
    adjective is mostly at its end (4 of 5, else one step in), a plain one one step in
    (3 of 5, else the end or the centre), a hedged one between that step and the
    centre (3 and 2 of 5). Expected places: 0.9, 0.5 and 0.3 of the way from the centre.
    """
    places = (
        {"end": "very positive", "step": "positive", "centre": "neutral"},
        {"end": "very negative", "step": "negative", "centre": "neutral"},
    )
    return [
        (text, places[side][at])
        for text, side, grade in graded_wordings(per_template, seed)
        for at, times in SCALE_GRADES[grade]
        for _ in range(times)
    ]


def scale_places(scale: Sequence[str]) -> dict[str, str]:
    """The data's label for each of the five SST places on an ordered ``scale`` of an odd
    number of labels (lowest first): the ends, one step in from each end, the centre.

    >>> scale_places(["1", "2", "3", "4", "5"])["positive"], scale_places(["1", "2", "3"])
    ('4', {'very negative': '1', 'negative': '1', 'neutral': '2', 'positive': '3', \
'very positive': '3'})

    Raises:
        ConfigError: the scale has no middle class (an even number of labels).
    """
    if len(scale) % 2 == 0:
        raise ConfigError(
            f"--augment on an ordered scale needs a middle class; {', '.join(scale)} has none",
            hint="use --augment none",
        )
    top = len(scale) - 1
    step = 1 if len(scale) >= 5 else 0
    places = {"very negative": 0, "negative": step, "neutral": top // 2}
    places |= {"positive": top - step, "very positive": top}
    return {name: scale[index] for name, index in places.items()}


def aspect_examples(per_template: int = 70, seed: int = 0) -> list[tuple[str, str]]:
    """(``sentence [SEP] aspect``, side) pairs: each sentence judges two parts oppositely
    and appears once per part, labelled with that part's side."""
    rng = np.random.default_rng(seed)
    examples: dict[str, str] = {}
    for template in ASPECT_TEMPLATES:
        for _ in range(per_template):
            first, second = (PARTS[int(i)] for i in rng.choice(len(PARTS), 2, replace=False))
            praise = PRAISE[int(rng.integers(len(PRAISE)))]
            criticism = CRITICISM[int(rng.integers(len(CRITICISM)))]
            text = template.format(first=first, second=second, praise=praise, criticism=criticism)
            sentence = text[0].upper() + text[1:]
            examples.setdefault(join_aspect(sentence, first), "positive")
            examples.setdefault(join_aspect(sentence, second), "negative")
    return list(examples.items())


def joined_aspect_examples(train: Split, seed: int = 0) -> list[tuple[str, str]]:
    """(``sentence [SEP] aspect``, label) pairs from two real training sentences joined
    into one: each sentence judges all its aspects one way, the two differently, so
    the joined sentence holds both judgements and only the aspect can decide.

    Every training sentence whose aspects share one label is used at most once; two
    are not joined where an aspect of one also occurs in the other (its label would
    be ambiguous). The labels are the data's own, so none is invented.
    """
    by_sentence: dict[str, dict[str, set[str]]] = {}
    for text, label in zip(train.texts, train.labels, strict=True):
        sentence, aspect = split_aspect(text)
        if aspect is not None:  # every label an aspect gets (a sentence may judge it twice)
            by_sentence.setdefault(sentence, {}).setdefault(aspect, set()).add(label)
    groups: dict[str, list[str]] = {}
    for sentence, aspects in by_sentence.items():
        judged = set().union(*aspects.values())
        if len(judged) == 1:
            groups.setdefault(next(iter(judged)), []).append(sentence)
    rng = np.random.default_rng(seed)
    for sentences in groups.values():
        rng.shuffle(sentences)
    examples: list[tuple[str, str]] = []
    while len(filled := [label for label in sorted(groups) if groups[label]]) >= 2:
        picked = rng.choice(len(filled), 2, replace=False)
        first, second = (groups[filled[int(i)]].pop() for i in picked)
        if any(not aspect_missing(second, aspect) for aspect in by_sentence[first]) or any(
            not aspect_missing(first, aspect) for aspect in by_sentence[second]
        ):
            continue
        connector, continues = JOINS[int(rng.integers(len(JOINS)))]
        tail = second.strip()
        if continues and not re.match(r"I\b|.[A-Z]", tail):
            tail = tail[0].lower() + tail[1:]
        joined = first.strip().rstrip(".!?;,") + connector + tail
        examples += [
            (join_aspect(joined, aspect), label)  # the one label of all its aspects
            for sentence in (first, second)
            for aspect, (label,) in by_sentence[sentence].items()
        ]
    return examples


def polarity_labels(labels: Sequence[str]) -> dict[str, str] | None:
    """{"positive": label, "negative": label} when ``labels`` name exactly one of each
    (others, such as neutral, may be there too), else None."""
    positive = [label for label in labels if label.lower() in POSITIVE_LABELS]
    negative = [label for label in labels if label.lower() in NEGATIVE_LABELS]
    if len(positive) != 1 or len(negative) != 1:
        return None
    return {"positive": positive[0], "negative": negative[0]}


def label_sides(labels: Sequence[str]) -> dict[str, str]:
    """{"positive": label, "negative": label} for a two-class dataset naming both sides.

    Raises:
        ConfigError: the labels are not one positive and one negative name.
    """
    positive = [label for label in labels if label.lower() in POSITIVE_LABELS]
    negative = [label for label in labels if label.lower() in NEGATIVE_LABELS]
    if len(labels) != 2 or len(positive) != 1 or len(negative) != 1:
        raise ConfigError(
            f"--augment needs two labels, one positive and one negative; this data has "
            f"{', '.join(labels)}",
            hint=f"positive names: {', '.join(sorted(POSITIVE_LABELS))}; negative names: "
            f"{', '.join(sorted(NEGATIVE_LABELS))}",
        )
    return {"positive": positive[0], "negative": negative[0]}


def resolve_augmentation(
    requested: str | Sequence[str],
    labels: Sequence[str],
    aspects: bool = False,
    *,
    fine_grained: bool = True,
) -> tuple[str, ...]:
    """The kinds to add: ``auto`` is :data:`ASPECT_DEFAULT_AUGMENTATION` for aspect
    pairs, :data:`SCALE_DEFAULT_AUGMENTATION` on a five-class scale unless the model is
    not ``fine_grained`` (``--task single-label``), :data:`DEFAULT_AUGMENTATION` where
    the labels are one positive and one negative side, and nothing otherwise; ``none``
    is nothing.

    >>> resolve_augmentation("auto", ["fresh", "rotten"]), resolve_augmentation("auto", ["a", "b"])
    (('contrast', 'intensity', 'sarcasm'), ())
    >>> resolve_augmentation("auto", ["1", "2", "3", "4", "5"]), resolve_augmentation("auto", "123")
    (('intensity',), ())
    """
    if requested == "none":
        return ()
    if requested == "auto":
        if aspects:
            return ASPECT_DEFAULT_AUGMENTATION
        scale = ordinal_scale(labels)
        if scale is not None:  # other scales (3 classes, 0-76 ids) are not measured
            return SCALE_DEFAULT_AUGMENTATION if fine_grained and len(scale) == 5 else ()
        try:
            label_sides(labels)
        except ConfigError:
            return ()
        return DEFAULT_AUGMENTATION
    return (requested,) if isinstance(requested, str) else tuple(requested)


def augment_for_training(
    splits: DatasetSplits,
    requested: str | Sequence[str],
    seed: int = 0,
    *,
    encoder: bool = True,
    task: str = "auto",
) -> tuple[DatasetSplits, dict[str, Any] | None]:
    """The splits a model of ``task`` is trained on: ``splits`` plus the ``requested``
    generated examples (``auto``: :data:`DEFAULT_AUGMENTATION` for two-sided labels and
    graded wording on a five-class scale, while they stay within
    :data:`MAX_GENERATED_SHARE` of the real training reviews; joined sentences for
    aspect pairs).

    ``auto`` adds them only for a pre-trained ``encoder`` (BERT): bag-of-words and
    LSTM baselines cannot read the constructions, and measured on rotten-tomatoes they
    lose 1.1-3.1 points of test accuracy with them (README, "Levers").

    Returns the splits and the metadata record (None when nothing was added).
    """
    if requested == "auto" and not encoder:
        return splits, None
    kinds = resolve_augmentation(
        requested,
        splits.labels,
        is_aspect_data(splits.train.texts),
        # graded wording is for a fine-grained model's intensity score: not when another
        # task is asked for the same labels
        fine_grained=task in ("auto", "fine-grained"),
    )
    if not kinds:
        return splits, None
    augmented, record = with_augmentation(splits, kinds, seed=seed)
    if not record["added"]:  # e.g. joined on data with no sentence judged one way
        return splits, None
    templated = not OWN_SENTENCE_KINDS.intersection(kinds)
    if (
        requested == "auto"
        and templated
        and record["added"] > MAX_GENERATED_SHARE * len(splits.train)
    ):
        logger.info(
            "--augment auto: no generated examples (%d would be more than %.0f%% of the %d "
            "real training reviews)",
            record["added"],
            100 * MAX_GENERATED_SHARE,
            len(splits.train),
        )
        return splits, None
    return augmented, record


def with_augmentation(
    splits: DatasetSplits, kinds: Sequence[str], seed: int = 0
) -> tuple[DatasetSplits, dict[str, Any]]:
    """``splits`` with generated examples of ``kinds`` added to train only (dev and test
    stay real reviews). Returns the splits and {"kinds", "added"} for the metadata.
    """
    unknown = [kind for kind in kinds if kind not in AUGMENTATIONS]
    if unknown or not kinds:
        raise ConfigError(
            f"unknown augmentation '{','.join(unknown)}'", hint=f"use {', '.join(AUGMENTATIONS)}"
        )
    aspects = is_aspect_data(splits.train.texts)
    if aspects != (set(kinds) <= set(ASPECT_AUGMENTATION)):
        raise ConfigError(
            f"--augment {','.join(kinds)} does not fit this data: "
            + (
                "aspect data takes 'aspects' or 'joined'"
                if aspects
                else "'aspects' and 'joined' are for aspect data"
            ),
        )
    generators = {
        "contrast": contrast_examples,
        "intensity": intensity_examples,
        "sarcasm": sarcasm_examples,
        "aspects": aspect_examples,
    }
    scale = None if aspects else ordinal_scale(splits.labels)
    if scale is not None:  # fine-grained: graded wording spread over the scale
        sides = scale_places(scale)
        generators["intensity"] = graded_examples
    elif set(kinds) <= OWN_SENTENCE_KINDS:  # the data's own labels
        sides = {}
    else:
        found = polarity_labels(splits.labels) if aspects else label_sides(splits.labels)
        if found is None:
            raise ConfigError(
                f"--augment aspects needs a positive and a negative label; this data has "
                f"{', '.join(splits.labels)}"
            )
        sides = found
    examples = [
        (text, sides[side])
        for kind in kinds
        if kind not in OWN_SENTENCE_KINDS
        for text, side in generators[kind](seed=seed)
    ]
    if "joined" in kinds:  # real sentences with the data's own labels
        examples += joined_aspect_examples(splits.train, seed=seed)
    name = "+".join(kinds)
    train = splits.train.extended(
        [text for text, _ in examples], [label for _, label in examples], f"{name} example"
    )
    note = f"added {len(examples)} generated {name} examples (bertsent.data.augment) to train"
    augmented = DatasetSplits(
        splits.name, train=train, dev=splits.dev, test=splits.test, notes=[*splits.notes, note]
    )
    return augmented, {"kinds": list(kinds), "added": len(examples)}
