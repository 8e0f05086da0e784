"""basesel: measure whether a base model is good enough before you fine-tune it."""

__version__ = "0.1.0"
