"""``hinr serve``: upscale in a web page, for people who do not use terminals.

A small HTTP server from Python's standard library (nothing to install beyond hinr; the page is
one static file, ``serve_page.html``) in front of the same code as ``hinr upscale``: uploads go
through the CLI's checks (``hinr.inference.sizes``, the pixel limit, the memory check) and
:class:`hinr.inference.upscaler.Upscaler` (the JPEG routing, ``hinr.upscale_image``, metadata), so the
PNG a user downloads is the one ``hinr upscale`` writes. Each model is loaded once; jobs run one
at a time in a worker thread (a queue) and can be cancelled.

Security: it listens on 127.0.0.1 unless ``--host`` says otherwise. No request names a path on
disk: an upload's name is only used to name its download; uploads are bounded in bytes (checked
on Content-Length before reading) and in pixels (from the header, before decoding), and live in a
private temporary folder removed at exit. Weights are only the shipped names.
"""

from __future__ import annotations

import json
import queue
import re
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

PAGE = Path(__file__).with_name("serve_page.html")
def _weights_choices() -> tuple[str, ...]:
    from ..store.shipped import SHIPPED

    return ("auto", *SHIPPED)  # auto: as hinr upscale picks for the input


WEIGHTS = _weights_choices()
MAX_UPLOAD_BYTES = 64 * 2**20
KEEP_JOBS = 32  # finished jobs kept (and their files); older ones are removed
SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")


class Cancelled(Exception):
    """The user cancelled the job."""


@dataclass
class Job:
    id: str
    name: str  # the upload's file name, for the download's name only
    folder: Path
    source: Path
    size: tuple[int, int]  # output (width, height)
    weights: str
    render: tuple[int, int] | None = None  # fit=cover: rendered at this size, the middle kept
    ensemble: int = 1  # 8: "best quality", the mean of the 8 flipped and turned passes
    state: str = "queued"  # queued | running | done | error | cancelled
    progress: float = 0.0
    message: str = ""
    notes: list[str] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: float = 0.0

    @property
    def download_name(self) -> str:
        from ..inference.sizes import size_tag

        stem = re.sub(r"[^\w.\-]+", "_", Path(self.name).stem)[:80] or "image"
        return f"{stem}_{size_tag(*self.size)}.png"

    def status(self) -> dict:
        return {"id": self.id, "name": self.name, "state": self.state,
                "progress": round(self.progress, 4), "message": self.message, "notes": self.notes,
                "width": self.size[0], "height": self.size[1], "ensemble": self.ensemble,
                "download": self.download_name}


def one_line(err: BaseException) -> str:
    """The CLI's one line for an error (without its 'hinr: error:' prefix)."""
    from ..errors import HinrError

    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text if isinstance(err, HinrError) else f"internal error: {type(err).__name__}: {text}"


