"""Training: the config dataclass, Trainer glue, callbacks and training curves."""
