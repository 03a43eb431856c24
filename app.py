"""pix2pix-hub Gradio app: draw or upload, get the translated image (Hugging Face Space entry point).

Run locally: python app.py [--model PATH_OR_ID] [--port N] [--share no] [--public]
As a Space (SPACE_ID set) or with --public, visitors pick only among the listed models and the server's
memory, downloads and uploads are bounded: see pix2pix_hub/app/serving.py and the README's "Space mode".
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

from pix2pix_hub import ModelLoadError
from pix2pix_hub.app import gallery, gallery_app
from pix2pix_hub.app.decode import Budget, decode_editor_value, decode_image
from pix2pix_hub.app.gallery_store import GalleryStore
from pix2pix_hub.app.serving import BodyLimit, ModelServer, ServeSettings, keep_folder_swept, upload_refusal
from pix2pix_hub.app.sketch_canvas import SketchError, decode_sketch, encode_sketch, image_data_url, sketch_canvas
from pix2pix_hub.data.images import BadImageError

# Brush colours = the colours make-dataset paints with, which the default model was trained on.
from pix2pix_hub.data.palette import SEGMENT_PALETTE
from pix2pix_hub.errors import ConfigError, command

ROOT = Path(__file__).resolve().parent
BUNDLED_MODEL = "models/default"  # the folder a checkout serves, offline
SPACE_FILE = ROOT / "space.json"  # {"default_model": ...}: written by `publish-space` into the Space's folder
MAX_SIDE = 1024  # uploads are scaled to fit this before the model sees them (the status line says so)
APP_MEMORY_BUDGET = 0.5 * 2**30  # per request: larger passes run in tiles, so two visitors at once stay bounded
RESOLUTIONS = [("the model's default", "default"), ("training scale", "model"), ("native (up to 1024 px)", "native")]
CANVAS = 256
CANVAS_HEIGHT = 420  # px on screen: the upload box and the upload's output
# The upload's output at its own pixel size (crisp where a high-DPI screen enlarges it), never stretched; smaller
# only where the column is narrower. (The drawing's result is styled in pix2pix_hub/app/static/sketch_canvas.css.)
CSS = """
#output img { width: auto; height: auto; max-width: 100%; max-height: 100%; object-fit: contain;
  image-rendering: pixelated; }
#canvas .html-container { padding: 0; }
"""
# At most this many translations run at once, whichever way they come (queue events, the canvas's live
# requests); a request waits at most BUSY_WAIT seconds for its turn, then says the server is busy.
_RUNNING = threading.BoundedSemaphore(2)
BUSY_WAIT = 30.0
# The canvas's live requests bypass Gradio's queue (one page sends one at a time): this many may wait for a turn;
# beyond that the answer is "busy" at once, so a flood cannot tie up the server's worker threads.
_LIVE_WAITING = threading.BoundedSemaphore(16)
BUSY = "⚠️ The server is busy with other drawings; try again in a moment."


BLANK_UPLOAD = "The upload is one flat colour: nothing to translate. Upload a photo or a sketch."


_SERVER: ModelServer | None = None
_STORE: GalleryStore | None = None


def default_model() -> str:
    """The model the page opens on: `PIX2PIX_MODEL` (a Space variable), else the Space's space.json, else the
    bundled model."""
    return os.environ.get("PIX2PIX_MODEL") or space_default_model() or BUNDLED_MODEL


def space_default_model() -> str | None:
    if not SPACE_FILE.is_file():
        return None
    try:
        model = json.loads(SPACE_FILE.read_text()).get("default_model")
    except (ValueError, AttributeError):
        model = None
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f'{SPACE_FILE} is not {{"default_model": "<model>"}}: fix it or run publish-space again')
    return model.strip()


def reset() -> None:
    """Forget the loaded models and the gallery's download states (tests; a changed environment)."""
    global _SERVER, _STORE
    _SERVER = _STORE = None


