"""The FastAPI app: predictions with micro-batching, health, metrics and a small page.

No ``from __future__ import annotations`` here: the request models are built per app
(their limits come from the settings) and FastAPI must see the real classes.
"""

import asyncio
import copy
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from starlette.exceptions import HTTPException

from bertsent import __version__
from bertsent.data.tasks import ASPECT_COLUMN, plain_text
from bertsent.errors import DataError
from bertsent.models.base import prediction_rows
from bertsent.serve.batcher import MicroBatcher, Overloaded
from bertsent.serve.docs import api_reference
from bertsent.serve.guards import BodyGuard, RequestMetrics
from bertsent.serve.memory import release_memory
from bertsent.serve.metrics import ServiceMetrics
from bertsent.serve.schemas import (
    ErrorResponse,
    WordAttribution,
    request_models,
    response_models,
)
from bertsent.serve.settings import ServeSettings

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """An error with its HTTP status; the one exception handler turns it into JSON."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.field, self.headers = field, headers


class ServiceState:
    """What the lifespan handler loads and the routes use."""

    def __init__(self) -> None:
        self.classifier: Any = None
        self.batcher: MicroBatcher | None = None
        self.explainer: Any = None  # a private copy of the classifier for integrated gradients
        self.no_explanations = "explanations are off (--no-explain)"  # why, when no explainer
        self.explain_lock = asyncio.Lock()
        # one thread for every explanation: each new thread would get its own malloc
        # arena, and RSS would grow with the number of threads that ever explained
        self.explain_thread: ThreadPoolExecutor | None = None
        self.ready = False
        self.draining = False

    def begin_drain(self) -> None:
        """Shutting down: readiness and new work answer 503; requests in flight finish."""
        self.draining = True


def load_classifier(settings: ServeSettings) -> Any:
    """Load and warm up the model; raises our errors (e.g. ModelError) for a bad directory."""
    from bertsent.inference.loading import load_for_inference

    classifier = load_for_inference(
        settings.model_dir, settings.backend, settings.threads, settings.engine_batch_size
    )
    classifier.predict_proba(["warm-up run, so the first request is not slow"])
    return classifier


def backend_of(classifier: Any) -> str:
    """What ``auto`` chose, or the method for models that have no backends (e.g. tfidf-lr)."""
    return str(getattr(classifier, "backend", classifier.method))


def explain_and_release(explainer: Any, text: str, steps: int, label: str) -> Any:
    """Integrated gradients toward ``label``, then the memory they used goes back to the
    OS (see memory.py)."""
    from bertsent.explain.attributions import integrated_gradients

    try:
        return integrated_gradients(explainer, text, steps=steps, label=label)
    finally:
        release_memory()


async def until_disconnected(receive: Callable[[], Awaitable[Any]]) -> None:
    """Return once the client has gone (the body was already read, so nothing else comes)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def why_no_explanations(classifier: Any) -> str | None:
    """Why ``classifier`` cannot be explained here (None: it can), known at start-up so
    that /v1/explain answers 409 and the page labels with /v1/predict instead."""
    if not getattr(classifier, "has_encoder", False):
        return f"a {classifier.method} model has no fine-tuned encoder to explain"
    task = classifier.task_
    if task.input_names != ("text",):  # no fp32 copy and thread for what is always refused
        return (
            f"explanations are for models of one text; this {task.name} model reads "
            f"{' + '.join(task.input_names)}: use /v1/predict"
        )
    try:
        import captum  # noqa: F401
    except ImportError:
        return "explanations need Captum: pip install 'bertsent[explain]'"
    return None


def explainer_for(classifier: Any) -> Any:
    """A copy with its own weights: attribution hooks must never touch served forward passes.

    Its weights are read from the folder where there is one, in fp32 on the CPU where
    the attribution code puts its inputs: a served ONNX model's PyTorch weights were
    otherwise loaded into the served copy too (a model's worth of memory, unused), and a
    GPU model was copied on the GPU first.
    """
    explainer = copy.copy(classifier)
    explainer.backend = "torch"
    saved_at = getattr(classifier, "_saved_at", None)
    if saved_at is not None:  # the folder's weights are the served ones (a fit forgets it)
        explainer.model_ = type(classifier)._read_torch_model(saved_at).eval().float()
    else:  # fitted in this process
        explainer.model_ = copy.deepcopy(classifier.model_).float().cpu()
    return explainer


