"""Inference: the batching engine and file scoring."""
