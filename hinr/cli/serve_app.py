"""``hinr serve``'s HTTP side: a Starlette app on uvicorn in front of the job queue (``serve.Service``).

The API (the page's, and the tests'): ``GET /`` the page; ``GET /api/config`` the weights, the
shipped models, the upload limit and the token; ``POST /api/jobs?name=…&scale=…|size=…[&fit=…]
[&weights=…][&ensemble=…]`` with the file as the body (202 and the job); ``GET /api/jobs/ID``,
``/api/jobs/ID/result`` (the result in the format asked, named for download),
``/api/jobs/ID/bicubic``; ``POST /api/jobs/ID/cancel``; ``GET /api/zip?ids=A,B,…`` the finished
results in one zip. An upload may ask ``format=keep|png|jpeg|webp`` and ``quality=1..100``.

No way in: every request must name a Host the server answers to (a DNS-rebinding page names its
own: 421), and every request that changes anything must come from the page itself — a same-origin
``Origin`` and ``Sec-Fetch-Site`` when the browser sends them, and the per-server token of
``/api/config`` (which a page of another origin cannot read) in ``X-Hinr-Token`` (else 403).

Nothing held: an upload is streamed to its job's folder and refused (413) the moment it passes the
limit, a body that stalls for ``read_timeout`` seconds is dropped (408), a full disk is answered
507 with the partial file removed, a client that goes away leaves nothing; connections that send
no request within ``idle_timeout`` are closed (``GuardedH11Protocol``); uvicorn bounds the
connections served at once (``LIMIT_CONCURRENCY``) and keeps a listen backlog far above the page's
parallel uploads.
"""

from __future__ import annotations

import asyncio
import errno
import os
import secrets
import shutil
import socket
import threading
from pathlib import Path
from urllib.parse import quote

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from .serve import KEEP_JOBS, WEIGHTS, Busy, Service, one_line

PAGE = Path(__file__).with_name("serve_page.html")
IDLE_TIMEOUT_S = 15.0  # a connection that sends no whole request in this long is closed
READ_TIMEOUT_S = 30.0  # an upload whose body stalls this long is dropped
LIMIT_CONCURRENCY = 128  # connections and requests served at once (more get 503)
BACKLOG = 2048  # connections the kernel queues before the server accepts them
SAFE_METHODS = ("GET", "HEAD")
MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}


class TooLarge(Exception):
    """An upload passed the limit while it was streamed."""


def content_disposition(name: str) -> str:
    """An attachment header for any file name (RFC 6266): an ASCII fallback, and the name itself
    UTF-8 and percent-encoded for every browser of the last decade."""
    fallback = name.encode("ascii", "replace").decode("ascii").replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def error(status: int, text: str, *, close: bool = False) -> JSONResponse:
    """A refusal: ``{"error": one line}``; ``close`` when the request's body was not read."""
    return JSONResponse({"error": text}, status_code=status, headers=_headers(close))


def _headers(close: bool = False) -> dict[str, str]:
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return {**headers, "Connection": "close"} if close else headers


def write_piece(file, piece: bytes) -> None:
    """One piece of an upload to disk (a seam for the full-disk test)."""
    file.write(piece)


class Guard:
    """ASGI middleware: the Host check on every request, the same-origin check on every change."""

    def __init__(self, app, service: Service) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        host = (request.headers.get("host") or "").strip().lower()
        name = host[1:host.index("]")] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
        if name not in self.service.hosts:
            answer = error(421, f"this server answers to {', '.join(sorted(self.service.hosts))} only",
                           close=True)
            return await answer(scope, receive, send)
        if request.method not in SAFE_METHODS and not self._same_origin(request, host):
            answer = error(403, "refused: requests that change anything must come from hinr "
                                "serve's own page", close=True)
            return await answer(scope, receive, send)
        return await self.app(scope, receive, send)

    def _same_origin(self, request: Request, host: str) -> bool:
        origin = request.headers.get("origin")
        site = request.headers.get("sec-fetch-site")
        return ((origin is None or origin in (f"http://{host}", f"https://{host}"))
                and site in (None, "same-origin", "none")
                and secrets.compare_digest(request.headers.get("x-hinr-token", ""), self.service.token))