class Service:
    """The job queue and its one worker thread, around one Upscaler (models loaded once)."""

    def __init__(self, *, device: str = "auto", precision: str = "auto",
                 max_upload_bytes: int = MAX_UPLOAD_BYTES, host: str = "127.0.0.1") -> None:
        from .inference_runner import check_precision, pick_device
        from ..inference.upscaler import Upscaler

        torch_device = pick_device(device)
        from ..inference.options import RenderOptions

        self.upscaler = Upscaler(device=torch_device, options=RenderOptions(
            precision=check_precision(precision, torch_device)))
        self.max_upload_bytes = max_upload_bytes
        # what a request must name as its Host (DNS rebinding) and send back as X-Hinr-Token on
        # every change (cross-site requests): the page reads the token from /api/config, which a
        # page of another origin cannot read
        self.hosts = {"127.0.0.1", "localhost", "::1", host.strip("[]").lower()}
        self.token = secrets.token_urlsafe(24)
        self.folder = Path(tempfile.mkdtemp(prefix="hinr-serve-"))  # private: mode 0700
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.worker = threading.Thread(target=self._work, name="hinr-serve-worker", daemon=True)
        self.worker.start()

    # --- requests ---------------------------------------------------------------------------
    def submit(self, name: str, data: bytes, *, size: str | None, scale: str | None,
               weights: str, ensemble: str | None = None, fit: str | None = None) -> Job:
        """Check an upload as ``hinr upscale`` checks its input, then queue it (HinrError: refused)."""
        from ..errors import HinrUsageError
        from ..io.images import check_image_file, check_pixel_limit
        from ..inference.sizes import aspect_warning, check_fit, check_size_options, render_size, target_size
        from .inference_runner import image_size

        if weights not in WEIGHTS:
            raise HinrUsageError(f"weights must be one of {', '.join(WEIGHTS)}, not {weights!r}")
        try:
            scale_value = float(scale) if scale not in (None, "") else None
        except ValueError:
            raise HinrUsageError(f"scale must be a number, got {scale!r}") from None
        from .inference_runner import check_ensemble

        try:
            passes = int(ensemble or 1)
        except ValueError:
            raise HinrUsageError(f"ensemble must be a number, got {ensemble!r}") from None
        check_ensemble(passes)  # the CLI's check: one of 1, 2, 4, 8
        size = size or None
        check_size_options(size, scale_value)
        fit = check_fit(fit or None, size)
        job_id = uuid.uuid4().hex[:12]
        folder = self.folder / job_id
        folder.mkdir()
        suffix = Path(name).suffix.lower()
        source = folder / f"input{suffix if suffix in SUFFIXES else '.img'}"
        source.write_bytes(data)
        try:
            check_image_file(source)
            width, height = image_size(source)
            check_pixel_limit(source, width, height)
            target = target_size(width, height, size=size, scale=scale_value, fit=fit)
            render = render_size(width, height, *target, fit)
        except BaseException as err:
            shutil.rmtree(folder, ignore_errors=True)
            from ..io.images import ImageReadError

            if isinstance(err, ImageReadError):  # name the upload, not the private temp path
                raise ImageReadError(str(err).replace(str(source), name)) from err
            raise
        job = Job(id=job_id, name=name, folder=folder, source=source, size=target, weights=weights,
                  ensemble=passes, render=render)
        warning = aspect_warning(name, width, height, size, target, fit)
        if warning is not None:
            job.notes.append(f"warning: {warning}")
        with self.lock:
            self.jobs[job_id] = job
            self._forget_old()
        self.queue.put(job)
        return job

    def cancel(self, job_id: str) -> Job | None:
        job = self.jobs.get(job_id)
        if job is not None and job.state in ("queued", "running"):
            job.cancel.set()
            if job.state == "queued":
                job.state, job.message = "cancelled", "cancelled"
        return job

    def close(self, *, wait: float = 60.0) -> None:
        """Cancel every job, let the worker finish the chunk it is on (a thread killed inside
        torch at exit aborts the process: exit 134), then remove the uploads and results."""
        for job in list(self.jobs.values()):
            job.cancel.set()
        self.queue.put(None)
        if self.worker.is_alive() and threading.current_thread() is not self.worker:
            self.worker.join(timeout=wait)
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- the worker ---------------------------------------------------------------------------
    def _work(self) -> None:
        while (job := self.queue.get()) is not None:
            if job.cancel.is_set():
                continue
            job.state = "running"
            try:
                self._run(job)
                job.state, job.progress = "done", 1.0
            except Cancelled:
                job.state, job.message = "cancelled", "cancelled"
            except BaseException as err:  # noqa: BLE001 - shown in the page, the server goes on
                job.state, job.message = "error", one_line(err)
            job.finished = time.monotonic()

    def _run(self, job: Job) -> None:
        from PIL import Image, ImageOps

        from ..io.orientation import exif_of

        def progress(done: int, total: int) -> None:
            if job.cancel.is_set():
                raise Cancelled()
            job.progress = done / max(1, total)

        def say(text: str) -> None:
            job.notes.append(text.replace(str(job.source), job.name).replace(job.source.name, job.name))

        weights = None if job.weights == "auto" else job.weights
        self.upscaler.upscale(job.source, job.folder / "result.png", job.size, weights=weights,
                              overwrite=True, say=say, progress=progress, ensemble=job.ensemble,
                              render=job.render)
        with Image.open(job.source) as opened:  # the bicubic enlargement the page compares with
            exif_of(opened)  # the orientation from EXIF only, as the upscale reads it
            upright = ImageOps.exif_transpose(opened).convert("RGBA")
            width, height = job.render or job.size
            left, top = (width - job.size[0]) // 2, (height - job.size[1]) // 2
            upright.resize((width, height), Image.BICUBIC).crop(
                (left, top, left + job.size[0], top + job.size[1])).save(job.folder / "bicubic.png")

    def _forget_old(self) -> None:
        done = sorted((j for j in self.jobs.values() if j.finished), key=lambda j: j.finished)
        for job in done[:max(0, len(done) - KEEP_JOBS)]:
            shutil.rmtree(job.folder, ignore_errors=True)
            del self.jobs[job.id]


