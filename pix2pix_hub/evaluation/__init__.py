"""The evaluate command and its metrics."""