def server() -> ModelServer:
    """The app's models and limits: Space mode when SPACE_ID is set (or after main(["--public"]))."""
    global _SERVER
    if _SERVER is None:
        _SERVER = new_server(ServeSettings.from_env(False, listed_models()))
    return _SERVER


def new_server(settings: ServeSettings) -> ModelServer:
    """The model server, with the gallery's names resolved to their converted folders (gallery_store)."""
    made = ModelServer(settings, ROOT, APP_MEMORY_BUDGET)
    made.alias = lambda model_id: str(store().folder(model_id)) if gallery.entry(model_id) else None
    return made


def store() -> GalleryStore:
    """The gallery's weights: fetched on first use, within the PIX2PIX_GALLERY_* bounds (gallery_store.py)."""
    global _STORE
    if _STORE is None:
        _STORE = GalleryStore(examples=lambda name: gallery_app.examples(ROOT, name))
    return _STORE


def listed_models() -> list[str]:
    """The models offered in the list: the default, the examples, model folders under models/, the gallery."""
    bundled = sorted(f"models/{p.parent.name}" for p in (ROOT / "models").glob("*/config.json"))
    return list(dict.fromkeys([default_model(), BUNDLED_MODEL] + bundled + gallery.names()))


def gallery_pending(model_id: str) -> str | None:
    """A line while a gallery entry's weights are not here yet (their download is started), else None."""
    if gallery.entry(model_id) is None or store().is_ready(model_id):
        return None
    store().start(model_id)
    return store().line(model_id) or None


def load_translator(model_id: str, direction: str | None, resolution: str = "default"):
    return server().translator(model_id, direction, resolution)


def model_config(model_id: str) -> dict:
    return server().config(model_id)


def request_budget() -> Budget:
    """What one request may decode over all its images (pixels, decoded bytes), from their headers."""
    return Budget(server().settings.max_pixels)


def to_input_image(value, what: str = "the upload") -> Image.Image | None:
    """An upload (its file), an ImageEditor dict, PIL or numpy -> RGB PIL (None when there is nothing), scaled to
    fit MAX_SIDE; `.info["uploaded_size"]` keeps the size it came with. Every image is read by
    pix2pix_hub/app/decode.py within this request's budget: BadImageError (one line) when it cannot be."""
    if value is None:
        return None
    if isinstance(value, dict):
        return decode_editor_value(value, request_budget(), MAX_SIDE, server().settings.max_layers)
    return decode_image(value, what, request_budget(), reduce_to=MAX_SIDE)


def is_blank(image: Image.Image) -> bool:
    arr = np.asarray(image)
    return int(arr.max()) - int(arr.min()) < 8


