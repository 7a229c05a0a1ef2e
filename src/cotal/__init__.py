"""cotal: unsupervised temporal action localization with temporal co-attention models."""

__version__ = "0.1.0"
