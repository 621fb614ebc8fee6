"""Comparisons that train: methods side by side, learning curves, which method to use."""