NO_SUCH_JOB = "no such job (finished jobs are kept for a while)"


def opened_file(path: Path, media_type: str, headers: dict) -> Response:
    """``path`` sent from a handle opened now, so that a job forgotten (its folder removed) while
    the file is on its way still sends it whole; a file already gone is a 404, not a 500."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return error(404, NO_SUCH_JOB)

    def chunks():
        with handle:
            while piece := handle.read(2**20):
                yield piece

    headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)
    return StreamingResponse(chunks(), media_type=media_type, headers=headers)


def make_app(service: Service, *, read_timeout: float = READ_TIMEOUT_S) -> Guard:
    """The ASGI app serving ``service``."""

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers=_headers())

    async def config(request: Request) -> Response:
        from ..store.shipped import SHIPPED

        models = [{"name": name, "use": row.use} for name, row in SHIPPED.items()]
        return JSONResponse({"weights": list(WEIGHTS), "models": models, "token": service.token,
                             "max_upload_bytes": service.max_upload_bytes}, headers=_headers())

    def job_or_404(request: Request):
        job = service.job(request.path_params["id"])
        return job, (None if job is not None else
                     error(404, NO_SUCH_JOB))

    async def status(request: Request) -> Response:
        job, missing = job_or_404(request)
        return missing or JSONResponse(job.status(), headers=_headers())

    async def file(request: Request) -> Response:
        job, missing = job_or_404(request)
        kind = request.path_params["kind"]
        if kind not in ("result", "bicubic"):
            return error(404, "not found")
        if missing or job.state != "done":
            return missing or error(404, "not found: the job is not done")
        headers = _headers()
        if kind == "bicubic":
            return opened_file(job.folder / "bicubic.png", "image/png", headers)
        headers["Content-Disposition"] = content_disposition(job.download_name)
        return opened_file(job.result, MEDIA_TYPES[job.suffix], headers)

    async def zipped(request: Request) -> Response:
        from ..errors import HinrError

        ids = [i for i in request.query_params.get("ids", "").split(",") if i][:KEEP_JOBS]
        try:
            path = await run_in_threadpool(service.zip_results, ids)
        except HinrError as err:
            return error(400, one_line(err))
        headers = {**_headers(), "Content-Disposition": content_disposition("hinr-results.zip")}
        return FileResponse(path, media_type="application/zip", headers=headers,
                            background=BackgroundTask(path.unlink, missing_ok=True))

    async def cancel(request: Request) -> Response:
        job, missing = job_or_404(request)
        return missing or JSONResponse(service.cancel(job.id).status(), headers=_headers())

    async def upload(request: Request) -> Response:
        from ..errors import HinrError

        query = request.query_params
        name = Path(query.get("name") or "image.png").name or "image.png"
        limit = service.max_upload_bytes
        try:
            length = int(request.headers.get("content-length", "-1"))
        except ValueError:
            length = -1
        if length > limit:  # refused before storing any of it; read away so the page hears why
            await _discard(request, min(length, 4 * limit), read_timeout)
            return error(413, f"{name} is {length / 2**20:.1f} MiB, over the {limit / 2**20:.0f} "
                              "MiB upload limit: reduce it first", close=True)
        try:
            options = service.check_request(size=query.get("size"), scale=query.get("scale"),
                                            fit=query.get("fit"), ensemble=query.get("ensemble"),
                                            weights=query.get("weights") or "auto",
                                            format=query.get("format"), quality=query.get("quality"))
            source = service.new_upload(name)
        except Busy as err:
            return error(503, str(err), close=True)
        except HinrError as err:
            return error(400, one_line(err), close=True)
        try:
            await _store(request, source, limit, read_timeout)
        except TooLarge:
            shutil.rmtree(source.parent, ignore_errors=True)
            return error(413, f"{name} is over the {limit / 2**20:.0f} MiB upload limit: reduce it "
                              "first", close=True)
        except TimeoutError:
            shutil.rmtree(source.parent, ignore_errors=True)
            return error(408, f"{name}: the upload stalled for {read_timeout:.0f} s; send it again",
                         close=True)
        except ClientDisconnect:
            shutil.rmtree(source.parent, ignore_errors=True)
            return Response(status_code=400)  # nobody is left to read it
        except OSError as err:
            shutil.rmtree(source.parent, ignore_errors=True)
            if err.errno == errno.ENOSPC:
                return error(507, "the server's disk is full (its temporary folder): free some "
                                  "space and send it again", close=True)
            raise
        try:
            job = await run_in_threadpool(service.submit, name, source, options)
        except HinrError as err:
            return error(400, one_line(err))
        return JSONResponse(job.status(), status_code=202, headers=_headers())

    async def not_found(request: Request, exc) -> Response:
        return error(getattr(exc, "status_code", 404), "not found")

    routes = [Route("/", page), Route("/api/config", config), Route("/api/zip", zipped),
              Route("/api/jobs", upload, methods=["POST"]),
              Route("/api/jobs/{id}", status),
              Route("/api/jobs/{id}/cancel", cancel, methods=["POST"]),
              Route("/api/jobs/{id}/{kind}", file, methods=["GET"])]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    return Guard(app, service)


async def _pieces(request: Request, timeout: float):
    """The request's body, piece by piece; TimeoutError when a piece takes ``timeout`` seconds."""
    stream = request.stream().__aiter__()
    while True:
        with anyio.fail_after(timeout):
            try:
                piece = await stream.__anext__()
            except StopAsyncIteration:
                return
        yield piece


