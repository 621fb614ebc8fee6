"""Trainer callbacks the training tests share."""

from __future__ import annotations

import os
import signal
from typing import Any

from transformers import TrainerCallback


class SendSigint(TrainerCallback):
    """Presses Ctrl-C (a real SIGINT to this process) during a given step."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step + 1 == self.step:
            os.kill(os.getpid(), signal.SIGINT)