def translate(value, model_id: str | None = None, direction: str | None = None, resolution: str = "default",
              source: str = "sketch"):
    """-> (translated PIL image or None, status markdown saying at which size the model ran). Never raises.
    `source` ("sketch" or "upload") picks the words for an empty or blank image."""
    model_id = (model_id or default_model()).strip() if isinstance(model_id, str) or model_id is None else ""
    refusal = server().refusal(model_id)
    if refusal:
        return None, f"⚠️ {refusal}"
    pending = gallery_pending(model_id)
    if pending:
        return None, pending
    try:
        image = to_input_image(value)
    except BadImageError as error:
        return None, f"⚠️ Could not read the image: {server().message(error)}"
    except Exception as error:  # noqa: BLE001
        return None, f"⚠️ Could not read the image: {type(error).__name__}"
    if image is None or is_blank(image):
        return None, BLANK_UPLOAD if source == "upload" else "Draw something… (or upload a photo/sketch)"
    try:
        config = model_config(model_id)
        if config.get("directions"):
            direction = direction if direction in config["directions"] else "AtoB"
        else:
            direction = None
        resolution = resolution if resolution in dict(map(reversed, RESOLUTIONS)) else "default"
        translator = load_translator(model_id, direction, resolution)
        if not _RUNNING.acquire(timeout=BUSY_WAIT):
            return None, BUSY
        try:
            start = time.perf_counter()  # timed here: translator.last_seconds is shared by concurrent requests
            output, info = translator.translate(image)
            seconds = time.perf_counter() - start
        finally:
            _RUNNING.release()
    except (ModelLoadError, OSError, ValueError) as error:
        msg = server().message(error)
        if model_id == BUNDLED_MODEL and not (ROOT / BUNDLED_MODEL).exists():
            msg = f"The bundled model `{BUNDLED_MODEL}` is missing (not trained yet?). Pick another model."
        return None, f"⚠️ Model `{model_id}` could not be loaded: {msg}"
    except Exception as error:  # noqa: BLE001
        return None, f"⚠️ Translation failed: {type(error).__name__}: {server().message(error)[:200]}"
    # Gradio stores each output under the hash of its bytes and rewrites that file for every identical result
    # (processing_utils.save_pil_to_cache), so a client still downloading the first one gets a truncated
    # answer when two requests give the same image at once: a per-request PNG text chunk keeps them apart.
    output.info["pix2pix-hub-request"] = uuid.uuid4().hex
    extra = f" ({direction})" if direction else ""
    (width, height), uploaded = image.size, image.info.get("uploaded_size", image.size)
    scaled = f"; the {uploaded[0]}×{uploaded[1]} upload was scaled to fit {MAX_SIDE} px" if uploaded != image.size else ""
    return output, f"✅ {width}×{height} in {seconds * 1000:.0f} ms{extra}: model {info.describe()}{scaled}"


# Both values are always choices, hidden for a one-way model: Gradio checks an API caller's value against the
# Radio's choices as the page was built, so a CycleGAN picked over the API could not be asked for BtoA otherwise.
PLAIN_DIRECTIONS = [("A → B", "AtoB"), ("B → A", "BtoA")]


def direction_choices(model_id: str):
    """(choices [(label, value)], visible, status) for the direction Radio."""
    model_id = (model_id or default_model()).strip() if isinstance(model_id, str) or model_id is None else ""
    refusal = server().refusal(model_id)
    if refusal:
        return PLAIN_DIRECTIONS, False, f"⚠️ {refusal}"
    pending = gallery_pending(model_id)
    if pending:
        return PLAIN_DIRECTIONS, False, pending
    try:
        config = model_config(model_id)
    except Exception as error:  # noqa: BLE001
        return PLAIN_DIRECTIONS, False, f"⚠️ Model `{model_id}`: {server().message(error)}"
    if config.get("model_type") == "cyclegan" or config.get("directions"):
        a = config.get("domain_a_name") or "A"
        b = config.get("domain_b_name") or "B"
        return [(f"{a} → {b}", "AtoB"), (f"{b} → {a}", "BtoA")], True, f"Model `{model_id}` (CycleGAN {a} ↔ {b})"
    described = gallery_app.describe(model_id)  # a gallery entry: what it makes, its source and licence
    return PLAIN_DIRECTIONS, False, described or f"Model `{model_id}` ({config.get('model_type', 'pix2pix')})"


def model_choices(model: str) -> list[str]:
    """The list in the model box: in Space mode the allowed models only, locally the short list (free text too)."""
    settings = server().settings
    if settings.public:
        return list(dict.fromkeys([model] + settings.allowed)) if settings.allows(model) else settings.allowed
    return list(dict.fromkeys([model] + listed_models()))


def example_files() -> list[str]:
    return sorted(str(p) for p in (ROOT / "examples").glob("*.png"))


def translate_canvas(value, model_id: str | None = None, direction: str | None = None,
                     resolution: str = "default"):
    """The canvas's value (a PNG data URL, '' when empty) -> (translated image or None, status). Never raises."""
    try:
        image = decode_sketch(value, request_budget())
    except SketchError as error:
        return None, f"⚠️ Could not read the canvas: {error}"
    return translate(image, model_id, direction, resolution)


