""" "When to use which", derived from measured numbers rather than written in advance.

Every sentence is chosen by a condition on the comparison (is BERT's gain significant?
does it fail fewer behaviour tests? where do the learning curves cross?) and filled in
with the measurement behind it.
"""

from __future__ import annotations

from typing import Any

FOCUS_CATEGORIES = ("negation", "sarcasm", "contrast")
CLEARLY_FEWER_FAILURES = 0.10  # failure-rate gap (absolute) that counts as a real difference


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def _times(value: float) -> str:
    return f"{value:.0f}x" if value >= 10 else f"{value:.1f}x"


def recommend(
    comparison: dict[str, Any], learning_curve: dict[str, Any] | None = None
) -> list[str]:
    """Markdown bullet lines: when BERT pays off, and when a baseline is the better choice."""
    rows = {row["method"]: row for row in comparison["rows"]}
    if "bert" not in rows or len(rows) < 2:
        return ["Compare `bert` with at least one baseline to get a recommendation."]
    bert = rows.pop("bert")
    best = max(rows.values(), key=lambda row: row["accuracy"])
    fastest = max(rows.values(), key=lambda row: row["reviews_per_second"])
    paired = comparison["paired"][best["method"]]
    gain, (low, high) = paired["difference"], paired["ci"]

    use_bert, use_baseline = [], []
    # 1. accuracy: the paired interval decides whether the gain is real
    if low > 0:
        fewer_errors = _ratio(gain, 1 - best["accuracy"])
        use_bert.append(
            f"- accuracy matters: it is {gain:+.1%} above {best['name']}, the strongest "
            f"baseline here (95% paired interval {low:+.1%} to {high:+.1%}), i.e. "
            f"{fewer_errors:.0%} fewer errors."
        )
    elif high < 0:
        use_baseline.append(
            f"- accuracy is what you need: {best['name']} is {-gain:.1%} above BERT on this "
            f"data (95% paired interval for BERT's difference {low:+.1%} to {high:+.1%})."
        )
    else:
        use_baseline.append(
            f"- accuracy is what you need: BERT's {gain:+.1%} over {best['name']} is not "
            f"significant on this data (95% paired interval {low:+.1%} to {high:+.1%})."
        )

    # 2. behaviour: per phenomenon, against the baseline that fails fewest of its cases
    better: list[str] = []
    worse: list[str] = []
    for category in FOCUS_CATEGORIES:
        mine = bert["failure_rates"].get(category)
        measured = [
            (row["failure_rates"][category], row["name"])
            for row in rows.values()
            if row.get("failure_rates", {}).get(category) is not None
        ]
        if mine is None or not measured:
            continue
        theirs, name = min(measured)
        text = f"{category} {mine:.0%} vs {theirs:.0%} for {name}"
        # rounded: 0.3 - 0.2 is 0.0999... in floats, and ten points fewer is clearly fewer
        clearly = round(theirs - mine, 6) >= CLEARLY_FEWER_FAILURES
        (better if clearly else worse).append(text)
    if better:
        use_bert.append(
            f"- reviews turn on {', '.join(c.split()[0] for c in better)}: BERT fails "
            f"fewer of the behaviour suite's cases than the best baseline at each "
            f"({'; '.join(better)} failed)."
        )
    if worse:
        use_baseline.append(
            f"- BERT is not clearly better on {', '.join(c.split()[0] for c in worse)} here "
            f"({'; '.join(worse)} failed)."
        )

    # 3. cost: speed, latency, size, training time
    latency = _times(_ratio(bert["latency_p50_ms"], best["latency_p50_ms"]))
    use_bert.append(
        f"- its cost fits your budget: {latency} the single-review latency of "
        f"{best['name']} ({bert['latency_p50_ms']:.1f} vs "
        f"{best['latency_p50_ms']:.2f} ms p50), "
        f"{_times(_ratio(bert['size_bytes'], best['size_bytes']))} the size on disk and "
        f"{_times(_ratio(bert['train_seconds'], best['train_seconds']))} the training time."
    )
    if fastest["reviews_per_second"] > bert["reviews_per_second"]:  # e.g. not an LLM or SetFit
        use_baseline.append(
            f"- throughput or hardware cost dominates: {fastest['name']} scores "
            f"{fastest['reviews_per_second']:,.0f} reviews/s on this CPU, "
            f"{_times(_ratio(fastest['reviews_per_second'], bert['reviews_per_second']))} "
            f"BERT's {bert['reviews_per_second']:,.0f}."
        )

    # 4. data: where the learning curves cross
    if learning_curve:
        more_bert, more_baseline = _data_lines(learning_curve)
        use_bert += more_bert
        use_baseline += more_baseline

    return ["**Use BERT when**", "", *use_bert, "", "**Use a baseline when**", "", *use_baseline]


