"""The service, tested over real HTTP against a real ``bertsent serve`` process."""

from __future__ import annotations

import html
import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from bertsent.models import load
from bertsent.pipeline import train
from tests.serve.conftest import Server, analyse_in_page, service_page, start_server

REVIEWS = ["a great and moving film", "dull, tedious and lifeless", "", "the plot was a mess"]


def test_predictions_match_the_model_in_input_order(
    server: Server, trained_model_dir: Path
) -> None:
    response = httpx.post(f"{server.url}/v1/predict", json={"texts": REVIEWS})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    model = load(trained_model_dir)
    expected = model.predict_proba(REVIEWS)
    assert [p["label"] for p in predictions] == model.predict(REVIEWS)
    served = np.array([[p["scores"][label] for label in model.labels_] for p in predictions])
    np.testing.assert_allclose(served, expected, atol=1e-5)
    assert all(p["score"] == max(p["scores"].values()) for p in predictions)


def test_concurrent_requests_each_get_their_own_answers(server: Server) -> None:
    texts = [f"review {i} was {'great' if i % 2 else 'awful'}" for i in range(48)]

    def ask(text: str) -> dict[str, float]:
        reply = httpx.post(f"{server.url}/v1/predict", json={"texts": [text]}).json()
        return reply["predictions"][0]["scores"]  # type: ignore[no-any-return]

    with ThreadPoolExecutor(16) as pool:
        concurrent = list(pool.map(ask, texts))
    alone = [ask(text) for text in texts]
    # merged batches pad to a longer text: the same numbers up to float rounding
    for merged, single in zip(concurrent, alone, strict=True):
        assert merged.keys() == single.keys()
        assert all(abs(merged[k] - single[k]) < 1e-5 for k in merged)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"texts": ["ok"] * 9}, 422, "invalid_request"),  # 8 texts at most
        ({"texts": ["x" * 201]}, 422, "invalid_request"),  # 200 characters at most
        ({"texts": []}, 422, "invalid_request"),
        ({"texts": [1, 2]}, 422, "invalid_request"),
        ({"texts": "a single string"}, 422, "invalid_request"),
        ({"text": ["wrong field"]}, 422, "invalid_request"),
        ({"texts": ["ok"], "extra": 1}, 422, "invalid_request"),
    ],
)
def test_bad_requests_get_clear_4xx(server: Server, body: object, status: int, code: str) -> None:
    response = httpx.post(f"{server.url}/v1/predict", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_the_schema_and_the_handler_agree_on_what_a_text_only_model_reads(
    server: Server,
) -> None:
    schema = httpx.get(f"{server.url}/openapi.json").json()["components"]["schemas"]
    assert "aspects" not in schema["PredictRequest"]["properties"]  # this model reads no aspect
    paired = httpx.post(f"{server.url}/v1/predict", json={"texts": ["ok"], "aspects": ["plot"]})
    assert paired.status_code == 422 and paired.json()["error"]["field"] == "aspects"
    # the separator token would turn one review into a (sentence, aspect) pair
    joined = httpx.post(f"{server.url}/v1/predict", json={"texts": ["ok", "dull [SEP] plot"]})
    assert joined.status_code == 422
    assert joined.json()["error"] == {
        "code": "invalid_request",
        "message": "texts[1]: '[SEP]' is reserved in 'text' (it joins a sentence to its aspect)",
        "field": "texts",
    }
    explained = httpx.post(f"{server.url}/v1/explain", json={"text": "dull [SEP] plot"})
    assert explained.status_code == 422 and explained.json()["error"]["field"] == "text"


# the last two pass the schema's \S but the tokenizer drops them: they were a 500
@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b", "\ufeff\u0001"])
def test_explaining_a_text_without_words_is_a_bad_request(server: Server, text: str) -> None:
    response = httpx.post(f"{server.url}/v1/explain", json={"text": text})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "text"


def test_limit_errors_name_the_field(server: Server) -> None:
    error = httpx.post(f"{server.url}/v1/predict", json={"texts": ["ok", "x" * 201]}).json()
    assert error["error"]["field"] == "texts.1"


def test_body_size_utf8_and_json_errors(server: Server) -> None:
    post = f"{server.url}/v1/predict"
    headers = {"content-type": "application/json"}
    big = json.dumps({"texts": ["y" * 150] * 30}).encode()
    assert httpx.post(post, content=big, headers=headers).status_code == 413

    def chunked() -> object:  # no Content-Length: the limit must hold anyway
        yield big[:2000]
        yield big[2000:]

    assert httpx.post(post, content=chunked(), headers=headers).status_code == 413
    invalid = httpx.post(post, content=b'{"texts": ["caf\xe9"]}', headers=headers)
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "invalid_utf8"
    broken = httpx.post(post, content=b'{"texts": [', headers=headers)
    assert broken.status_code == 400
    assert broken.json()["error"] == {
        "code": "invalid_json",
        "message": "body is not valid JSON: Expecting value at character 11",
        "field": None,
    }
    form = httpx.post(post, data={"texts": "a fine film"})  # as `curl -d` sends it
    assert form.status_code == 415
    assert form.json()["error"]["code"] == "unsupported_media_type"
    assert "application/x-www-form-urlencoded" in form.json()["error"]["message"]
    wrong_method = httpx.get(post)
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"


def test_health_readiness_metrics_and_schema(server: Server) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    httpx.post(f"{server.url}/v1/predict", json={"texts": ["fine"]})
    metrics = httpx.get(f"{server.url}/metrics").text
    for name in (
        'bertsent_requests_total{route="/v1/predict",status="200"}',
        "bertsent_request_latency_seconds_bucket",
        "bertsent_batch_size_bucket",
        "bertsent_queue_depth",
    ):
        assert name in metrics
    schema = httpx.get(f"{server.url}/openapi.json").json()
    body = schema["components"]["schemas"]["PredictRequest"]["properties"]["texts"]
    assert body["maxItems"] == 8 and body["items"]["maxLength"] == 200


@pytest.mark.slow
def test_fuzzing_from_the_openapi_schema_finds_no_server_error(
    server: Server, tmp_path: Path
) -> None:
    """schemathesis generates valid and invalid requests from the schema; none may 5xx."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance,negative_data_rejection",
            "--max-examples",
            "30",
            "--workers",
            "1",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # schemathesis keeps its state in ./.schemathesis
    )
    assert result.returncode == 0, result.stdout[-4000:]


def test_page_shows_label_confidence_and_attributions(server: Server) -> None:
    words = "Array.from(document.querySelectorAll('#words .word'))"
    shown = analyse_in_page(
        server.url,
        {"#text": "the acting was superb and charming"},
        ("#label", "#confidence"),
        {
            "words": f"{words}.map(s => s.textContent)",
            "shades": f"{words}.map(s => Number(s.dataset.attribution))",
        },
    )
    assert shown["#label"] in {"positive", "negative"}
    assert shown["#confidence"].startswith("confidence ") and shown["#confidence"].endswith("%")
    assert shown["words"] == ["the", "acting", "was", "superb", "and", "charming"]
    assert any(value != 0 for value in shown["shades"])


def test_an_explanation_names_the_label_its_words_are_for_and_no_empty_fields(
    server: Server,
) -> None:
    answer = httpx.post(f"{server.url}/v1/explain", json={"text": "a superb film"}).json()
    assert answer["explained_label"] == answer["label"]  # a multi-label one: its top label
    # as /v1/predict leaves them out: not a fine-grained model, nor a multi-label one
    assert "intensity" not in answer and "labels" not in answer
    schemas = httpx.get(f"{server.url}/openapi.json").json()["components"]["schemas"]
    assert not {"intensity", "labels"} & set(schemas["Prediction"]["properties"])  # nor its schema
    assert "explained_label" in schemas["ExplainResponse"]["required"]


def test_a_busy_explainer_still_gets_the_page_its_label(
    server: Server, trained_model_dir: Path
) -> None:
    """Explanations run one at a time: a second visitor saw only "another explanation
    is running", though the label was there to be had."""
    busy = {"error": {"code": "busy", "message": "another explanation is running"}}
    with service_page(server.url) as (page, problems):
        page.route("**/v1/explain", lambda route: route.fulfill(
            status=503, content_type="application/json", body=json.dumps(busy)))  # fmt: skip
        page.fill("#text", "the acting was superb and charming")
        page.click("#go")
        page.wait_for_selector("#label, #error", timeout=10_000)
        shown = {name: page.inner_text(name) if page.query_selector(name) else ""
                 for name in ("#label", "#note", "#error")}  # fmt: skip
    expected = load(trained_model_dir).predict(["the acting was superb and charming"])[0]
    assert shown["#label"] == expected
    assert shown["#note"] == "no explanation this time: another explanation is running"
    assert shown["#error"] == ""
    assert all("503" in problem for problem in problems)  # the refusal the page handled


def test_the_page_says_when_the_server_does_not_answer(server: Server) -> None:
    """A fetch that fails (server gone, network down) left "…" on the page for good."""
    with service_page(server.url) as (page, problems):
        page.route("**/v1/**", lambda route: route.abort())  # as if the server went away
        page.fill("#text", "a fine film")
        page.click("#go")
        page.wait_for_selector("#error", timeout=10_000)
        shown = page.inner_text("#error")
    assert shown.startswith("no answer from the server")
    assert all("Failed to load resource" in problem for problem in problems)  # the abort


@pytest.mark.slow
@pytest.mark.parametrize(
    ("why", "reason"),
    [
        ("--no-explain", "explanations are off (--no-explain)"),
        ("no Captum", "explanations need Captum: pip install 'bertsent[explain]'"),
        ("a baseline", "a tfidf-lr model has no fine-tuned encoder to explain"),
    ],
)
def test_the_page_labels_with_predict_when_explanations_are_off(
    why: str, reason: str, trained_model_dir: Path, dataset_dir: Path, tmp_path: Path
) -> None:
    """/v1/explain answers 409 with the reason, known from the start (a missing Captum
    or a model with no encoder was a plain-text 500 on each request, and the page hung)."""
    text = "the acting was superb and charming"
    model, flags, env = trained_model_dir, ["--no-explain"], {}
    if why == "no Captum":  # the server's Python without the package, as a core install
        (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['captum'] = None\n")
        flags, env = [], {"PYTHONPATH": str(tmp_path)}
    if why == "a baseline":
        model, flags = tmp_path / "tfidf", []
        train(str(dataset_dir), method="tfidf-lr", output_dir=model)
    server = start_server(model, *flags, env=env)
    try:
        refused = httpx.post(f"{server.url}/v1/explain", json={"text": text}, timeout=30)
        shown = analyse_in_page(server.url, {"#text": text}, ("#label", "#error", "#words"))
    finally:
        server.stop()
    assert refused.status_code == 409
    assert refused.json()["error"] == {"code": "no_explanations", "message": reason, "field": None}
    expected = load(model).predict([text])[0]
    assert shown == {"#label": expected, "#error": "", "#words": ""}


@pytest.mark.slow
def test_api_key_overload_and_graceful_shutdown(trained_model_dir: Path) -> None:
    """A small queue that fills: extra requests get 503 + Retry-After, not a growing backlog;
    SIGTERM lets the request in flight finish."""
    server = start_server(
        trained_model_dir,
        "--max-queue-texts", "4", "--max-wait-ms", "400", "--max-batch-size", "64",
        "--api-key-env", "TEST_KEY",
        env={"TEST_KEY": "s3cret", "BERTSENT_SERVE_MAX_TEXTS_PER_REQUEST": "4"},
    )  # fmt: skip
    try:
        post = f"{server.url}/v1/predict"
        key = {"X-API-Key": "s3cret"}

        def ask(headers: dict[str, str]) -> httpx.Response:
            return httpx.post(post, json={"texts": ["x"]}, headers=headers, timeout=30)

        assert ask({}).status_code == 401
        assert ask({"X-API-Key": "wrong"}).status_code == 401
        reference = html.unescape(httpx.get(f"{server.url}/docs").text)
        assert "/v1/predict -H 'X-API-Key: YOUR_KEY'" in reference
        with ThreadPoolExecutor(12) as pool:
            responses = list(pool.map(lambda _: ask(key), range(12)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) >= 4 and statuses.count(503) >= 1
        assert set(statuses) <= {200, 503}
        refused = next(r for r in responses if r.status_code == 503)
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["code"] == "overloaded"
        # a request waiting for its batch when SIGTERM arrives still gets its answer
        answers: list[httpx.Response] = []
        in_flight = threading.Thread(target=lambda: answers.append(ask(key)))
        in_flight.start()
        time.sleep(0.15)
    finally:
        code = server.stop()
    in_flight.join()
    assert answers[0].status_code == 200
    # uvicorn re-raises the captured SIGTERM once shutdown is complete
    assert code in (0, -signal.SIGTERM)


@pytest.mark.slow
def test_an_explanation_past_the_request_timeout_gets_504_and_the_next_waits_for_it(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    # the tiny model reading 128 tokens, not 32, and 300 IG steps: an explanation request
    # took 0.35 s here, a predict request 0.03 s
    model = load(trained_model_dir)
    model.set_params(config=replace(model.config, max_length=128))  # type: ignore[attr-defined]
    model.save(tmp_path / "model")
    timeout = 0.15
    server = start_server(
        tmp_path / "model", "--request-timeout", str(timeout),
        env={"BERTSENT_SERVE_EXPLAIN_STEPS": "300"},
    )  # fmt: skip
    try:
        explain = f"{server.url}/v1/explain"
        text = " ".join(["the acting was superb but the plot dragged on"] * 40)
        started = time.monotonic()
        late = httpx.post(explain, json={"text": text}, timeout=30)
        answered_after = time.monotonic() - started
        assert late.status_code == 504, late.text
        assert answered_after < timeout + 1.0  # not after the explanation's own seconds
        # the abandoned explanation still runs: the next one is refused, not queued behind it
        busy = httpx.post(explain, json={"text": "a fine film"}, timeout=30)
        assert busy.status_code == 503 and busy.json()["error"]["code"] == "busy"
    finally:
        server.stop()


def test_docs_work_offline(server: Server) -> None:
    """/docs must not depend on a CDN (Swagger UI's default): no script, no remote URL."""
    page = httpx.get(f"{server.url}/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "href='openapi.json'" in html  # the schema, for interactive tools
    assert "/v1/predict" in html and "/v1/explain" in html
    assert "at most 8 items" in html  # the limits of this server, from the schema
    assert f"curl -s 127.0.0.1:{server.port}/v1/predict -H" in html  # this server's address
    assert 'maxlength="200"' in httpx.get(f"{server.url}/").text  # its limit on a text
    assert httpx.get(f"{server.url}/redoc").status_code == 404  # ReDoc needs a CDN too


def test_refused_requests_count_under_their_route(server: Server) -> None:
    big = json.dumps({"texts": ["y" * 150] * 30}).encode()
    headers = {"content-type": "application/json"}
    assert httpx.post(f"{server.url}/v1/predict", content=big, headers=headers).status_code == 413
    assert httpx.post(f"{server.url}/v1/explain", content=big, headers=headers).status_code == 413
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'bertsent_requests_total{route="/v1/predict",status="413"}' in metrics
    assert 'bertsent_requests_total{route="/v1/explain",status="413"}' in metrics
    assert 'route="other",status="413"' not in metrics


def test_a_schema_made_before_the_model_is_loaded_offers_every_tasks_fields_as_optional() -> None:
    from bertsent.data.tasks import FineGrainedTask, MultiLabelTask
    from bertsent.serve.schemas import response_models

    def prediction(task: Any) -> dict[str, Any]:
        predict, _ = response_models(task)
        schema: dict[str, Any] = predict.model_json_schema()["$defs"]["Prediction"]
        return schema

    unknown = prediction(None)
    assert {"intensity", "labels"} <= set(unknown["properties"])
    assert not {"intensity", "labels"} & set(unknown["required"])
    assert "multi-label models only" in unknown["properties"]["labels"]["description"]
    assert "labels" in prediction(MultiLabelTask(["joy", "anger"]))["required"]
    five = FineGrainedTask(["very negative", "negative", "neutral", "positive", "very positive"])
    intensity = prediction(five)
    assert intensity["required"] == ["label", "score", "scores", "intensity"]
    # an abstention (an LLM's reply naming no class) sends null: the schema allows it
    assert {"type": "null"} in intensity["properties"]["intensity"]["anyOf"]
