"""Evaluation: metrics with intervals, calibration, figures and the puzzle sentences."""