class Handler(BaseHTTPRequestHandler):
    service: Service  # set on the subclass made by make_server
    server_version = "hinr-serve"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet: no access log
        pass

    def _send(self, status: int, body: bytes, kind: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: dict) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _job(self, parts: list[str]) -> Job | None:
        job = self.service.jobs.get(parts[2]) if len(parts) >= 3 else None
        if job is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": "no such job (finished jobs are kept for a while)"})
        return job

    def _host_ok(self) -> bool:
        """The Host header names the address served (a DNS-rebinding page names its own)."""
        host = (self.headers.get("Host") or "").strip().lower()
        name = host[1:host.index("]")] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
        if name in self.service.hosts:
            return True
        self.close_connection = True
        self._json(HTTPStatus.MISDIRECTED_REQUEST, {"error": f"this server answers to {', '.join(sorted(self.service.hosts))} only"})
        return False

    def _same_origin(self) -> bool:
        """A change comes from the page itself: its Origin (when sent) is this server, its
        Sec-Fetch-Site (when sent) same-origin, and it carries the token of /api/config."""
        origin = self.headers.get("Origin")
        site = self.headers.get("Sec-Fetch-Site")
        host = self.headers.get("Host", "")
        ok = (origin is None or origin in (f"http://{host}", f"https://{host}")) and \
            site in (None, "same-origin", "none") and \
            secrets.compare_digest(self.headers.get("X-Hinr-Token", ""), self.service.token)
        if not ok:
            self.close_connection = True  # the body is not read
            self._json(HTTPStatus.FORBIDDEN, {"error": "refused: requests that change anything must "
                                                       "come from hinr serve's own page"})
        return ok

    def do_GET(self) -> None:  # noqa: N802 - the http.server convention
        if not self._host_ok():
            return None
        parts = urlparse(self.path).path.strip("/").split("/")
        if parts == [""]:
            return self._send(HTTPStatus.OK, PAGE.read_bytes(), "text/html; charset=utf-8")
        if parts == ["api", "config"]:
            from ..store.shipped import SHIPPED

            models = [{"name": name, "use": row.use} for name, row in SHIPPED.items()]
            return self._json(HTTPStatus.OK, {"weights": list(WEIGHTS), "models": models,
                                              "token": self.service.token,
                                              "max_upload_bytes": self.service.max_upload_bytes})
        if len(parts) >= 3 and parts[:2] == ["api", "jobs"]:
            job = self._job(parts)
            if job is None:
                return None
            if len(parts) == 3:
                return self._json(HTTPStatus.OK, job.status())
            if len(parts) == 4 and parts[3] in ("result", "bicubic") and job.state == "done":
                body = (job.folder / f"{parts[3]}.png").read_bytes()
                extra = {"Content-Disposition": content_disposition(job.download_name)} \
                    if parts[3] == "result" else {}
                return self._send(HTTPStatus.OK, body, "image/png", extra)
        return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok() or not self._same_origin():
            return None
        url = urlparse(self.path)
        parts = url.path.strip("/").split("/")
        if parts == ["api", "jobs"]:
            return self._upload(parse_qs(url.query))
        if len(parts) == 4 and parts[:2] == ["api", "jobs"] and parts[3] == "cancel":
            job = self._job(parts)
            if job is not None:
                self.service.cancel(job.id)
                self._json(HTTPStatus.OK, job.status())
            return None
        return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def _discard(self, length: int) -> None:
        """Read an over-large body away in small pieces, keeping none of it (so the client can
        read the refusal instead of a broken connection), then close the connection; a body past
        four times the limit is not read to its end."""
        self.close_connection = True
        left = min(length, 4 * self.service.max_upload_bytes)
        while left > 0:
            piece = self.rfile.read(min(left, 1 << 16))
            if not piece:
                break
            left -= len(piece)

    def _upload(self, query: dict[str, list[str]]) -> None:
        from ..errors import HinrError

        def arg(key: str, default: str | None = None) -> str | None:
            return query.get(key, [default])[0]

        try:
            length = int(self.headers.get("Content-Length", "-1"))
        except ValueError:
            length = -1
        limit = self.service.max_upload_bytes
        if length < 0:
            return self._json(HTTPStatus.LENGTH_REQUIRED, {"error": "send the file with a Content-Length"})
        if length > limit:
            self._discard(length)
            return self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {
                "error": f"{arg('name', 'the file')} is {length / 2**20:.1f} MiB, over the "
                         f"{limit / 2**20:.0f} MiB upload limit: reduce it first"})
        data = self.rfile.read(length)
        name = Path(arg("name") or "image.png").name or "image.png"
        try:
            job = self.service.submit(name, data, size=arg("size"), scale=arg("scale"), fit=arg("fit"),
                                      weights=arg("weights", "auto") or "auto",
                                      ensemble=arg("ensemble"))
        except HinrError as err:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": one_line(err)})
        self._json(HTTPStatus.ACCEPTED, job.status())


def content_disposition(name: str) -> str:
    """An attachment header for any file name (RFC 6266): an ASCII fallback, and the name itself
    UTF-8 and percent-encoded for every browser of the last decade."""
    fallback = name.encode("ascii", "replace").decode("ascii").replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def make_server(host: str, port: int, service: Service) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"service": service})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
