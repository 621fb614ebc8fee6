"""Inference: the batching engine and file scoring."""

# here, not in engine.py, so the CLI can list them without importing torch
BACKENDS = ("auto", "torch", "torch-bf16", "torch-fp16", "onnx", "onnx-int8")
