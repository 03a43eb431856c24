"""Visitors at once against the Space: `python -m benchmarks.space_load [--clients 8] [--seconds 60]`.

`python app.py --public` on loopback with the bundled model; half the clients draw (the canvas's per-stroke
request, POST /gradio_api/component_server, one at a time per client as the page sends them), half upload a
512-px photo through the queue (/gradio_api/upload, then /gradio_api/call/translate_upload and its event
stream). Every second the server's RSS and the size of Gradio's cache folder are read. Reported: requests,
median / p90 / max time per kind, refusals ("busy", "queue full") and errors, the peak RSS, and the cache's
peak during the run, at its end, and after 1.5 x PIX2PIX_CACHE_SECONDS with no visitor (the sweep keeps at most
the files of the last 1.2 x PIX2PIX_CACHE_SECONDS).

Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.browser_latency import serve


def sketch_url(rng: np.random.Generator) -> str:
    """A 256² painting of a few flat bands, as the canvas sends it (a PNG data URL)."""
    image = Image.new("RGB", (256, 256), (90, 160, 230))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        y = int(rng.integers(60, 240))
        draw.rectangle([0, y, 256, y + int(rng.integers(10, 60))], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def photo_bytes(rng: np.random.Generator) -> bytes:
    """A 512×384 JPEG with some texture (what a visitor uploads, small)."""
    base = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    image = Image.fromarray(base).resize((512, 384), Image.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def post_json(url: str, body: dict, timeout: float = 120) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())


def stroke(url: str, canvas_id: int, session: str, rng) -> str:
    """One live request; -> its status line."""
    answer = post_json(url + "gradio_api/component_server", {
        "session_hash": session, "component_id": canvas_id, "fn_name": "translate_live",
        "data": {"sketch": sketch_url(rng), "model": "models/default", "direction": "AtoB", "resolution": "default"}})
    return str(answer.get("status") or "")


def upload(url: str, rng) -> str:
    """One upload through the queue; -> its status line (or the stream's error)."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"photo.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + photo_bytes(rng) + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "gradio_api/upload", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    (path,) = json.loads(urllib.request.urlopen(request, timeout=60).read())
    data = [{"path": path, "meta": {"_type": "gradio.FileData"}}, "models/default", "AtoB", "default"]
    event = post_json(url + "gradio_api/call/translate_upload", {"data": data})["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/translate_upload/{event}", timeout=300) as stream:
        lines = stream.read().decode().splitlines()
    if "event: complete" not in lines:
        return "error: " + " ".join(lines)[-200:]
    return str(json.loads(lines[lines.index("event: complete") + 1].removeprefix("data: "))[-1])  # (image, status)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS"))


def summary(times: list[float]) -> dict:
    if not times:
        return {"n": 0}
    ordered = sorted(times)
    return {"n": len(times), "median_s": round(statistics.median(times), 3),
            "p90_s": round(ordered[int(0.9 * (len(ordered) - 1))], 3), "max_s": round(ordered[-1], 3)}


def run(clients: int, seconds: float, cache_seconds: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="space-load-"))
    cache = work / "gradio"
    os.environ.update(GRADIO_TEMP_DIR=str(cache), PIX2PIX_CACHE_SECONDS=str(cache_seconds))
    url, process = serve(["--public"], work / "server.log")
    try:
        config = json.loads(urllib.request.urlopen(url + "config", timeout=30).read())
        (canvas,) = [c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "canvas"]
        stroke(url, canvas, "warm", np.random.default_rng(0))  # the first translation pays for the compile
        idle_rss, start_cache = rss_bytes(process.pid), folder_bytes(cache)
        results = {"stroke": [], "upload": []}
        outcomes = {"stroke": {}, "upload": {}}
        samples, lock, stop = [], threading.Lock(), time.monotonic() + seconds

        def client(index: int) -> None:
            kind, rng = ("stroke" if index % 2 == 0 else "upload"), np.random.default_rng(index + 1)
            while time.monotonic() < stop:
                began = time.monotonic()
                try:
                    status = stroke(url, canvas, f"c{index}", rng) if kind == "stroke" else upload(url, rng)
                except Exception as error:  # noqa: BLE001 -- counted, as a visitor would see it fail
                    status = f"error: {type(error).__name__}"
                took = time.monotonic() - began
                outcome = ("ok" if status.startswith("✅") else "busy" if "busy" in status
                           else "queue full" if "queue" in status.lower() else "error")
                with lock:
                    outcomes[kind][outcome] = outcomes[kind].get(outcome, 0) + 1
                    if outcome == "ok":
                        results[kind].append(took)

        def sampler() -> None:
            while time.monotonic() < stop + cache_seconds * 1.5:
                samples.append((time.monotonic(), rss_bytes(process.pid), folder_bytes(cache)))
                time.sleep(1.0)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        watcher = threading.Thread(target=sampler)
        began = time.monotonic()
        for thread in [watcher, *threads]:
            thread.start()
        for thread in threads:
            thread.join()
        written = folder_bytes(cache)  # (what the sweep has not removed yet)
        watcher.join()  # the cache after the sweep's age has passed with no visitor
        during = [s for s in samples if s[0] <= began + seconds]
        grown = max(s[2] for s in during) - start_cache
        return {
            "clients": clients, "seconds": seconds, "cache_seconds": cache_seconds,
            "stroke": {**summary(results["stroke"]), "outcomes": outcomes["stroke"]},
            "upload": {**summary(results["upload"]), "outcomes": outcomes["upload"]},
            "idle_rss_mb": round(idle_rss / 2**20), "peak_rss_mb": round(max(s[1] for s in samples) / 2**20),
            "cache_peak_mb": round(grown / 2**20, 1), "cache_at_end_mb": round((written - start_cache) / 2**20, 1),
            "cache_after_quiet_mb": round((samples[-1][2] - start_cache) / 2**20, 1),
            "load_average": os.getloadavg(),
        }
    finally:
        process.terminate()
        process.wait(20)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--cache_seconds", type=int, default=20, help="PIX2PIX_CACHE_SECONDS for the run")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    from benchmarks.bench import machine

    result = {"machine": machine(), **run(args.clients, args.seconds, args.cache_seconds)}
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
