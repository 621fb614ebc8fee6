"""Aspect-based sentiment: (sentence, aspect) pairs from the data to the HTTP service."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from bertsent.cli import main
from bertsent.data import load_dataset
from bertsent.data.splits import normalise_text
from bertsent.data.tasks import PAIR_SEPARATOR, AspectTask, join_aspect, split_aspect
from bertsent.encoders.pretrained import DEFAULT_MODEL, load_tokenizer
from bertsent.encoders.tokenization import encode, pad_ids, segment_ids
from bertsent.errors import DataError
from bertsent.models import load
from tests.conftest import write_csv

ASPECTS = ["screen", "battery", "keyboard", "speakers", "hinge", "camera"]
GOOD = ["gorgeous", "superb", "excellent", "lovely"]
BAD = ["awful", "dreadful", "terrible", "flimsy"]


def aspect_rows(sentences: int, seed: int) -> list[dict[str, str]]:
    """Two aspects per sentence, one praised and one criticised: the aspect decides."""
    rng = random.Random(seed)
    rows = []
    for _ in range(sentences):
        first, second = rng.sample(ASPECTS, 2)
        good, bad = rng.choice(GOOD), rng.choice(BAD)
        if rng.random() < 0.5:
            text = f"the {first} is {good} but the {second} is {bad}"
        else:
            text = f"the {second} is {bad} but the {first} is {good}"
        rows += [{"text": text, "aspect": first, "label": "positive"},
                 {"text": text, "aspect": second, "label": "negative"}]  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def aspect_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only a train.csv, as in SemEval-2014: dev is carved from it by sentence."""
    folder = tmp_path_factory.mktemp("absa")
    write_csv(folder / "train.csv", aspect_rows(120, seed=0))
    return folder


