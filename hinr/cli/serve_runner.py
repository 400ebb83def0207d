"""``hinr serve``: check the options, start the job queue and the server, print the address, serve
until Ctrl-C or SIGTERM (the running job is cancelled at its next chunk, the temporary folder
removed; exit 130 or 143, never an abort)."""

from __future__ import annotations

import ipaddress
import sys

from .errors import RuntimeFailure, UsageError


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_serve(*, host: str, port: int, device: str, precision: str, max_upload_mb: int) -> None:
    from .serve import Service
    from .serve_app import Server

    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be in 0..65535, got {port}")
    if max_upload_mb < 1:
        raise UsageError(f"--max-upload-mb must be at least 1, got {max_upload_mb}")
    service = Service(device=device, precision=precision, max_upload_bytes=max_upload_mb * 2**20,
                      host=host)
    try:
        server = Server(service, host, port)
        try:
            server.bind()
        except OSError as err:
            raise RuntimeFailure(f"cannot listen on {host}:{port} ({err.strerror or err}): choose "
                                 "another --port, or stop what uses it") from err
        shown = f"[{host}]" if ":" in host else host
        address = f"http://{shown}:{server.bound_port}/"
        if not _loopback(host):
            print(f"hinr: WARNING: listening on {host}, not this computer only: anyone who can "
                  "reach this address can upload images and use this computer's CPU", file=sys.stderr)
        if service.swept:
            print(f"hinr serve: removed {len(service.swept)} temporary folder(s) left by a server "
                  "that was stopped without cleaning up", file=sys.stderr)
        print(f"hinr serve: open {address} (Ctrl-C stops)", file=sys.stderr)
        print(address, flush=True)
        server.run()  # a signal ends it, then is raised again here: SIGTERM → 143, Ctrl-C → 130
    finally:
        service.close()  # the running job cancelled, the uploads and results removed