# statuses of a request shed rather than failed: overloaded, busy, shutting down, not
# ready (503), too slow (504), its client gone (499); the metrics count them by reason
REFUSALS = (499, 503, 504)

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "body is not valid JSON or not UTF-8",
        401: "missing or wrong API key",
        408: "the request's headers or body did not arrive within their timeouts",
        413: "body too large",
        415: "body not sent as application/json",
        422: "wrong fields, types or limits",
        503: "overloaded, not ready or shutting down: retry after Retry-After seconds",
        504: "not answered within the request timeout",
    }.items()
}


def create_app(settings: ServeSettings, classifier: Any = None) -> FastAPI:
    """Build the service for ``settings``; the model loads when the server starts.

    ``classifier`` is one already loaded with ``load_classifier``: the CLI loads it
    before it binds, so a bad model directory is a one-line error, not a failed start.

    >>> app = create_app(ServeSettings(model_dir="runs/demo/model"))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
    """
    PredictRequest, ExplainRequest = request_models(
        settings.max_texts_per_request,
        settings.max_chars_per_text,
        # a model loaded already gives its task's request shape to the schema
        classifier.task_.input_names if classifier is not None else None,
    )
    PredictResponse, ExplainResponse = response_models(
        classifier.task_ if classifier is not None else None
    )
    state = ServiceState()
    model_name = Path(settings.model_dir).name
    metrics = ServiceMetrics(queue_depth=lambda: state.batcher.queued_texts if state.batcher else 0)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if classifier is not None:
            state.classifier = classifier
        else:
            state.classifier = await asyncio.to_thread(load_classifier, settings)
        reason = why_no_explanations(state.classifier) if settings.explain else None
        if reason:
            logger.warning("/v1/explain is off: %s", reason)
            state.no_explanations = reason
        elif settings.explain:
            state.explainer = explainer_for(state.classifier)
            state.explain_thread = ThreadPoolExecutor(1, thread_name_prefix="bertsent-explain")
        state.batcher = MicroBatcher(
            state.classifier.predict_proba,
            max_batch_size=settings.max_batch_size,
            max_wait_s=settings.max_wait_ms / 1000,
            max_queue_texts=settings.max_queue_texts,
            on_batch=metrics.observe_batch,
            on_cancel=metrics.cancelled_texts.inc,
        )
        state.batcher.start()
        state.ready = True
        logger.info("serving %s with %s", settings.model_dir, backend_of(state.classifier))
        yield
        # uvicorn has stopped accepting connections and finished the requests in flight
        state.ready = False
        await state.batcher.stop()
        if state.explain_thread is not None:
            state.explain_thread.shutdown(wait=True)

    app = FastAPI(
        title="bertsent",
        version=__version__,
        description="Sentiment of reviews with a fine-tuned BERT-family model.",
        lifespan=lifespan,
        # Swagger UI and ReDoc load their scripts from a CDN: blank pages offline.
        # /docs is a reference rendered here from the schema instead (see docs.py).
        docs_url=None,
        redoc_url=None,
    )
    app.state.service, app.state.metrics = state, metrics  # for the server: drain, refusals
    app.add_middleware(
        BodyGuard,
        max_bytes=settings.max_body_bytes,
        max_buffered=settings.max_buffered_bytes,
        on_refused=lambda reason: metrics.rejected.labels(reason=reason).inc(),
    )
    # outermost: sees refused requests too, and matches their route itself
    app.add_middleware(RequestMetrics, metrics=metrics, routes=app.router.routes)

    # one handler for every error: the same JSON shape and the right status
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> JSONResponse:
        # shed, not failed: counted by reason (a readiness probe's 503 is an answer)
        if error.status in REFUSALS and request.url.path != "/readyz":
            metrics.rejected.labels(reason=error.code).inc()
        body = {"error": {"code": error.code, "message": error.message, "field": error.field}}
        return JSONResponse(body, status_code=error.status, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type and media_type != "application/json" and not media_type.endswith("+json"):
            # FastAPI reads such a body as bytes, so it failed as "not a dictionary"
            message = f"send the body as JSON with Content-Type: application/json, not {media_type}"
            return await service_error(
                request, ServiceError(415, "unsupported_media_type", message)
            )
        if first.get("type") == "json_invalid":  # its loc is a character offset, not a field
            position = first.get("loc", ())[-1]
            reason = first.get("ctx", {}).get("error", "invalid")
            message = f"body is not valid JSON: {reason} at character {position}"
            return await service_error(request, ServiceError(400, "invalid_json", message))
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        return await service_error(
            request,
            ServiceError(422, "invalid_request", first.get("msg", "invalid"), where or None),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # a fault of ours (a model call that failed, say): still the JSON shape the
        # clients and the page read; the server logs the traceback
        message = f"the server failed to answer ({type(error).__name__})"
        return await service_error(request, ServiceError(500, "internal_error", message))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
        return await service_error(
            request,
            ServiceError(
                error.status_code,
                code.get(error.status_code, "error"),
                str(error.detail),
                headers=dict(error.headers or {}),  # e.g. Allow, which a 405 must carry
            ),
        )

    # the schema declares the key only when one is required
    api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)

    async def check_api_key(key: str | None = Depends(api_key_header)) -> None:
        expected = settings.api_key.get_secret_value() if settings.api_key else None
        if expected is not None and not secrets.compare_digest(
            (key or "").encode(), expected.encode()
        ):
            raise ServiceError(401, "unauthorized", "missing or wrong X-API-Key header")

    auth = [Depends(check_api_key)] if settings.api_key else []

    def require_ready() -> tuple[Any, MicroBatcher]:
        if state.draining:
            raise ServiceError(
                503, "shutting_down", "the server is shutting down", headers={"Retry-After": "1"}
            )
        if not state.ready or state.batcher is None or not state.batcher.running:
            raise ServiceError(
                503, "not_ready", "the model is not loaded", headers={"Retry-After": "1"}
            )
        return state.classifier, state.batcher

    def model_inputs(texts: list[str], aspects: list[str] | None) -> list[str]:
        """What the model reads: the texts, paired with their aspects for an aspect model."""
        task = require_ready()[0].task_
        if aspects is None:
            fields: list[dict[str, str]] = [{} for _ in texts]
        elif ASPECT_COLUMN not in task.input_names:
            raise ServiceError(
                422, "invalid_request", f"aspects are for aspect models; this one is {task.name}",
                "aspects",
            )  # fmt: skip
        elif len(aspects) != len(texts):
            message = f"one aspect per text: {len(aspects)} aspects, {len(texts)} texts"
            raise ServiceError(422, "invalid_request", message, "aspects")
        else:
            fields = [{ASPECT_COLUMN: aspect} for aspect in aspects]
        for i, text in enumerate(texts):
            try:
                plain_text(text, f"texts[{i}]")
            except DataError as error:
                raise ServiceError(422, "invalid_request", error.message, "texts") from None
        try:
            return [
                task.model_input(text, row, f"aspects[{i}]")
                for i, (text, row) in enumerate(zip(texts, fields, strict=True))
            ]
        except DataError as error:
            raise ServiceError(422, "invalid_request", error.message, "aspects") from None

    async def finished_in_time(
        work: asyncio.Future[Any], receive: Callable[[], Awaitable[Any]], deadline: float
    ) -> asyncio.Future[Any]:
        """``work``, done before ``deadline`` (loop time) and before the client left; else
        it is cancelled and the request answered 504 or 499."""
        client_left = asyncio.ensure_future(until_disconnected(receive))
        try:
            done, _ = await asyncio.wait(
                (work, client_left),
                timeout=max(0.0, deadline - asyncio.get_running_loop().time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            client_left.cancel()
            if not work.done():
                work.cancel()  # queued texts are dropped unscored
        if work not in done:
            if client_left in done:
                raise ServiceError(499, "client_left", "the client closed the connection")
            raise ServiceError(
                504, "timeout", f"not answered within {settings.request_timeout_s} s"
            )
        return work

    def deadline() -> float:
        return asyncio.get_running_loop().time() + settings.request_timeout_s

    async def score(
        texts: list[str], receive: Callable[[], Awaitable[Any]], until: float | None = None
    ) -> list[dict[str, Any]]:
        """Scores from the batcher; the queued work is cancelled on timeout or disconnect."""
        classifier, batcher = require_ready()
        work = asyncio.ensure_future(batcher.submit(texts))
        await finished_in_time(work, receive, deadline() if until is None else until)
        try:
            probabilities = work.result()
        except Overloaded as overloaded:
            raise ServiceError(
                503,
                "overloaded",
                "too many texts waiting; retry later",
                headers={"Retry-After": str(overloaded.retry_after_s)},
            ) from None
        return prediction_rows(classifier.labels_, classifier.task_, probabilities)

    @app.post(
        "/v1/predict",
        response_model=PredictResponse,
        responses=_ERRORS,
        dependencies=auth,
        summary="Label reviews",
    )
    async def predict(body: PredictRequest, request: Request) -> JSONResponse:  # type: ignore[valid-type]
        """Label, score and class scores of each text, in input order."""
        texts: list[str] = body.texts  # type: ignore[attr-defined]
        aspects: list[str] | None = getattr(body, "aspects", None)
        predictions = await score(model_inputs(texts, aspects), request.receive)
        # built as plain JSON: validating our own output per request costs throughput;
        # the schema conformance of this shape is checked by the API fuzz test
        return JSONResponse(
            {
                "predictions": predictions,
                "model": model_name,
                "backend": backend_of(state.classifier),
            }
        )

    @app.post(
        "/v1/explain",
        response_model=ExplainResponse,
        response_model_exclude_none=True,  # a task's fields only where predict sends them too
        responses={**_ERRORS, 409: {"model": ErrorResponse, "description": "not a BERT model"}},
        dependencies=auth,
        summary="Label one review and show the words that drove it",
    )
    async def explain(body: ExplainRequest, request: Request) -> Any:  # type: ignore[valid-type]
        """Integrated-gradients attribution of each word toward the predicted class."""
        text: str = body.text  # type: ignore[attr-defined]
        task = require_ready()[0].task_
        if state.explainer is None or state.explain_thread is None:  # aspect models too
            raise ServiceError(409, "no_explanations", state.no_explanations)
        try:
            plain_text(text, "text")
        except DataError as error:
            raise ServiceError(422, "invalid_request", error.message, "text") from None
        until = deadline()  # the request timeout covers the scoring and the explanation
        (prediction,) = await score([text], request.receive, until)
        predicted_label = prediction["label"]
        if state.explain_lock.locked():
            raise ServiceError(
                503, "busy", "another explanation is running", headers={"Retry-After": "1"}
            )
        await state.explain_lock.acquire()
        # toward the label served (an INT8 graph may answer otherwise than the fp32
        # copy); a multi-label answer is explained toward its most probable label
        served = max(task.names(predicted_label), key=lambda name: prediction["scores"][name])
        running = state.explain_thread.submit(
            explain_and_release, state.explainer, text, settings.explain_steps, served
        )
        # a thread cannot be stopped: one given up on (timeout, client gone) still holds
        # the lock until it ends, so explanations stay one at a time
        loop = asyncio.get_running_loop()
        running.add_done_callback(lambda _: loop.call_soon_threadsafe(state.explain_lock.release))
        work = await finished_in_time(asyncio.wrap_future(running), request.receive, until)
        try:
            attribution = work.result()
        except DataError as error:  # only characters the tokenizer drops ("\u200b")
            raise ServiceError(422, "invalid_request", error.message, "text") from None
        encoded = attribution.encoded
        words = [
            WordAttribution(word=word, attribution=float(value))
            for word, value, group in zip(
                encoded.words, attribution.scores, encoded.groups, strict=True
            )
            if not all(encoded.special[i] for i in group)  # [CLS], [SEP] score 0 by design
        ]
        return ExplainResponse(**prediction, words=words, explained_label=served)

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        summary="The model is loaded and the server is not shutting down",
        responses={503: _ERRORS[503]},
    )
    async def readyz() -> dict[str, str]:
        require_ready()
        return {"status": "ready", "backend": backend_of(state.classifier)}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus_metrics() -> Response:
        content, media_type = metrics.exposition()
        return Response(content, media_type=media_type)

    page = files("bertsent.serve").joinpath("page.html").read_text(encoding="utf-8")

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        """The API reference, rendered from /openapi.json with no script or CDN."""
        return HTMLResponse(api_reference(app.openapi(), request.url.netloc))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        # what one prediction needs (e.g. "text aspect"): the page asks for those inputs
        inputs = state.classifier.task_.input_names if state.classifier else ("text",)
        shown = page.replace('data-inputs="text"', f'data-inputs="{" ".join(inputs)}"')
        shown = shown.replace('maxlength="5000"', f'maxlength="{settings.max_chars_per_text}"')
        if state.explainer is None:  # the page then labels with /v1/predict
            shown = shown.replace('data-explains="yes"', 'data-explains="no"')
        return HTMLResponse(shown)

    return app