def _data_lines(curve: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Compare BERT's learning curve with the best baseline's at each training size."""
    methods = curve["methods"]
    if "bert" not in methods or len(methods) < 2:
        return [], []
    bert = dict(zip(methods["bert"]["sizes"], methods["bert"]["mean"], strict=True))
    best_by_size: dict[int, tuple[float, str]] = {}
    for method, entry in methods.items():
        if method == "bert":
            continue
        points = dict(zip(entry["sizes"], entry["mean"], strict=True))
        if not entry.get("needs_labels", True):  # zero-shot: its one point holds at every size
            points = dict.fromkeys(bert, points.get(0, -1.0))
        for size, accuracy in points.items():
            if size in bert and accuracy > best_by_size.get(size, (-1.0, ""))[0]:
                best_by_size[size] = (accuracy, entry["name"])
    sizes = sorted(best_by_size)
    if not sizes:
        return [], []
    use_bert, use_baseline = [], []
    ahead = [size for size in sizes if bert[size] > best_by_size[size][0]]
    smallest, largest = sizes[0], sizes[-1]
    base_accuracy, base_name = best_by_size[smallest]
    tail = [size for size in sizes if all(s in ahead for s in sizes if s >= size)]
    if len(ahead) == len(sizes):
        use_bert.append(
            f"- labelled data is scarce: with only {smallest:,} training reviews BERT reaches "
            f"{bert[smallest]:.1%} against {base_accuracy:.1%} for {base_name}, and it stays "
            f"ahead at every size measured ({', '.join(f'{s:,}' for s in sizes)})."
        )
    elif not ahead:
        use_baseline.append(
            f"- at every training size measured ({', '.join(f'{s:,}' for s in sizes)}) a "
            "baseline matched or beat BERT on this data."
        )
    elif not tail:
        use_baseline.append(
            f"- at the largest training size measured ({largest:,}) a baseline is still "
            "at or above BERT on this data."
        )
    else:
        use_bert.append(
            f"- you have at least {tail[0]:,} labelled reviews: from there on BERT's learning "
            "curve stays above every baseline's."
        )
        # the largest size below the tail where a baseline is ahead (BERT may lead at
        # some smaller size: quoting that would argue for BERT)
        behind = max(size for size in sizes if size < tail[0] and size not in ahead)
        behind_accuracy, behind_name = best_by_size[behind]
        use_baseline.append(
            f"- you have fewer than {tail[0]:,} labelled reviews: at {behind:,} {behind_name} "
            f"reaches {behind_accuracy:.1%} against BERT's {bert[behind]:.1%}."
        )
    # how much data BERT needs to match the best baseline on the most data
    best_largest, name_largest = best_by_size[largest]
    matching = [size for size in sorted(bert) if bert[size] >= best_largest]
    if matching and matching[0] < largest:
        use_bert.append(
            f"- labels are expensive: trained on {matching[0]:,} reviews BERT reaches "
            f"{bert[matching[0]]:.1%}, as much as {name_largest} trained on {largest:,} "
            f"({best_largest:.1%})."
        )
    return use_bert, use_baseline
