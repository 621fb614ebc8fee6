"""The real-time HTTP service: ``create_app(settings)`` builds the FastAPI app."""

from bertsent.serve.settings import ServeSettings

__all__ = ["ServeSettings"]
