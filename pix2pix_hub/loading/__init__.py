"""From a model's name to a generator: resolving names, converting reference checkpoints, loading folders."""
