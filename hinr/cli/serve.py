"""``hinr serve``'s jobs: the queue of uploads and its one worker, in front of the same code as
``hinr upscale`` (the HTTP side is ``serve_app``). Uploads go through the CLI's checks
(``hinr.inference.sizes``, the pixel limit, the memory check) and
:class:`hinr.inference.upscaler.Upscaler` (the JPEG routing, ``hinr.upscale_image``, metadata), so
the PNG a user downloads is the one ``hinr upscale`` writes. Each model is loaded once; jobs run
one at a time in a worker thread and can be cancelled.

Nothing is held: each job's files live in its own folder of a private temporary folder
(``hinr-serve-<pid>-…``, mode 0700) removed at exit; a cancelled job's upload goes at once; a
finished job is forgotten with its files after ``job_ttl`` seconds or when more than
``KEEP_JOBS`` are kept; at most ``MAX_QUEUED`` wait; a new server sweeps the folders of servers
that were killed. No request names a path on disk: an upload's name only names its download.
"""

from __future__ import annotations

import errno
import os
import queue
import re
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path


def _weights_choices() -> tuple[str, ...]:
    from ..store.shipped import SHIPPED

    return ("auto", *SHIPPED)  # auto: as hinr upscale picks for the input


WEIGHTS = _weights_choices()
MAX_UPLOAD_BYTES = 64 * 2**20
KEEP_JOBS = 32  # finished or cancelled jobs kept (and their files); older ones are removed
JOB_TTL_S = 3600.0  # a finished job is forgotten, its files removed, after this long
MAX_QUEUED = 64  # jobs waiting at once; more are refused ("busy") until some are done
FOLDER_PREFIX = "hinr-serve-"
SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")
# what the page can save: formats a browser shows ("keep": the upload's own where it is one of
# these, else PNG; the CLI's --format also writes TIFF)
PAGE_FORMATS = {"keep": None, "png": ".png", "jpeg": ".jpg", "webp": ".webp"}
SHOWN_SUFFIXES = {".png": ".png", ".jpg": ".jpg", ".jpeg": ".jpg", ".webp": ".webp"}


class Cancelled(Exception):
    """The user cancelled the job."""


class Busy(Exception):
    """Too many jobs wait already (``MAX_QUEUED``): the upload is refused, nothing is kept."""


def _parsed(text: str | None, kind: type, name: str, what: str):
    """A query value as ``kind`` (None when absent or empty); HinrUsageError naming it otherwise."""
    from ..errors import HinrUsageError

    if text in (None, ""):
        return None
    try:
        return kind(text)
    except ValueError:
        raise HinrUsageError(f"{name} must be {what}, got {text!r}") from None


