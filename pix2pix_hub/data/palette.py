"""The crayon colours of `make-dataset --kind segments`: the default model was trained on exactly these, and
the app offers them as its brushes. A module of its own, so the app (and a Space) need not import OpenCV."""

from __future__ import annotations

import numpy as np

SEGMENT_PALETTE = {
    "sky": "#6fb1f0", "cloud": "#f2f2f2", "water": "#1d5fa8", "grass": "#6cc04a", "forest": "#1f6b2e",
    "earth": "#9a7348", "rock": "#808080", "sand": "#e8d38f", "sunset": "#f28c28", "flower": "#d8344f",
    "night": "#26263a",
}


def palette_array() -> np.ndarray:
    """SEGMENT_PALETTE as a (colours, 3) uint8 RGB array."""
    return np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in SEGMENT_PALETTE.values()], np.uint8)

# What each colour paints (make-dataset --kind landscape paints a photo region by what it shows; --kind segments
# by its nearest colour): the app's legend.
SEGMENT_MEANINGS = {
    "sky": "blue sky", "cloud": "clouds, haze, snow", "water": "lake, sea, river", "grass": "meadow, lawn",
    "forest": "trees, woods", "earth": "soil, paths, bare ground", "rock": "mountains, stone", "sand": "beach, dunes",
    "sunset": "orange evening sky", "flower": "flowers, red things", "night": "dark sky, shadows",
}
