"""A real HTTP file server on loopback for the download tests (the standard library's, threaded).

It serves `files` ({"/pix2pix/datasets/facades.tar.gz": bytes, ...}) with Content-Length, ETag and Range
support (206 + Content-Range, If-Range), 404 for anything else, and can misbehave the way real servers do:

* ``drop_after[path] = n``: send the headers and the first n bytes of the body, then cut the connection
  (``drops_left`` times; each following request is served whole);
* ``ignore_range = True``: answer every request with 200 and the whole file, as servers without Range do;
* ``bytes_per_second = n``: send bodies at about that rate (a slow server, for progress shown while it runs).

Every request's path and Range header are recorded in ``requests``.

    with FileServer({"/a.zip": data}) as server:
        urllib.request.urlopen(server.url + "/a.zip")
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    def __init__(self, files: dict[str, bytes] | None = None):
        self.files = dict(files or {})
        self.drop_after: dict[str, int] = {}
        self.drops_left = 0
        self.ignore_range = False
        self.bytes_per_second: int | None = None
        self.requests: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self.handler_class())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "FileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def paths_requested(self, path: str) -> list[str | None]:
        """The Range header of each request for `path` (None: the whole file was asked for)."""
        return [range_ for p, range_ in self.requests if p == path]

    def handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                with server.lock:
                    server.requests.append((path, self.headers.get("Range")))
                    data = server.files.get(path)
                    drop = server.drop_after.get(path) if server.drops_left > 0 else None
                    if drop is not None:
                        server.drops_left -= 1
                if data is None:
                    body = b"not found"
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
                start = self.range_start(len(data), etag)
                if start is not None and start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = data[start or 0:]
                self.send_response(206 if start is not None else 200)
                if start is not None:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.send_header("Accept-Ranges", "none" if server.ignore_range else "bytes")
                self.end_headers()
                if drop is not None:  # part of the body, then the connection dies
                    self.wfile.write(body[:drop])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                step = max(1, (server.bytes_per_second or len(body) or 1) // 10)
                for start in range(0, len(body), step):
                    self.wfile.write(body[start:start + step])
                    if server.bytes_per_second:
                        self.wfile.flush()
                        time.sleep(0.1)

            def range_start(self, size: int, etag: str) -> int | None:
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if server.ignore_range or not match:
                    return None
                if_range = self.headers.get("If-Range")
                if if_range and if_range != etag:  # the file changed: the whole new one
                    return None
                return int(match.group(1))

        return Handler


def refused_url() -> str:
    """A loopback address where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class SilentServer:
    """Accepts connections (the kernel's backlog) and never answers: a server that hangs."""

    def __enter__(self) -> str:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def __exit__(self, *exc) -> None:
        self.sock.close()


# -- the reference's server layout, with files the tests make ---------------------------------------
MIRROR_PATHS = {  # environment variable -> path on the test server (the real server's layout)
    "PIX2PIX_HUB_PIX2PIX_DATASETS_URL": "/pix2pix/datasets",
    "PIX2PIX_HUB_CYCLEGAN_DATASETS_URL": "/cyclegan/datasets",
    "PIX2PIX_HUB_PIX2PIX_MODELS_URL": "/pix2pix/models-pytorch",
    "PIX2PIX_HUB_CYCLEGAN_MODELS_URL": "/cyclegan/pretrained_models",
}


def mirror_env(base_url: str) -> dict[str, str]:
    """The four mirror variables pointed at a test server."""
    return {var: base_url + path for var, path in MIRROR_PATHS.items()}


def tar_gz(folder, arcname: str) -> bytes:
    """`folder` as the reference's NAME.tar.gz: one top-level folder `arcname`/."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return buffer.getvalue()


def zip_bytes(folder, arcname: str) -> bytes:
    """`folder` as the reference's NAME.zip: one top-level folder `arcname`/."""
    import io
    import zipfile
    from pathlib import Path

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(Path(folder).rglob("*")):
            archive.write(path, f"{arcname}/{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()


# -- a stand-in of the reference's model servers for the app's gallery ---------------------------------
def reference_pth(netG: str, norm: str, ngf: int = 4, seed: int = 0) -> bytes:
    """A generator's .pth as the reference saves it (a plain state_dict, its key names), small (ngf 4)."""
    import io

    import torch

    from pix2pix_hub.models import build_generator

    torch.manual_seed(seed)
    state = build_generator(netG, 3, 3, ngf=ngf, norm=norm, use_dropout=netG.startswith("unet")).state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def gallery_files(names) -> dict[str, bytes]:
    """{server path: .pth} for the gallery entries `names`, where the reference's servers keep them."""
    from pix2pix_hub.app.gallery import entry

    files = {}
    for seed, name in enumerate(names):
        item = entry(name)
        path = MIRROR_PATHS[f"PIX2PIX_HUB_{item.family.upper()}_MODELS_URL"]
        norm = "batch" if item.netG.startswith("unet") else "instance"
        files[f"{path}/{name}.pth"] = reference_pth(item.netG, norm, seed=seed)
    return files
