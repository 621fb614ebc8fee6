"""Progress bars for long library calls, named by the command that runs them.

Scoring deep inside a library call (a teacher's pass, a report's test split, an
export's measurements) cannot know what it is for; the caller names the work with
``progress("teacher pass")`` and the engine shows a bar under that name. Without a
name, with ``-q``, or when stderr is not a terminal, nothing is shown.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_description: ContextVar[str | None] = ContextVar("bertsent_progress", default=None)


@contextmanager
def progress(description: str) -> Iterator[None]:
    """Show bars named ``description`` for the scoring done inside this block."""
    token = _description.set(description)
    try:
        yield
    finally:
        _description.reset(token)


def silenced() -> bool:
    """Whether ``-q`` turned bars off; a library caller who configured no logging
    (a notebook, a script calling ``fit``) still sees the training bar."""
    return logging.getLogger("bertsent").level >= logging.WARNING


def quiet() -> bool:
    """Whether bars are off: ``-q`` prints only results and errors."""
    return not logging.getLogger("bertsent").isEnabledFor(logging.INFO)


def progress_bar(total: int, unit: str) -> Any:
    """A tqdm bar for the named work around this call, or a silent one."""
    from tqdm.auto import tqdm

    description = _description.get()
    # disable=None: tqdm turns itself off when stderr is not a terminal
    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        disable=True if description is None or quiet() else None,
        leave=False,
    )
