"""Deployment: ONNX export, file scoring and loading models to serve."""