def translate_either(sketch, upload, model_id: str | None = None, direction: str | None = None,
                     resolution: str = "default"):
    """/translate for API callers: the upload when one is given, else the sketch (the canvas's PNG data URL)
    -> (image, status)."""
    if upload:
        return translate(upload, model_id, direction, resolution, source="upload")
    return translate_canvas(sketch, model_id, direction, resolution)


def translate_live(request) -> dict:
    """The canvas's one request per stroke: {sketch, model, direction, resolution} -> {image: PNG data URL or
    None, status}. What the page sends is checked like any form value; translate() never raises."""
    if not isinstance(request, dict):
        return {"image": None, "status": "⚠️ The canvas sent a request of the wrong shape; reload the page."}
    model_id, direction, resolution = (request.get(k) for k in ("model", "direction", "resolution"))
    if not _LIVE_WAITING.acquire(blocking=False):
        return {"image": None, "status": BUSY}
    try:
        image, status = translate_canvas(request.get("sketch"),
                                         model_id if isinstance(model_id, str) else None,
                                         direction if isinstance(direction, str) else None,
                                         resolution if isinstance(resolution, str) else "default")
    finally:
        _LIVE_WAITING.release()
    return {"image": image_data_url(image), "status": status}


def fetch_operator_model(model: str) -> None:
    """The operator's choice of one of the reference's pretrained models (--model horse2zebra): downloaded and
    converted once, when the app starts, so that visitors' requests find it in the cache."""
    from pix2pix_hub.hub.downloads import is_known
    from pix2pix_hub.loading.resolve import resolve_model_folder

    if gallery.entry(model):  # fetched in the background: the page shows its progress meanwhile
        store().start(model)
        return
    if not (ROOT / model).exists() and not Path(model).exists() and is_known(model, "model"):
        resolve_model_folder(model)