async def _store(request: Request, path: Path, limit: int, timeout: float) -> None:
    """Stream the body into ``path``; TooLarge past ``limit`` bytes."""
    received = 0
    with open(path, "wb") as out:
        async for piece in _pieces(request, timeout):
            received += len(piece)
            if received > limit:
                raise TooLarge()
            write_piece(out, piece)


async def _discard(request: Request, most: int, timeout: float) -> None:
    """Read up to ``most`` bytes of the body away, keeping none (so that a client still sending
    reads the refusal rather than a reset); stop early on a stall or a disconnect."""
    try:
        async for piece in _pieces(request, timeout):
            most -= len(piece)
            if most <= 0:
                return
    except (TimeoutError, ClientDisconnect):
        return


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, plus what it lacks: a connection that has not sent a whole
    request within ``idle_timeout`` seconds of opening is closed (uvicorn times out idle
    connections only between requests)."""

    idle_timeout = IDLE_TIMEOUT_S

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._first = asyncio.get_running_loop().call_later(self.idle_timeout, self._idle)

    def _idle(self) -> None:
        if self.cycle is None and not self.transport.is_closing():  # no request has begun
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self._first.cancel()
        super().connection_lost(exc)


class Server:
    """uvicorn serving ``make_app(service)`` on host:port (0: any free port)."""

    def __init__(self, service: Service, host: str, port: int, *, idle_timeout: float = IDLE_TIMEOUT_S,
                 read_timeout: float = READ_TIMEOUT_S) -> None:
        protocol = type("Protocol", (GuardedH11Protocol,), {"idle_timeout": idle_timeout})
        config = uvicorn.Config(make_app(service, read_timeout=read_timeout), host=host, port=port,
                                http=protocol, lifespan="off", log_level="warning", access_log=False,
                                server_header=False, date_header=False,
                                limit_concurrency=LIMIT_CONCURRENCY, backlog=BACKLOG,
                                timeout_keep_alive=5, timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def bind(self) -> None:
        """Take the address now (OSError if it is taken); ``run`` or ``start`` serves on it."""
        config = self.server.config
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((config.host, config.port))
            self._socket.listen(config.backlog)  # connections wait in the backlog until it serves
        except OSError:
            self._socket.close()
            raise

    @property
    def bound_port(self) -> int:
        return self._socket.getsockname()[1]

    def run(self) -> None:
        """Serve in this thread until SIGINT / SIGTERM (uvicorn's graceful shutdown, then the
        signal is raised again for the caller's handler)."""
        self.server.run(sockets=[self._socket])

    def start(self) -> None:
        """Serve in a background thread (tests); ``stop`` ends it."""
        self.bind()
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server did not start")
            threading.Event().wait(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
