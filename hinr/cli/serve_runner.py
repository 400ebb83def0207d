"""``hinr serve``: check the options, start the service and the server, print the address, serve
until Ctrl-C or a signal, then remove the uploads."""

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
    from .serve import Service, make_server

    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be in 0..65535, got {port}")
    if max_upload_mb < 1:
        raise UsageError(f"--max-upload-mb must be at least 1, got {max_upload_mb}")
    service = Service(device=device, precision=precision, max_upload_bytes=max_upload_mb * 2**20,
                      host=host)
    try:
        try:
            server = make_server(host, port, service)
        except OSError as err:
            raise RuntimeFailure(f"cannot listen on {host}:{port} ({err.strerror or err}): choose "
                                 "another --port, or stop what uses it") from err
        shown = f"[{host}]" if ":" in host else host
        address = f"http://{shown}:{server.server_address[1]}/"
        if not _loopback(host):
            print(f"hinr: WARNING: listening on {host}, not this computer only: anyone who can "
                  "reach this address can upload images and use this computer's CPU", file=sys.stderr)
        print(f"hinr serve: open {address} (Ctrl-C stops)", file=sys.stderr)
        print(address, flush=True)
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()
    finally:
        service.close()  # the uploads and results go with it
