"""lensforge: curate labelled news and social-media datasets into a versioned instruction-tuning set."""

__version__ = "0.1.0"
