"""User-facing errors.

Each error is also a subclass of the matching builtin, so callers that catch
``ValueError`` or ``FileNotFoundError`` keep working. Messages name the bad value,
where it was (file, line, field) and, in ``hint``, how to fix it.
"""

from __future__ import annotations


class BertsentError(Exception):
    """Base class of every error bertsent raises on purpose.

    Args:
        message: What went wrong and where.
        hint: How to fix it, shown on a second line by the CLI.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class DataError(BertsentError, ValueError):
    """A dataset is missing, malformed or unusable for training or evaluation."""


class ConfigError(BertsentError, ValueError):
    """A training or prediction setting is out of range or inconsistent."""


class ModelError(BertsentError, RuntimeError):
    """A model cannot be found, loaded or used as asked."""


class HubUnavailableError(BertsentError, ConnectionError):
    """The Hugging Face Hub cannot be reached for a model or dataset that is not cached."""


class MissingDependencyError(BertsentError, ImportError):
    """An optional package needed for this feature is not installed."""


class TrainingInterrupted(BertsentError):
    """Training stopped on Ctrl-C or SIGTERM after writing a checkpoint that can be resumed."""


class OutputExistsError(BertsentError, FileExistsError):
    """An output path holds something bertsent did not write: it is never replaced."""
