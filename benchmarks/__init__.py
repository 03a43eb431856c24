"""Benchmarks of pix2pix-hub (not shipped with the package): `python -m benchmarks.bench --help`."""
