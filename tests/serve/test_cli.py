"""``bertsent serve`` start-up errors: one line and a hint, exit code 2, before "serving"."""

from __future__ import annotations

from pathlib import Path

import pytest

from bertsent.cli import main


def run_serve(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["serve", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_missing_model_is_one_line_before_serving(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_serve(capsys, str(tmp_path / "nonexistent"), "--port", "0")
    assert code == 2
    assert "serving" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and "nonexistent" in lines[0]
    assert lines[1].startswith("hint: ")


@pytest.mark.parametrize("key", ["", "   ", "\t\n"])
def test_blank_api_key_is_refused_from_the_flag(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    trained_model_dir: Path,
    key: str,
) -> None:
    monkeypatch.setenv("SERVE_KEY", key)
    code, out, err = run_serve(capsys, str(trained_model_dir), "--api-key-env", "SERVE_KEY")
    assert code == 2 and "serving" not in out
    assert err.splitlines()[0] == (
        "error: --api-key-env: $SERVE_KEY is not set, empty or only whitespace"
    )


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("  ", "empty or only whitespace"),
        (" s3cret ", "starts or ends with whitespace"),
        ("clé", "outside printable ASCII"),
    ],
)
def test_unusable_api_key_is_refused_from_the_environment(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    trained_model_dir: Path,
    key: str,
    reason: str,
) -> None:
    monkeypatch.setenv("BERTSENT_SERVE_API_KEY", key)
    code, out, err = run_serve(capsys, str(trained_model_dir))
    assert code == 2 and "serving" not in out
    first = err.splitlines()[0]
    assert first.startswith("error: serve setting api_key (from $BERTSENT_SERVE_API_KEY)")
    assert reason in first
    assert "s3cret" not in err  # the key itself is never shown


def test_a_queue_smaller_than_one_request_is_refused_at_start_up(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, trained_model_dir: Path
) -> None:
    # otherwise a full request gets 503 "retry" from an idle server, forever
    monkeypatch.setenv("BERTSENT_SERVE_MAX_TEXTS_PER_REQUEST", "17")
    code, out, err = run_serve(capsys, str(trained_model_dir), "--max-queue-texts", "16")
    assert code == 2 and "serving" not in out
    assert err.splitlines()[0] == (
        "error: serve settings: max_queue_texts (16) is below max_texts_per_request (17): a "
        "full request could never be queued"
    )


def test_a_body_budget_smaller_than_one_body_is_refused_at_start_up(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, trained_model_dir: Path
) -> None:
    monkeypatch.setenv("BERTSENT_SERVE_MAX_BUFFERED_BYTES", "1000000")
    code, out, err = run_serve(capsys, str(trained_model_dir))
    assert code == 2 and "serving" not in out
    assert "max_buffered_bytes (1000000) is below max_body_bytes (4000000)" in err


def test_busy_port_is_one_line(capsys: pytest.CaptureFixture[str], trained_model_dir: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, out, err = run_serve(capsys, str(trained_model_dir), "--port", port)
    assert code == 2 and "serving" not in out
    assert err.splitlines()[0].startswith(f"error: cannot listen on 127.0.0.1:{port}")


def test_a_port_taken_by_a_server_still_loading_its_model_is_refused() -> None:
    """Our socket listens from the start: bound only, it let a second server bind the
    same port (SO_REUSEADDR) and fail after loading its model, with a traceback."""
    from bertsent.errors import ConfigError
    from bertsent.serve.server import bind

    first = bind("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}") as error:
            bind("127.0.0.1", port).close()
        assert error.value.hint.startswith("stop the other server")
    finally:
        first.close()


def test_the_address_falls_back_to_its_environment_variables(
    capsys: pytest.CaptureFixture[str], trained_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As every other setting does (they were ignored, silently: a container told
    BERTSENT_SERVE_HOST=0.0.0.0 stayed unreachable on 127.0.0.1)."""
    import socket

    # the port is taken on 127.0.0.2 and on the default 127.0.0.1: the error names the host
    # the server tried, which only the variable can have made 127.0.0.2
    with socket.socket() as taken, socket.socket() as on_default:
        taken.bind(("127.0.0.2", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        on_default.bind(("127.0.0.1", int(port)))
        on_default.listen()
        monkeypatch.setenv("BERTSENT_SERVE_HOST", "127.0.0.2")
        monkeypatch.setenv("BERTSENT_SERVE_PORT", port)
        code, _, err = run_serve(capsys, str(trained_model_dir))
    assert code == 2 and err.splitlines()[0].startswith(f"error: cannot listen on 127.0.0.2:{port}")
    monkeypatch.setenv("BERTSENT_SERVE_PORT", "eighty")
    code, _, err = run_serve(capsys, str(trained_model_dir))
    assert code == 2 and "BERTSENT_SERVE_PORT='eighty': not a port number" in err


def test_the_default_body_limit_lets_in_every_request_the_other_limits_allow() -> None:
    """64 texts of 5,000 emoji, JSON-escaped as Python and requests write it, were a 413."""
    import json

    from bertsent.serve.settings import ServeSettings

    settings = ServeSettings(model_dir="runs/any")  # the limits do not read the model
    texts = ["😀" * settings.max_chars_per_text] * settings.max_texts_per_request
    assert len(json.dumps({"texts": texts}).encode()) <= settings.max_body_bytes
