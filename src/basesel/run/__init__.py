"""Running models over scenarios: cache, run directory, executor, the baseline pipeline."""