def sweep_stale_folders(root: Path) -> list[Path]:
    """Remove the temporary folders of hinr servers that are no longer running (killed before
    they could clean up: their pid, in the folder's name, is gone); returns what was removed."""
    removed = []
    for folder in root.glob(f"{FOLDER_PREFIX}*"):
        pid = folder.name[len(FOLDER_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            if folder.stat().st_uid != os.getuid():  # only our own
                continue
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


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
    suffix: str = ".png"  # the result's format
    quality: int | None = None  # JPEG / WebP quality (None: hinr's)
    used: str = ""  # the weights that made it (for "auto": the ones picked for the input)
    state: str = "queued"  # queued | running | done | error | cancelled
    progress: float = 0.0
    message: str = ""
    notes: list[str] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: float = 0.0  # time.monotonic() when it ended (done, error or cancelled); 0: not yet

    @property
    def download_name(self) -> str:
        from ..inference.sizes import size_tag

        stem = re.sub(r"[^\w.\-]+", "_", Path(self.name).stem)[:80] or "image"
        return f"{stem}_{size_tag(*self.size)}{self.suffix}"

    @property
    def result(self) -> Path:
        return self.folder / f"result{self.suffix}"

    def status(self) -> dict:
        return {"id": self.id, "name": self.name, "state": self.state,
                "progress": round(self.progress, 4), "message": self.message, "notes": self.notes,
                "width": self.size[0], "height": self.size[1], "ensemble": self.ensemble,
                "weights": self.weights, "used": self.used, "download": self.download_name}


def one_line(err: BaseException) -> str:
    """The CLI's one line for an error (without its 'hinr: error:' prefix)."""
    from ..errors import HinrError

    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text if isinstance(err, HinrError) else f"internal error: {type(err).__name__}: {text}"


class Service:
    """The job queue and its one worker thread, around one Upscaler (models loaded once)."""

    def __init__(self, *, device: str = "auto", precision: str = "auto",
                 max_upload_bytes: int = MAX_UPLOAD_BYTES, host: str = "127.0.0.1",
                 root: Path | None = None, job_ttl: float = JOB_TTL_S) -> None:
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
        root = Path(tempfile.gettempdir() if root is None else root)
        self.swept = sweep_stale_folders(root)
        self.folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-", dir=root))  # 0700
        self.job_ttl = job_ttl
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.worker = threading.Thread(target=self._work, name="hinr-serve-worker", daemon=True)
        self.worker.start()

    # --- requests ---------------------------------------------------------------------------
    def check_request(self, *, size: str | None, scale: str | None, weights: str,
                      ensemble: str | None = None, fit: str | None = None,
                      format: str | None = None, quality: str | None = None) -> dict:  # noqa: A002
        """An upload's options checked as ``hinr upscale`` checks its own, before its body is
        read (HinrUsageError: refused); the checked values, for ``submit``."""
        from ..errors import HinrUsageError
        from ..inference.sizes import check_fit, check_size_options
        from ..io.coding import check_quality
        from .inference_runner import check_ensemble

        if weights not in WEIGHTS:
            raise HinrUsageError(f"weights must be one of {', '.join(WEIGHTS)}, not {weights!r}")
        scale_value = _parsed(scale, float, "scale", "a number")
        passes = _parsed(ensemble, int, "ensemble", "a number")
        passes = 1 if passes is None else passes
        check_ensemble(passes)  # the CLI's check: one of 1, 2, 4, 8
        size = size or None
        check_size_options(size, scale_value)
        format = format or "keep"  # noqa: A001
        if format not in PAGE_FORMATS:
            raise HinrUsageError(f"format must be one of {', '.join(PAGE_FORMATS)}, not {format!r}")
        level = _parsed(quality, int, "quality", "a whole number")
        check_quality(level, option="quality")
        return dict(size=size, scale=scale_value, weights=weights, ensemble=passes,
                    fit=check_fit(fit or None, size), format=format, quality=level)

    def new_upload(self, name: str) -> Path:
        """Where an upload named ``name`` is written: a new job folder's input file (Busy when
        ``MAX_QUEUED`` jobs wait already)."""
        with self.lock:
            self._forget_old()
            if sum(job.state == "queued" for job in self.jobs.values()) >= MAX_QUEUED:
                raise Busy(f"{MAX_QUEUED} images are waiting already: send this one when some are done")
        folder = self.folder / uuid.uuid4().hex[:12]
        folder.mkdir()
        suffix = Path(name).suffix.lower()
        return folder / f"input{suffix if suffix in SUFFIXES else '.img'}"

    def submit(self, name: str, source: Path, options: dict) -> Job:
        """Check a stored upload (``new_upload``'s path) as ``hinr upscale`` checks its input, then
        queue it; refused (HinrError), its folder is removed."""
        from ..io.images import ImageReadError, check_image_file, check_pixel_limit
        from ..inference.sizes import aspect_warning, render_size, target_size
        from .inference_runner import image_size

        folder = source.parent
        size, fit = options["size"], options["fit"]
        try:
            check_image_file(source)
            width, height = image_size(source)
            check_pixel_limit(source, width, height)
            target = target_size(width, height, size=size, scale=options["scale"], fit=fit)
            render = render_size(width, height, *target, fit)
            self._check_memory(options["weights"], render or target, options["ensemble"])
        except BaseException as err:
            shutil.rmtree(folder, ignore_errors=True)
            if isinstance(err, ImageReadError):  # name the upload, not the private temp path
                raise ImageReadError(str(err).replace(str(source), name)) from err
            raise
        suffix = PAGE_FORMATS[options["format"]] or SHOWN_SUFFIXES.get(Path(name).suffix.lower(), ".png")
        job = Job(id=folder.name, name=name, folder=folder, source=source, size=target,
                  weights=options["weights"], ensemble=options["ensemble"], render=render,
                  suffix=suffix, quality=options["quality"] if suffix in (".jpg", ".webp") else None)
        warning = aspect_warning(name, width, height, size, target, fit)
        if warning is not None:
            job.notes.append(f"warning: {warning}")
        with self.lock:
            self.jobs[job.id] = job
        self.queue.put(job)
        return job

    def _check_memory(self, weights: str, size: tuple[int, int], ensemble: int) -> None:
        """Refuse (NotEnoughMemoryError) a job whose output cannot fit, from the weights' config
        alone, so that it never holds the worker ('auto': the default's, the larger decoder)."""
        from ..inference.memory import available_bytes, gib, render_bytes
        from ..errors import NotEnoughMemoryError
        from ..store.checkpoint import read_config

        available = available_bytes()
        if available is None:
            return
        config = read_config("default" if weights == "auto" else weights)
        width, height = size
        need = render_bytes(config, height, width, chunk=self.upscaler.options.chunk, ensemble=ensemble)
        if need > available:
            raise NotEnoughMemoryError(f"{width}x{height} needs about {gib(need)} of memory and "
                                       f"{gib(available)} is available: choose a smaller size")

    def job(self, job_id: str) -> Job | None:
        """The job of that id, if it is still kept (finished ones are forgotten in time)."""
        with self.lock:
            self._forget_old()
            return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        job = self.job(job_id)
        if job is not None and job.state in ("queued", "running"):
            job.cancel.set()
            if job.state == "queued":  # its upload goes now; the worker will pass it over
                job.state, job.message, job.finished = "cancelled", "cancelled", time.monotonic()
                job.source.unlink(missing_ok=True)
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
                if isinstance(err, OSError) and err.errno == errno.ENOSPC:
                    job.message = ("the server's disk is full (its temporary folder): free some "
                                   "space, or choose a smaller size")
            if job.state != "done":  # a cancelled or failed job keeps no partial file
                for path in (job.result, job.folder / "bicubic.png", job.source):
                    path.unlink(missing_ok=True)
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
        job.used = self.upscaler.upscale(job.source, job.result, job.size, weights=weights,
                                         overwrite=True, say=say, progress=progress,
                                         ensemble=job.ensemble, render=job.render, quality=job.quality)
        with Image.open(job.source) as opened:  # the bicubic enlargement the page compares with
            exif_of(opened)  # the orientation from EXIF only, as the upscale reads it
            upright = ImageOps.exif_transpose(opened).convert("RGBA")
            width, height = job.render or job.size
            left, top = (width - job.size[0]) // 2, (height - job.size[1]) // 2
            upright.resize((width, height), Image.BICUBIC).crop(
                (left, top, left + job.size[0], top + job.size[1])).save(job.folder / "bicubic.png")

    def _forget_old(self) -> None:
        """Forget (and remove the files of) the finished jobs past their time or past the newest
        ``KEEP_JOBS``. Called with the lock held."""
        done = sorted((j for j in self.jobs.values() if j.finished), key=lambda j: j.finished)
        oldest = {j.id for j in done[:max(0, len(done) - KEEP_JOBS)]}
        for job in done:
            if job.id in oldest or time.monotonic() - job.finished > self.job_ttl:
                shutil.rmtree(job.folder, ignore_errors=True)
                del self.jobs[job.id]

    def zip_results(self, ids: list[str]) -> Path:
        """One zip of the finished results of ``ids`` (in that order, under their download
        names, a repeated name numbered), in the service's folder; the caller removes it."""
        import zipfile

        jobs = [job for job in map(self.job, ids) if job is not None and job.state == "done"]
        if not jobs:
            from ..errors import HinrUsageError

            raise HinrUsageError("none of these pictures is done yet")
        path = self.folder / f"results-{uuid.uuid4().hex[:8]}.zip"
        names: set[str] = set()
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:  # PNG / JPEG: compressed already
            for job in jobs:
                name, stem, n = job.download_name, Path(job.download_name).stem, 1
                while name in names:
                    n += 1
                    name = f"{stem} ({n}){job.suffix}"
                names.add(name)
                archive.write(job.result, name)
        return path
