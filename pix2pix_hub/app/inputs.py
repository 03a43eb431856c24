"""Gradio inputs that hand the app the files a visitor sent, undecoded, so that pix2pix_hub/decode.py alone reads
them. gr.Image and gr.ImageEditor decode in their `preprocess` (even with type="filepath", gr.Image opens the
file with PIL): a bomb, an SVG or a text file then fails inside Gradio, before the app can answer, and the visitor
gets a bare "Error" (`{"error": null}` by API); an editor value with many layers is decoded whole, layer by
layer, before the app could count them. The browser sees the same components as before (same block names).
"""

from __future__ import annotations

import gradio as gr
from gradio.components.image_editor import EditorData


def cached_path(payload) -> str | None:
    """A FileData's file in Gradio's cache (Gradio has moved uploads and data: URLs there), or None."""
    if payload is None:
        return None
    return getattr(payload, "path", None) or None


class ImageFile(gr.Image):
    """gr.Image whose value reaches the function as the path of the uploaded file (None when empty)."""

    def preprocess(self, payload) -> str | None:
        return cached_path(payload)

    def get_block_name(self) -> str:
        return "image"


class EditorFiles(gr.ImageEditor):
    """gr.ImageEditor whose value reaches the function as {background, layers, composite} paths, never decoded.
    Its blob route (`accept_blobs`, how the browser's editor sends layers) is closed: the app shows no editor,
    and the blobs it would keep in memory, under any id a caller makes up, have no bound."""

    def preprocess(self, payload: EditorData | None) -> dict | None:
        if payload is None:
            return None
        return {"background": cached_path(payload.background), "composite": cached_path(payload.composite),
                "layers": [cached_path(layer) for layer in payload.layers or []]}

    def accept_blobs(self, data):  # no longer a server function: POST /component_server answers 404
        raise NotImplementedError("this app takes the editor's value in one request")

    def get_block_name(self) -> str:
        return "imageeditor"
