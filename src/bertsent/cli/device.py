"""``bertsent device``: what this machine will train and predict on, before a long run."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "device",
        help="show the device, torch build, precision and batch size bertsent will use",
        description="Check that the GPU is used: prints the device, the torch build (CPU "
        "or CUDA), bf16 support and the training defaults this machine gets.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from bertsent.encoders.engine import default_batch_size as inference_batch
    from bertsent.hardware import describe, resolve_precision, summary_line, usable_device
    from bertsent.training.config import TrainingConfig

    device = usable_device()
    config = TrainingConfig().resolved()
    info = {
        **describe(),
        "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda,
        "train_precision": resolve_precision("auto", device),
        "train_batch_size": config.batch_size,
        "train_learning_rate": config.learning_rate,
        "predict_batch_size": inference_batch(device),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(summary_line())
    print(f"torch {info['torch']} (CUDA build: {info['torch_cuda_build'] or 'no, CPU only'})")
    print(
        f"training defaults here: precision {info['train_precision']}, batch "
        f"{info['train_batch_size']}, learning rate {info['train_learning_rate']:.3g}; "
        f"prediction batch {info['predict_batch_size']}"
    )
    return 0
