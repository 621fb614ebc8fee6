"""Word lists for the behaviour suite: movie and product reviews, plain everyday wording.

Kept apart from the templates so a team can extend them for its own domain. Names and
titles are invented or common, so a model has no reason to hold an opinion about them.
"""

from __future__ import annotations

POSITIVE_ADJECTIVES = (
    "good", "great", "excellent", "wonderful", "brilliant", "fantastic", "enjoyable",
    "delightful", "superb", "amazing", "charming", "impressive", "terrific", "lovely",
)  # fmt: skip
NEGATIVE_ADJECTIVES = (
    "bad", "terrible", "awful", "boring", "dull", "disappointing", "horrible", "poor",
    "weak", "tedious", "mediocre", "pointless", "annoying", "dreadful",
)  # fmt: skip
# Mild words leave room for an intensifier to raise the confidence; strong ones for a
# downtoner to lower it.
MILD_ADJECTIVES = {
    "positive": ("good", "nice", "decent", "enjoyable", "pleasant", "fine"),
    "negative": ("bad", "weak", "dull", "poor", "flawed", "tiresome"),
}
STRONG_ADJECTIVES = {
    "positive": ("great", "wonderful", "excellent", "brilliant", "fantastic", "superb"),
    "negative": ("terrible", "awful", "horrible", "dreadful", "boring", "disappointing"),
}
INTENSIFIERS = ("absolutely", "incredibly", "extremely", "truly", "really", "remarkably")
DOWNTONERS = ("somewhat", "slightly", "fairly", "a bit", "kind of", "mildly")

MOVIE_NOUNS = ("film", "movie", "sequel", "comedy", "thriller", "drama", "documentary")
PRODUCT_NOUNS = ("phone", "laptop", "camera", "blender", "vacuum", "charger", "headset")
MOVIE_ASPECTS = ("acting", "script", "soundtrack", "dialogue", "plot", "cast", "ending")
PRODUCT_ASPECTS = ("screen", "battery", "design", "price", "keyboard", "packaging", "sound")

POSITIVE_VERBS = ("like", "enjoy", "love", "recommend", "appreciate")
NEVER_FAILS_TO = ("entertain", "impress", "delight", "amuse", "charm", "surprise me")
REGRETTABLE = ("watching", "buying", "seeing", "ordering", "choosing")

GENRES = ("superhero", "zombie", "heist", "disaster", "teen", "spy", "vampire")
STALE_ADJECTIVES = ("boring", "predictable", "forgettable", "generic", "lazy", "bloated")
CHEERFUL_WORDS = ("Great", "Wonderful", "Fantastic", "Brilliant", "Lovely", "Perfect")
WASTED_THINGS = (
    "two hours", "an evening", "my money", "a Saturday night", "ninety minutes",
    "fifty dollars",
)  # fmt: skip
PARTS = ("battery", "screen", "charger", "zipper", "hinge", "power button")
FAILURES = ("died", "broke", "cracked", "stopped working", "fell apart")
SHORT_TIMES = ("two days", "a week", "one use", "an hour", "three days")
BAD_EXPERIENCES = (
    "falling asleep halfway through",
    "checking my watch every five minutes",
    "waiting three weeks for a refund",
    "paying extra for something that broke",
    "sitting through the same joke ten times",
    "reading the subtitles for a plot that makes no sense",
)

FILM_TITLES = (
    "The Long Road", "Midnight Harbor", "Paper Kingdoms", "The Quiet Shore", "Red Valley",
    "Northern Lights", "The Last Summer", "Glass Houses", "Silver Creek", "Open Water",
)  # fmt: skip
ACTORS = (
    "Tom Hanks", "Meryl Streep", "Denzel Washington", "Emma Stone", "Ryan Gosling",
    "Viola Davis", "Keanu Reeves", "Nicole Kidman", "Adam Sandler", "Nicolas Cage",
)  # fmt: skip
BRANDS = ("Acme", "Norda", "Veltro", "Kestrel", "Orbis", "Lumen", "Tandem", "Brio")
