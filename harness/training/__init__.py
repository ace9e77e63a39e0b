"""Training multilingual dual encoders with X-X-mono, X-Y and hybrid batches (arXiv 2408.10536)."""