def build_demo(model: str | None = None):
    import gradio as gr

    from pix2pix_hub.app.inputs import EditorFiles, ImageFile

    model = model or default_model()
    fetch_operator_model(model)
    public = server().settings.public
    if public and not server().settings.allows(model):
        raise ConfigError(f"--model {model} is not among the Space's models; add it to PIX2PIX_MODELS")
    choices = model_choices(model)
    try:
        size = int(model_config(model).get("resolution") or CANVAS)
    except Exception:  # noqa: BLE001
        size = CANVAS
    dir_choices, dir_visible, status0 = direction_choices(model)
    # Gradio's cache (uploads, outputs) swept: files older than PIX2PIX_CACHE_SECONDS go.
    with gr.Blocks(title="pix2pix-hub", delete_cache=server().settings.cache_sweep) as demo:
        gr.Markdown("# pix2pix-hub\nPaint a landscape with the colours below (each one names what it paints), "
                    "or upload an image: the translation updates at the end of every stroke. The model list also "
                    "holds the reference's pretrained pix2pix and CycleGAN models (a shoe from a line drawing, a "
                    "building from a label map, zebras from horses...), each with the input tool it needs.")
        with gr.Row():
            model_box = gr.Dropdown(choices, value=model, label="Model" if public else "Model (folder or Hub id)",
                                    allow_custom_value=not public, scale=3)
            direction = gr.Radio(dir_choices, value="AtoB", label="Direction", visible=dir_visible, scale=2)
            resolution = gr.Radio(RESOLUTIONS, value="default", label="Model runs at", scale=2, elem_id="resolution")
        model_status = gr.Markdown(status0, elem_id="model-status")
        with gr.Tabs() as tabs:
            with gr.Tab("Draw", id="draw") as draw_tab:
                canvas = sketch_canvas(size, translate_live, model, elem_id="canvas",
                                       **gallery_app.canvas_props(model))
            with gr.Tab("Upload", id="upload") as upload_tab:
                with gr.Row():
                    upload = ImageFile(type="filepath", label="Upload a photo or sketch", sources=["upload", "clipboard"],
                                      height=CANVAS_HEIGHT, elem_id="upload")
                    with gr.Column():
                        output = gr.Image(type="pil", format="png", label="Translated", interactive=False,
                                          height=CANVAS_HEIGHT, elem_id="output")
                        timing = gr.Markdown("Upload an image…", elem_id="timing")
        run_btn = gr.Button("Translate", variant="primary")
        last = gr.State("sketch")  # which input the Translate button and a model change translate
        # The API's sketch endpoint takes the ImageEditor's {background, layers, composite} value, as before;
        # the page never shows this editor (the canvas above replaced it).
        sketch_api = EditorFiles(type="filepath", image_mode="RGBA", visible=False)
        api_trigger = gr.Button(visible=False)  # /translate for API callers (never clicked on the page)
        if example_files():
            example = ImageFile(type="filepath", visible=False)
            examples = gr.Examples(example_files(), inputs=example,
                                   label="Example paintings: one opens on the canvas, to paint over")
            # Snapped to the palette at the canvas's size; the canvas paints it (undoably) and translates it.
            examples.load_input_event.then(lambda path: (gr.Tabs(selected="draw"), "sketch", encode_sketch(
                                               to_input_image(path, "the example") if path else None, size)),
                                           example, [tabs, last, canvas], show_progress="hidden",
                                           api_visibility="private")

        def run(which, c, u, m, d, r):
            """-> (canvas update, output, status): a drawing's result shows beside it, an upload's below it."""
            if which == "upload":
                return gr.update(model=m, direction=d, resolution=r), *translate(u, m, d, r)
            image, status = translate_canvas(c, m, d, r)
            return (gr.update(model=m, direction=d, resolution=r, result=image_data_url(image), status=status),
                    gr.update(), gr.update())

        entry_examples = gr.Dataset(components=[gr.Image(type="filepath", visible=False)], type="index",
                                    samples=[[p] for p in gallery_app.examples(ROOT, model)], elem_id="entry-examples",
                                    label="This model's examples: a drawing opens on the canvas, a photo as the upload",
                                    visible=bool(gallery_app.examples(ROOT, model)))

        def on_model(m):
            """-> (direction, status, canvas, tabs, last, examples): the entry's tool and examples, and while
            its weights download, the progress (bytes of total) in the status line."""
            props = gallery_app.canvas_props(m if isinstance(m, str) else "")
            photo = props["kind"] == "photo"
            files = gallery_app.examples(ROOT, m) if isinstance(m, str) and server().settings.allows(m) else []
            rest = (gr.update(**props, model=m), gr.Tabs(selected="upload" if photo else "draw"),
                    "upload" if photo else "sketch", gr.Dataset(samples=[[p] for p in files], visible=bool(files)))
            for line in gallery_app.progress_lines(store(), m) if server().settings.allows(m) else ():
                yield gr.update(), line, *rest
            dc, vis, st = direction_choices(m)
            yield gr.update(choices=dc, value="AtoB", visible=vis), st, *rest

        def on_example(index, m):
            """An entry's example: a drawing onto the canvas (snapped to its palette there), a photo as the upload."""
            files = gallery_app.examples(ROOT, m) if isinstance(m, str) and server().settings.allows(m) else []
            if not isinstance(index, int) or not 0 <= index < len(files):
                return gr.update(), gr.update(), gr.update(), gr.update()
            if gallery_app.canvas_props(m)["kind"] == "photo":
                return gr.Tabs(selected="upload"), "upload", gr.update(), files[index]
            with Image.open(files[index]) as image:
                value = image_data_url(image.convert("RGB").resize((size, size), Image.NEAREST))
            return gr.Tabs(selected="draw"), "sketch", gr.update(value=value), gr.update()

        # Live drawing needs no event here: the canvas calls translate_live itself, once per stroke end.
        draw_tab.select(lambda: "sketch", None, last, show_progress="hidden", queue=False, api_visibility="private")
        upload_tab.select(lambda: "upload", None, last, show_progress="hidden", queue=False, api_visibility="private")
        settings = [model_box, direction, resolution]
        sketch_api.input(translate, [sketch_api, *settings], [output, timing], api_name="translate_sketch")
        upload.change(lambda u, m, d, r: ("upload",) + translate(u, m, d, r, source="upload"), [upload, *settings],
                      [last, output, timing], trigger_mode="always_last", show_progress_on=[output],
                      api_name="translate_upload")
        everything, outputs = [last, canvas, upload, *settings], [canvas, output, timing]
        # The button needs the page's "which input" state and updates the canvas: the page's own; API callers get
        # /translate(sketch, upload, model, direction, resolution) -> (image, status).
        run_btn.click(run, everything, outputs, show_progress_on=[output], api_visibility="private")
        api_trigger.click(translate_either, [canvas, upload, *settings], [output, timing], api_name="translate")
        model_box.change(on_model, model_box, [direction, model_status, canvas, tabs, last, entry_examples],
                         show_progress="hidden", api_visibility="private").then(
            run, everything, outputs, show_progress="hidden", api_visibility="private")
        entry_examples.click(on_example, [entry_examples, model_box], [tabs, last, canvas, upload],
                             show_progress="hidden", api_visibility="private")
        direction.change(run, everything, outputs, show_progress="hidden", api_visibility="private")
        resolution.change(run, everything, outputs, show_progress="hidden", api_visibility="private")
    # Room for bursts (50 clients at once are tested) without unbounded memory; 2 at a time on a 2-core Space.
    demo.queue(max_size=128, default_concurrency_limit=2)
    return demo


