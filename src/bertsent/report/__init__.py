"""The HTML report: one self-contained page about a trained model."""