@pytest.fixture(scope="module")
def aspect_model(
    aspect_data: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    output = tmp_path_factory.mktemp("aspect") / "model"
    command = ["-q", "train", "--data", str(aspect_data), "--model", str(tiny_model_dir),
               "--output", str(output), "--epochs", "2", "--batch-size", "16",
               "--learning-rate", "3e-3", "--max-length", "32"]  # fmt: skip
    assert main(command) == 0
    return output


def test_a_pair_is_encoded_as_the_tokenizer_encodes_two_texts() -> None:
    tokenizer = load_tokenizer(DEFAULT_MODEL)
    sentence, aspect = "The screen is gorgeous but the battery dies by noon", "battery life"
    expected = tokenizer(sentence, aspect)
    (ids,) = encode(tokenizer, [join_aspect(sentence, aspect)], 128, "head")
    assert ids == expected["input_ids"]
    input_ids, mask = pad_ids([ids, [101, 102]], pad_id=0)
    segments = segment_ids(input_ids, mask, tokenizer.sep_token_id)
    assert segments[0].tolist() == expected["token_type_ids"]
    assert segments[1].tolist() == [0] * len(ids)  # one text, padded: all segment 0
    # a long sentence is cut, never the aspect
    (short,) = encode(tokenizer, [join_aspect(sentence * 10, aspect)], 16, "head")
    assert len(short) == 16 and short[-4:] == expected["input_ids"][-4:]


def test_a_pair_follows_the_tokenizers_own_template_where_sep_is_not_a_token() -> None:
    """MPNet and RoBERTa join two texts as ``<s> a </s></s> b </s>`` and read "[SEP]" as
    plain characters: a pair must still be the tokenizer's two-text encoding."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = "<s> </s> <pad> <unk> [ ] sep the screen is gorgeous but battery dies by noon life"
    vocab = {word: index for index, word in enumerate(words.split())}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])],
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>")
    sentence, aspect = "the screen is gorgeous but the battery dies by noon", "battery life"
    expected = tokenizer(sentence, aspect)["input_ids"]
    (ids,) = encode(tokenizer, [join_aspect(sentence, aspect)], 128, "head")
    assert ids == expected
    (short,) = encode(tokenizer, [join_aspect(sentence, aspect)], 10, "head")
    assert len(short) == 10 and short[-5:] == expected[-5:]  # </s></s> battery life </s>
    (single,) = encode(tokenizer, [sentence], 128, "head")
    assert single == tokenizer(sentence)["input_ids"]


def test_an_aspect_column_makes_pairs_and_dev_is_carved_by_sentence(aspect_data: Path) -> None:
    splits = load_dataset(str(aspect_data))
    assert splits.labels == ["negative", "positive"]
    assert all(split_aspect(text)[1] in ASPECTS for text in splits.train.texts)
    train_sentences = {split_aspect(text)[0] for text in splits.train.texts}
    dev_sentences = {split_aspect(text)[0] for text in splits.dev.texts}
    assert dev_sentences and not train_sentences & dev_sentences
    assert "by sentence" in splits.notes[0]


def test_one_aspect_file_is_split_by_sentence_so_no_sentence_is_in_two_parts(
    tmp_path: Path,
) -> None:
    rows = aspect_rows(100, seed=2)
    # the same sentence spelled otherwise (case, spacing, punctuation) is the same sentence
    copies = [{**row, "text": row["text"].upper() + " !"} for row in rows[:50]]
    write_csv(tmp_path / "all.csv", rows + copies)
    splits = load_dataset(str(tmp_path / "all.csv"))
    parts = [
        {normalise_text(split_aspect(t)[0]) for t in splits.split(name).texts}
        for name in ("train", "dev", "test")
    ]
    assert all(parts) and len(parts) == 3
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert "by sentence" in splits.notes[0]


@pytest.mark.parametrize("field", ["text", "aspect"])
def test_the_separator_token_in_a_text_or_aspect_is_refused_by_file_line_and_field(
    tmp_path: Path, field: str
) -> None:
    rows = aspect_rows(10, seed=1)
    rows[2][field] = "the screen [SEP] battery"  # would be read as another pair
    write_csv(tmp_path / "train.csv", rows)
    with pytest.raises(DataError, match=rf"train\.csv line 4: '\[SEP\]' is reserved in '{field}'"):
        load_dataset(str(tmp_path))


def test_compare_keeps_the_methods_that_can_read_aspects(aspect_data: Path) -> None:
    from bertsent.comparison.compare import methods_for
    from bertsent.errors import ConfigError
    from bertsent.models import COMPARED_METHODS

    splits = load_dataset(str(aspect_data))
    kept = methods_for(splits, COMPARED_METHODS, chosen=False)
    assert "zero-shot" not in kept and {"bert", "tfidf-lr", "nbsvm"} <= set(kept)
    with pytest.raises(ConfigError, match=r"--methods zero-shot: it cannot learn \(sentence"):
        methods_for(splits, ["bert", "zero-shot"], chosen=True)


def test_an_empty_aspect_cell_is_named_by_file_line_and_field(tmp_path: Path) -> None:
    rows = aspect_rows(10, seed=1)
    rows[3]["aspect"] = " "
    write_csv(tmp_path / "train.csv", rows)
    with pytest.raises(DataError, match=r"train\.csv line 5: field 'aspect' is empty"):
        load_dataset(str(tmp_path))


def test_an_aspect_model_is_a_plain_model_for_the_transformers_text_pair_pipeline(
    aspect_model: Path,
) -> None:
    from transformers import pipeline

    metadata = json.loads((aspect_model / "bertsent.json").read_text())
    assert metadata["task"]["name"] == "aspect"
    model = load(aspect_model)
    assert isinstance(model.task_, AspectTask)
    sentence = "the hinge is flimsy but the camera is superb"
    ours = model.predict_proba([join_aspect(sentence, "hinge"), join_aspect(sentence, "camera")])
    classify = pipeline("text-classification", model=str(aspect_model), device="cpu", top_k=None)
    for row, aspect in zip(ours, ("hinge", "camera"), strict=True):
        scores = classify({"text": sentence, "text_pair": aspect})
        theirs = {item["label"]: item["score"] for item in scores}
        assert [theirs[label] for label in model.labels_] == pytest.approx(row, abs=1e-5)
    # segment ids matter: the same ids read as one text give other scores
    (single,) = classify([f"{sentence} [SEP] hinge"])
    assert {item["label"]: item["score"] for item in single} != pytest.approx(
        dict(zip(model.labels_, ours[0], strict=True)), abs=1e-5
    )


def test_predict_pairs_texts_with_aspect_and_says_what_it_needs(
    aspect_model: Path, trained_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sentence = "the hinge is flimsy but the camera is superb"
    assert main(["-q", "predict", str(aspect_model), "--aspect", "camera", "--json", sentence]) == 0
    answer = json.loads(capsys.readouterr().out)
    expected = load(aspect_model).predict_scores([join_aspect(sentence, "camera")], digits=4)[0]
    assert answer == {"text": sentence, "aspect": "camera", **expected}

    assert main(["-q", "predict", str(aspect_model), sentence]) != 0
    assert "judges a text towards an aspect" in capsys.readouterr().err
    assert main(["-q", "predict", str(trained_model_dir), "--aspect", "plot", "a fine film"]) != 0
    assert "--aspect is for aspect models" in capsys.readouterr().err
    command = ["-q", "predict", str(aspect_model), "--aspect", "price", sentence]
    assert main([*command, "--strict"]) != 0
    assert "'price' does not occur" in capsys.readouterr().err
    assert main(command) == 0  # without --strict: a warning, and the answer
    assert main(["-q", "predict", str(aspect_model), "--aspect", " ", sentence]) != 0
    assert "--aspect is empty" in capsys.readouterr().err
    assert main(["-q", "predict", str(aspect_model), "--aspect", "hinge", "a [SEP] b"]) != 0
    assert "text 1: '[SEP]' is reserved in 'text'" in capsys.readouterr().err

    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(
        source, [{"text": sentence, "aspect": "hinge"}, {"text": sentence, "aspect": "camera"}]
    )
    assert main(["-q", "predict", str(aspect_model), "--input", str(source),
                 "--output", str(output)]) == 0  # fmt: skip
    with output.open(encoding="utf-8", newline="") as handle:
        scored = list(csv.DictReader(handle))
    probabilities = load(aspect_model).predict_proba(
        [join_aspect(sentence, "hinge"), join_aspect(sentence, "camera")]
    )
    assert [float(row["score_positive"]) for row in scored] == pytest.approx(
        probabilities[:, 1], abs=1e-5
    )
    write_csv(source, [{"text": sentence}])
    assert main(["-q", "predict", str(aspect_model), "--input", str(source), "--output",
                 str(tmp_path / "none.csv")]) != 0  # fmt: skip
    assert "in.csv line 2: field 'aspect' is missing" in capsys.readouterr().err


def test_files_keep_each_rows_aspect_and_the_command_line_flags_stay_with_texts(
    aspect_model: Path, trained_model_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    sentence = "the hinge is flimsy but the camera is superb"
    source = write_csv(
        tmp_path / "in.csv", [{"text": sentence, "aspect": "hinge"}, {"text": sentence,
                                                                      "aspect": "price"}]
    )  # fmt: skip
    scored = ["-q", "predict", str(aspect_model), "--input", str(source), "--output"]
    for flag in (["--aspect", "camera"], ["--top-k", "1"]):  # were ignored for files
        assert main([*scored, str(tmp_path / "a.csv"), *flag]) == 2
        assert f"{flag[0]} is for texts given on the command line" in capsys.readouterr().err
    assert main([*scored, str(tmp_path / "b.csv"), "--strict"]) == 2
    assert "in.csv line 3: aspect 'price' does not occur in the text" in capsys.readouterr().err
    assert main([*scored, str(tmp_path / "c.csv")]) == 0  # without --strict: scored
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "in.csv"]

    # evaluate: the model and the data must agree on whether there are aspects
    plain = write_csv(tmp_path / "plain.csv", [{"text": sentence, "label": "negative"}] * 4)
    assert main(["-q", "evaluate", str(aspect_model), "--data", str(plain)]) == 2
    assert "plain.csv line 2: no 'aspect'" in capsys.readouterr().err
    paired = write_csv(
        tmp_path / "paired.csv", [{"text": sentence, "aspect": "hinge", "label": "negative"}] * 4
    )
    assert main(["-q", "evaluate", str(trained_model_dir), "--data", str(paired)]) == 2
    assert "paired.csv line 2: an 'aspect'" in capsys.readouterr().err


@pytest.mark.slow
def test_the_http_service_scores_texts_with_their_aspects(aspect_model: Path) -> None:
    import httpx

    from tests.serve.conftest import start_server

    sentence = "the hinge is flimsy but the camera is superb"
    server = start_server(aspect_model)
    try:
        url = f"{server.url}/v1/predict"
        answer = httpx.post(url, json={"texts": [sentence] * 2, "aspects": ["hinge", "camera"]})
        missing = httpx.post(url, json={"texts": [sentence]})
        miscounted = httpx.post(url, json={"texts": [sentence], "aspects": ["a", "b"]})
        schema = httpx.get(f"{server.url}/openapi.json").json()
    finally:
        server.stop()
    expected = load(aspect_model).predict_proba(
        [join_aspect(sentence, "hinge"), join_aspect(sentence, "camera")]
    )
    scores = [[p["scores"][label] for label in ("negative", "positive")]
              for p in answer.json()["predictions"]]  # fmt: skip
    assert np.allclose(scores, expected, atol=1e-5)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "aspects"
    assert miscounted.status_code == 422 and "one aspect per text" in miscounted.text
    assert "aspects" in schema["components"]["schemas"]["PredictRequest"]["required"]


def test_explain_refuses_an_aspect_model_and_a_text_holding_the_separator(
    aspect_model: Path, trained_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sentence = "the hinge is flimsy but the camera is superb"
    assert main(["-q", "explain", str(aspect_model), "--math", sentence]) == 2
    assert "explanations are for models of one text; this aspect model" in capsys.readouterr().err
    assert main(["-q", "explain", str(trained_model_dir), "--math", f"{sentence} [SEP] hinge"]) == 2
    assert "'[SEP]' is reserved in 'text'" in capsys.readouterr().err


def test_the_embedding_map_of_an_aspect_model_embeds_its_sentence_aspect_pairs(
    aspect_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # explain reads one text; the map only embeds, so aspect models are mapped
    output = tmp_path / "map"
    command = ["-q", "embed-map", str(aspect_model), "--split", "dev", "--sample", "40",
               "--output", str(output)]  # fmt: skip
    assert main(command) == 0, capsys.readouterr().err
    points = json.loads((output / "embedding_map.json").read_text())["points"]
    assert len(points) >= 10 and {point["kind"] for point in points} == {"review"}  # all of dev
    assert all(" [SEP] " in point["text"] for point in points)


def test_an_exported_aspect_graph_reads_segment_ids(aspect_model: Path, tmp_path: Path) -> None:
    import shutil

    import onnxruntime

    from bertsent.inference.export import export_onnx

    folder = tmp_path / "model"
    shutil.copytree(aspect_model, folder)
    record = export_onnx(folder)
    assert record["graphs"]["onnx"]["agreement_with_torch"] == 1.0
    inputs = onnxruntime.InferenceSession(str(folder / "onnx" / "model.onnx")).get_inputs()
    assert "token_type_ids" in {node.name for node in inputs}
    sentence = "the hinge is flimsy but the camera is superb"
    texts = [join_aspect(sentence, "hinge"), join_aspect(sentence, "camera")]
    np.testing.assert_allclose(
        load(folder, backend="onnx").predict_proba(texts), load(folder).predict_proba(texts),
        atol=1e-4,
    )  # fmt: skip
    # ALBERT's tokenizer lists no token_type_ids, but its model reads them, as PyTorch feeds
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    settings["model_input_names"] = ["input_ids", "attention_mask"]
    (folder / "tokenizer_config.json").write_text(json.dumps(settings))
    assert "token_type_ids" not in load(folder).tokenizer_(sentence)
    record = export_onnx(folder, overwrite=True)
    assert record["graphs"]["onnx"]["agreement_with_torch"] == 1.0
    inputs = onnxruntime.InferenceSession(str(folder / "onnx" / "model.onnx")).get_inputs()
    assert "token_type_ids" in {node.name for node in inputs}


def test_the_behaviour_suite_refuses_an_aspect_model(aspect_model: Path) -> None:
    from bertsent.errors import ModelError
    from bertsent.evaluation.behaviour import run_suite

    with pytest.raises(ModelError, match="reads text \\+ aspect"):
        run_suite(load(aspect_model))


@pytest.mark.slow
def test_the_page_asks_an_aspect_model_for_the_aspect(aspect_model: Path) -> None:
    import httpx

    from tests.serve.conftest import analyse_in_page, start_server

    sentence = "the hinge is flimsy but the camera is superb"
    server = start_server(aspect_model)
    try:
        refused = httpx.post(f"{server.url}/v1/explain", json={"text": sentence})
        fields = {"#text": sentence, "#aspect": "camera"}
        shown = analyse_in_page(server.url, fields, ("#label", "#confidence"))
    finally:
        server.stop()
    expected = load(aspect_model).predict_scores([join_aspect(sentence, "camera")])[0]
    assert shown == {
        "#label": expected["label"],
        "#confidence": f"confidence {100 * expected['score']:.1f}%",
    }
    assert refused.status_code == 409 and "use /v1/predict" in refused.text


def test_compare_measures_aspect_models_without_the_review_suite(
    aspect_data: Path, tmp_path: Path
) -> None:
    from bertsent.comparison.compare import compare

    result = compare(str(aspect_data), methods=["bow-svm", "tfidf-lr"], output_dir=tmp_path)
    assert [row["method"] for row in result["rows"]] == ["bow-svm", "tfidf-lr"]
    assert all(row["behaviour_pass_rate"] is None for row in result["rows"])
    assert "| n/a |" in (tmp_path / "compare.md").read_text()


def test_generated_aspect_pairs_judge_each_part_of_one_sentence_oppositely() -> None:
    from bertsent.data.augment import augment_for_training
    from bertsent.data.splits import DatasetSplits, Split
    from bertsent.errors import ConfigError

    rows = aspect_rows(1000, seed=5)
    labelled = [(join_aspect(r["text"], r["aspect"]), r["label"]) for r in rows]
    train = Split("train", [t for t, _ in labelled], [y for _, y in labelled])
    splits = DatasetSplits("absa", train=train, dev=train.subset(range(20), "dev"))
    # auto adds only joined real sentences, never these templates (they did not help);
    # here every sentence already judges its two aspects differently, so nothing
    assert augment_for_training(splits, "auto")[1] is None
    trained_on, record = augment_for_training(splits, ("aspects",), seed=1)
    assert record is not None and record["kinds"] == ["aspects"]
    added = trained_on.train.texts[len(train) :]
    labels = trained_on.train.labels[len(train) :]
    assert added and all(split_aspect(text)[1] for text in added)  # still all pairs
    by_sentence: dict[str, set[str]] = {}
    for text, label in zip(added, labels, strict=True):
        by_sentence.setdefault(split_aspect(text)[0], set()).add(label)
    assert all(sides == {"positive", "negative"} for sides in by_sentence.values())
    with pytest.raises(ConfigError, match="aspect data takes 'aspects'"):
        augment_for_training(splits, ("contrast",))


def test_joined_pairs_put_two_real_sentences_judged_differently_into_one() -> None:
    import re

    from bertsent.data.augment import MAX_GENERATED_SHARE, augment_for_training
    from bertsent.data.splits import DatasetSplits, Split

    rng = random.Random(3)
    single = []
    for i in range(60):  # one aspect each; sentences share aspects, with either label
        label, words = rng.choice([("positive", GOOD), ("negative", BAD)])
        aspect = rng.choice(ASPECTS)
        single.append((f"the {aspect} is {rng.choice(words)} in review {i} today.", aspect, label))
    mixed = [(row["text"], row["aspect"], row["label"]) for row in aspect_rows(10, seed=4)]
    rows = single + mixed
    train = Split("train", [join_aspect(t, a) for t, a, _ in rows], [y for *_, y in rows])
    splits = DatasetSplits("absa", train=train, dev=train.subset(range(5), "dev"))
    trained_on, record = augment_for_training(splits, ("joined",), seed=1)
    assert record is not None and record["kinds"] == ["joined"] and record["added"] > 0
    # the default for BERT, more than the templates' cap allows, never for the baselines
    assert augment_for_training(splits, "auto", seed=1) == (trained_on, record)
    assert record["added"] > MAX_GENERATED_SHARE * len(train)
    assert augment_for_training(splits, "auto", encoder=False)[1] is None
    new = slice(len(train), None)
    added = list(zip(trained_on.train.texts[new], trained_on.train.labels[new], strict=True))
    known = {(text, aspect): label for text, aspect, label in single}
    used: list[str] = []
    by_joined: dict[str, set[str]] = {}
    for pair, label in added:
        joined, aspect = split_aspect(pair)
        assert aspect is not None
        by_joined.setdefault(joined, set()).add(label)
        # the aspect occurs once: two sentences sharing an aspect are never joined
        assert len(re.findall(rf"\b{aspect}\b", joined)) == 1
        source = [text for text, a in known if a == aspect and text[4:-1] in joined]
        assert len(source) == 1 and known[(source[0], aspect)] == label  # the data's own label
        used += source
    assert len(used) == len(set(used)) == 2 * len(by_joined)  # each sentence joined once
    assert all(labels == {"positive", "negative"} for labels in by_joined.values())
    assert not any(text[4:-1] in joined for text, *_ in mixed for joined in by_joined)


def test_the_report_of_an_aspect_model_shows_each_mistakes_aspect_and_maps_its_pairs(
    aspect_model: Path, aspect_data: Path, tmp_path: Path
) -> None:
    from bertsent.report.build import build_report

    page = build_report(aspect_model, tmp_path / "report.html", split="dev", sample=40)
    text = page.read_text(encoding="utf-8")
    assert "dev review-aspect pairs of" in text and 'alt="confusion matrix"' in text
    mistakes = text.split("<h3>The most confident mistakes</h3>", 1)[1].split("</table>", 1)[0]
    assert "<th>aspect</th>" in mistakes and " [SEP] " not in mistakes
    rows = mistakes.split("<tr>")[2:]
    model = load(aspect_model)
    dev = load_dataset(str(aspect_data)).dev
    wrong = (np.asarray(model.predict(dev.texts)) != np.asarray(dev.labels)).sum()
    assert len(rows) == min(3, wrong)
    for row in rows:  # review, aspect, gold, predicted, confidence
        sentence, aspect = row.split("<td>")[1:3]
        assert (
            sentence.removesuffix("</td>") + PAIR_SEPARATOR + aspect.removesuffix("</td>")
            in dev.texts
        )
    # the pairs are mapped; the suite and explanations, which read one text, say why not
    assert 'id="embedding"' in text and "<svg" in text
    assert "Not in this report: the behaviour suite scores single reviews; this aspect" in text
    assert "Not in this report: explanations are for models of one text" in text


def test_a_sentence_judging_one_aspect_two_ways_is_never_joined() -> None:
    """Only an aspect's last label was kept: "The games included are very good games."
    (positive and negative for games) looked one-sided and was joined under one label."""
    from bertsent.data.augment import joined_aspect_examples
    from bertsent.data.splits import Split

    torn = "the battery is great and awful at once."
    rows = [(torn, "battery", "positive"), (torn, "battery", "negative")]
    sides = (("great", "positive"), ("awful", "negative"))
    rows += [
        (f"the {a} is {word} in review {i}.", a, label)
        for i in range(20)
        for a in ("screen", "keyboard")
        for word, label in sides
    ]
    train = Split("train", [join_aspect(t, a) for t, a, _ in rows], [y for *_, y in rows])
    examples = joined_aspect_examples(train, seed=0)
    assert examples and not any("at once" in text for text, _ in examples)