def warm_up(model: str) -> None:
    """Load the model and compile its fast path for the canvas's size now, so the first stroke is as quick as
    the next (the first translation otherwise pays for loading, ONNX export and compilation)."""
    try:
        size = int(model_config(model).get("resolution") or CANVAS)
    except Exception:  # noqa: BLE001 -- the page says what is wrong with the model; nothing to warm
        return
    image = Image.new("RGB", (size, size), SEGMENT_PALETTE["sky"])
    image.paste(SEGMENT_PALETTE["grass"], (0, size // 2, size, size))
    translate(image, model)



@command
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--share", default="no")
    parser.add_argument("--public", action="store_true",
                        help="Space mode (on by itself when SPACE_ID is set): only the listed models, bounded uploads")
    args = parser.parse_args(argv)
    global _SERVER
    settings = ServeSettings.from_env(args.public, ([args.model] if args.model else []) + listed_models())
    _SERVER = new_server(settings)
    demo = build_demo(args.model)
    threading.Thread(target=warm_up, args=(args.model or default_model(),),
                     daemon=True, name="warm-up").start()
    launch = {}
    if settings.public:
        from starlette.middleware import Middleware

        # A second fence: no visitor's image is decoded by Gradio (pix2pix_hub/app/inputs.py); should one be,
        # PIL refuses it from the header at twice this (decode.py refuses what is over the cap, in one line).
        Image.MAX_IMAGE_PIXELS = settings.max_pixels
        body_limit = settings.upload_bytes + 2**20  # (multipart framing; gradio's own check names the file's limit)
        launch = dict(max_file_size=settings.upload_bytes, app_kwargs={"middleware": [
            Middleware(BodyLimit, max_bytes=body_limit, message=upload_refusal(settings.upload_bytes))]})
    from pix2pix_hub.app.browser_inference import BrowserModels, routes  # the canvas's model in the visitor's browser

    # fp16-stored weights are measured on the entry's own examples, or on the example paintings
    browser_models = BrowserModels(_SERVER, lambda model_id: gallery_app.examples(ROOT, model_id) or example_files())
    launch.setdefault("app_kwargs", {})["routes"] = routes(browser_models)
    from gradio.utils import get_upload_folder

    keep_folder_swept(Path(get_upload_folder()), settings.cache_seconds, settings.cache_bytes, every=2.0)
    demo.launch(server_name="0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1", server_port=args.port,
                share=args.share.lower() in ("yes", "true", "1"), css=CSS, **launch)


if __name__ == "__main__":
    sys.exit(main())
