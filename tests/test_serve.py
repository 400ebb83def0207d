"""`hinr serve` over HTTP, without a browser: the result equals `hinr upscale`'s, uploads are
bounded before they are read, refused inputs get the CLI's one line (never the private upload
path), jobs can be cancelled, and an upload's name never becomes a path."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_helpers import REPO, interruptible, run
from hinr.cli.serve import Service
from hinr.cli.serve_app import Server
from hinr.cli.serve_runner import _loopback

ASTRONAUT = REPO / "examples" / "astronaut_32.png"


IDLE_S = READ_S = 1.0  # the test server's timeouts (hinr serve's: 15 s and 30 s)


@pytest.fixture(scope="module")
def service():
    svc = Service(device="cpu", max_upload_bytes=2**20)
    server = Server(svc, "127.0.0.1", 0, idle_timeout=IDLE_S, read_timeout=READ_S)
    server.start()
    svc.url = f"http://127.0.0.1:{server.bound_port}"
    yield svc
    server.stop()
    svc.close()
    assert not svc.folder.exists()  # the uploads go with the server


def _token(url: str) -> str:
    base = url.split("/api/")[0]
    return json.loads(_get(f"{base}/api/config"))["token"]


def _post(url: str, data: bytes = b"", headers: dict | None = None) -> tuple[int, dict]:
    """POST as the page does: with the token of /api/config (``headers`` replace it)."""
    headers = {"X-Hinr-Token": _token(url)} if headers is None else headers
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as answer:
        return answer.read()


def _finish(service, job_id: str) -> dict:
    end = time.monotonic() + 120
    while time.monotonic() < end:
        status = json.loads(_get(f"{service.url}/api/jobs/{job_id}"))
        if status["state"] not in ("queued", "running"):
            return status
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_result_equals_hinr_upscale(service, tmp_path, capsys, monkeypatch):
    code, job = _post(f"{service.url}/api/jobs?name=astronaut_32.png&scale=4&weights=auto",
                      ASTRONAUT.read_bytes())
    assert code == 202 and job["download"] == "astronaut_32_128.png"
    assert _finish(service, job["id"])["state"] == "done"
    (tmp_path / "page.png").write_bytes(_get(f"{service.url}/api/jobs/{job['id']}/result"))
    assert run(capsys, monkeypatch, "upscale", ASTRONAUT, "--scale", "4", "-o", tmp_path / "cli.png")[0] == 0
    with Image.open(tmp_path / "page.png") as page, Image.open(tmp_path / "cli.png") as cli:
        assert page.size == (128, 128) and np.array_equal(np.asarray(page), np.asarray(cli))
    with Image.open(__import__("io").BytesIO(_get(f"{service.url}/api/jobs/{job['id']}/bicubic"))) as b:
        assert b.size == (128, 128)


def test_best_quality_equals_hinr_upscale_with_ensemble_8(service, tmp_path, capsys, monkeypatch):
    code, job = _post(f"{service.url}/api/jobs?name=a.png&scale=2&weights=default&ensemble=8",
                      ASTRONAUT.read_bytes())
    assert code == 202 and job["ensemble"] == 8
    assert _finish(service, job["id"])["state"] == "done"
    (tmp_path / "page.png").write_bytes(_get(f"{service.url}/api/jobs/{job['id']}/result"))
    for passes in ("8", "1"):
        assert run(capsys, monkeypatch, "upscale", ASTRONAUT, "--scale", "2", "--weights", "default",
                   "--ensemble", passes, "-o", tmp_path / f"cli{passes}.png")[0] == 0
    with Image.open(tmp_path / "page.png") as page, Image.open(tmp_path / "cli8.png") as best, \
            Image.open(tmp_path / "cli1.png") as fast:
        assert np.array_equal(np.asarray(page), np.asarray(best))
        assert not np.array_equal(np.asarray(page), np.asarray(fast))  # the option did something


def test_page_is_served(service):
    page = _get(service.url + "/").decode()
    assert "<title>hinr" in page and 'id="files"' in page


@pytest.mark.parametrize("query, body, code, words", [
    ("name=x.png&scale=2&weights=mine", None, 400, "weights must be one of"),
    ("name=x.png&scale=two", None, 400, "scale must be a number"),
    ("name=x.png", None, 400, "--size"),
    ("name=x.png&scale=2&ensemble=3", None, 400, "ensemble must be one of 1, 2, 4, 8"),
    ("name=broken.png&scale=2", b"\x89PNG\r\n\x1a\nbroken", 400, "broken.png is not an image"),
    ("name=big.png&scale=2", b"x" * (2**20 + 1), 413, "upload limit"),
])
def test_refused_uploads_get_one_line(service, query, body, code, words):
    status, answer = _post(f"{service.url}/api/jobs?{query}", ASTRONAUT.read_bytes() if body is None else body)
    assert status == code and words in answer["error"]
    assert str(service.folder) not in answer["error"] and "\n" not in answer["error"]


def test_a_name_is_never_a_path(service):
    code, job = _post(f"{service.url}/api/jobs?name=../../etc/passwd.png&scale=2", ASTRONAUT.read_bytes())
    assert code == 202 and job["download"] == "passwd_64.png"
    assert _finish(service, job["id"])["state"] == "done"
    assert all(p.is_relative_to(service.folder) for p in service.folder.rglob("*"))


def test_jobs_can_be_cancelled(service):
    big = Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 300, 3), np.uint8))
    import io

    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    _, first = _post(f"{service.url}/api/jobs?name=a.png&size=3000x2000", buffer.getvalue())
    _, second = _post(f"{service.url}/api/jobs?name=b.png&scale=2", ASTRONAUT.read_bytes())
    _post(f"{service.url}/api/jobs/{second['id']}/cancel")  # still queued behind the first
    _post(f"{service.url}/api/jobs/{first['id']}/cancel")
    assert _finish(service, first["id"])["state"] == "cancelled"
    assert _finish(service, second["id"])["state"] == "cancelled"


def test_only_loopback_is_quiet():
    assert _loopback("127.0.0.1") and _loopback("::1") and _loopback("localhost")
    assert not _loopback("0.0.0.0") and not _loopback("192.168.1.5")


def test_serve_help(capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, "serve", "--help")
    assert code == 0 and "127.0.0.1" in out and "--port" in out



# --- no way in: Host, origin and token ---------------------------------------------------------

def _raw(service, method: str, path: str, headers: dict, body: bytes = b"") -> tuple[int, bytes]:
    import http.client

    port = int(service.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest(method, path, skip_host=True)
    for key, value in headers.items():
        conn.putheader(key, value)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    answer = conn.getresponse()
    return answer.status, answer.read()


def test_a_foreign_host_is_refused(service):
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: every request naming another
    Host is refused, the page and the config included."""
    port = service.url.rsplit(":", 1)[1]
    for path in ("/", "/api/config"):
        code, _ = _raw(service, "GET", path, {"Host": "evil.example.com"})
        assert code == 421
    code, _ = _raw(service, "GET", "/api/config", {"Host": f"localhost:{port}"})
    assert code == 200


def test_cross_origin_or_tokenless_changes_are_refused_and_queue_nothing(service):
    port = service.url.rsplit(":", 1)[1]
    before = len(service.jobs)
    image = ASTRONAUT.read_bytes()
    token = _token(service.url)
    host = {"Host": f"127.0.0.1:{port}", "Content-Type": "text/plain"}
    cases = [{**host, "Origin": "http://evil.example", "X-Hinr-Token": token},  # another site
             {**host, "Sec-Fetch-Site": "cross-site", "X-Hinr-Token": token},
             {**host, "Origin": f"http://127.0.0.1:{port}"},  # no token
             {**host, "X-Hinr-Token": "guessed"}]
    for headers in cases:
        code, _ = _raw(service, "POST", "/api/jobs?name=a.png&size=64", headers, image)
        assert code == 403
    assert len(service.jobs) == before
    code, _ = _raw(service, "POST", "/api/jobs?name=a.png&size=64",
                   {**host, "Origin": f"http://127.0.0.1:{port}", "X-Hinr-Token": token}, image)
    assert code == 202


def test_any_file_name_downloads(service):
    from hinr.cli.serve_app import content_disposition

    code, job = _post(f"{service.url}/api/jobs?name=%E5%86%99%E7%9C%9F.png&size=64", ASTRONAUT.read_bytes())
    assert code == 202, job
    assert _finish(service, job["id"])["state"] == "done"
    with urllib.request.urlopen(f"{service.url}/api/jobs/{job['id']}/result", timeout=60) as answer:
        disposition = answer.headers["Content-Disposition"]
        assert answer.status == 200 and answer.read()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "filename*=UTF-8''%E5%86%99%E7%9C%9F_64.png" in disposition
    assert content_disposition("a b.png").startswith('attachment; filename="a b.png"')


@pytest.mark.parametrize("signum, expected", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_mid_job_exits_cleanly_and_leaves_nothing(tmp_path, signum, expected):
    """SIGTERM or Ctrl-C while a job runs: the job is cancelled at its next chunk, the temp
    folder removed, exit 143 / 130 — never an abort (134)."""
    import signal
    import subprocess
    import sys

    env = {**os.environ, "TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    hinr = Path(sys.executable).with_name("hinr")
    proc = subprocess.Popen([str(hinr), "serve", "--port", "0", "--device", "cpu"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, preexec_fn=interruptible)
    try:
        url = proc.stdout.readline().strip().rstrip("/")
        code, job = _post(f"{url}/api/jobs?name=a.png&size=4000x4000&ensemble=8", ASTRONAUT.read_bytes())
        assert code == 202, job
        end = time.monotonic() + 60
        while json.loads(_get(f"{url}/api/jobs/{job['id']}"))["state"] != "running" and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(getattr(signal, signum))
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == expected, stderr
    assert "terminate called" not in stderr
    assert not list(tmp_path.glob("hinr-serve-*"))


def test_the_page_gets_the_models_from_the_one_table(service):
    from hinr.store.shipped import SHIPPED

    config = json.loads(_get(f"{service.url}/api/config"))
    assert [m["name"] for m in config["models"]] == list(SHIPPED)
    page = _get(service.url + "/").decode()
    assert "hybrid" not in page and "jpeg (for" not in page  # no second list of names in the page


# --- nothing held: streamed uploads, timeouts, full disk, forgotten jobs ------------------------

def _job_folders(service) -> list[Path]:
    return [p for p in service.folder.iterdir() if p.is_dir()]


def test_twenty_simultaneous_uploads_are_all_answered(service):
    """The page posts every dropped file at once: each gets its answer (none is reset)."""
    from concurrent.futures import ThreadPoolExecutor

    image = ASTRONAUT.read_bytes()
    token = _token(service.url)
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda i: _post(f"{service.url}/api/jobs?name=p{i}.png&scale=2", image,
                                                {"X-Hinr-Token": token}), range(20)))
    assert [code for code, _ in answers] == [202] * 20
    for _, job in answers:
        _post(f"{service.url}/api/jobs/{job['id']}/cancel")
    for _, job in answers:
        assert _finish(service, job["id"])["state"] in ("done", "cancelled")


def test_idle_and_stalled_connections_are_closed(service):
    """Connections that send nothing, or a request whose body never comes, are closed after the
    server's timeouts (hinr serve's: 15 s and 30 s; this server's: 1 s), holding nothing."""
    import socket

    port = int(service.url.rsplit(":", 1)[1])
    token = _token(service.url)
    stalled = (f"POST /api/jobs?name=a.png&scale=2 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"X-Hinr-Token: {token}\r\nContent-Length: 1000\r\n\r\n").encode()
    before = len(_job_folders(service))
    sockets = []
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if i % 2:
            s.sendall(stalled)
        sockets.append(s)
    start = time.monotonic()
    for s in sockets:
        while s.recv(65536):  # the 408 answer, then the end of the connection
            pass
        s.close()
    assert time.monotonic() - start < 10 * IDLE_S
    assert len(_job_folders(service)) == before  # the stalled uploads left no folder


def _chunked(service, path: str, pieces) -> tuple[int, dict]:
    """POST a body with no Content-Length (chunked), as a streaming client sends it."""
    import http.client

    port = int(service.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body=iter(pieces), encode_chunked=True,
                 headers={"X-Hinr-Token": _token(service.url), "Transfer-Encoding": "chunked"})
    answer = conn.getresponse()
    return answer.status, json.loads(answer.read())


def test_a_streamed_upload_is_stopped_at_the_limit_and_leaves_nothing(service):
    before = len(_job_folders(service))
    code, answer = _chunked(service, "/api/jobs?name=big.png&scale=2", [b"x" * 2**16] * 20)
    assert code == 413 and "upload limit" in answer["error"]
    assert len(_job_folders(service)) == before
    code, job = _chunked(service, "/api/jobs?name=a.png&scale=2", [ASTRONAUT.read_bytes()])
    assert code == 202 and _finish(service, job["id"])["state"] == "done"


def test_a_full_disk_is_answered_507_and_the_partial_file_removed(service, monkeypatch):
    import hinr.cli.serve_app

    def full(file, piece):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hinr.cli.serve_app, "write_piece", full)
    before = len(_job_folders(service))
    code, answer = _post(f"{service.url}/api/jobs?name=a.png&scale=2", ASTRONAUT.read_bytes())
    assert code == 507 and "disk is full" in answer["error"]
    assert len(_job_folders(service)) == before


def test_cancelled_and_old_jobs_are_forgotten_with_their_files(service):
    """Only the newest ``KEEP_JOBS`` finished jobs are kept, by the time they finished (the one
    running when the cancels came may finish first or last), the others' folders removed."""
    from hinr.cli.serve import KEEP_JOBS

    image = ASTRONAUT.read_bytes()
    jobs = [_post(f"{service.url}/api/jobs?name=q{i}.png&scale=2", image)[1] for i in range(KEEP_JOBS + 8)]
    for job in jobs:
        _post(f"{service.url}/api/jobs/{job['id']}/cancel")
    _wait_until_idle(service)
    states = {job["id"]: _kept_state(service, job["id"]) for job in jobs}
    kept = {job_id for job_id, state in states.items() if state is not None}
    assert len(kept) == KEEP_JOBS
    for job_id, state in states.items():
        folder = service.folder / job_id
        if job_id not in kept:
            assert not folder.exists()
        else:
            assert state in ("done", "cancelled")
            assert state == "done" or not any(folder.iterdir())  # a cancelled upload goes at once
    _post(f"{service.url}/api/jobs?name=z.png&scale=2", image)  # each upload forgets the oldest
    assert len(_job_folders(service)) <= KEEP_JOBS + 1
    newest = max(kept, key=lambda job_id: service.job(job_id).finished)
    service.job_ttl = 0.0  # every finished job is past its time
    try:
        assert json.loads(_get_status(service, newest))["error"].startswith("no such job")
        assert not (service.folder / newest).exists()
    finally:
        service.job_ttl = 3600.0


def _wait_until_idle(service) -> None:
    end = time.monotonic() + 120
    while any(job.state in ("queued", "running") for job in list(service.jobs.values())):
        assert time.monotonic() < end, "jobs did not finish"
        time.sleep(0.05)


def _kept_state(service, job_id: str) -> str | None:
    """The job's state, None when it was forgotten."""
    return json.loads(_get_status(service, job_id)).get("state")


def _get_status(service, job_id: str) -> bytes:
    try:
        return _get(f"{service.url}/api/jobs/{job_id}")
    except urllib.error.HTTPError as err:
        assert err.code == 404
        return err.read()


def test_a_job_that_cannot_fit_is_refused_before_it_runs(service, monkeypatch):
    import hinr.inference.memory

    monkeypatch.setattr(hinr.inference.memory, "available_bytes", lambda: 200 * 2**20)
    before = len(service.jobs)
    code, answer = _post(f"{service.url}/api/jobs?name=a.png&size=8000x8000", ASTRONAUT.read_bytes())
    assert code == 400 and "needs about" in answer["error"] and len(service.jobs) == before


def test_a_new_server_sweeps_the_folders_of_killed_ones(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = tmp_path / f"hinr-serve-{dead}-abc"
    (stale / "job").mkdir(parents=True)
    (stale / "job" / "input.png").write_bytes(b"x")
    alive = tmp_path / f"hinr-serve-{os.getpid()}-def"  # a running server's: kept
    alive.mkdir()
    svc = Service(device="cpu", root=tmp_path)
    try:
        assert not stale.exists() and alive.exists() and svc.swept == [stale]
    finally:
        svc.close()
    assert not svc.folder.exists()


def test_formats_quality_and_a_zip_of_the_results(service):
    import io
    import zipfile

    image = ASTRONAUT.read_bytes()
    code, answer = _post(f"{service.url}/api/jobs?name=a.png&scale=2&format=jpeg&quality=101", image)
    assert code == 400 and "quality must be from 1 to 100" in answer["error"]
    code, answer = _post(f"{service.url}/api/jobs?name=a.png&scale=2&format=gif", image)
    assert code == 400 and "format must be one of" in answer["error"]
    _, jpeg = _post(f"{service.url}/api/jobs?name=a.png&scale=2&format=jpeg&quality=70", image)
    _, kept = _post(f"{service.url}/api/jobs?name=a.png&scale=2", image)  # keep: a PNG stays one
    assert jpeg["download"] == "a_64.jpg" and kept["download"] == "a_64.png"
    for job in (jpeg, kept):
        assert _finish(service, job["id"])["state"] == "done"
    assert _get(f"{service.url}/api/jobs/{jpeg['id']}/result")[:3] == b"\xff\xd8\xff"
    archive = zipfile.ZipFile(io.BytesIO(_get(f"{service.url}/api/zip?ids={jpeg['id']},{kept['id']}")))
    assert archive.namelist() == ["a_64.jpg", "a_64.png"]
    end = time.monotonic() + 10  # the zip goes once it is sent (a task after the response)
    while list(service.folder.glob("*.zip")) and time.monotonic() < end:
        time.sleep(0.05)
    assert not list(service.folder.glob("*.zip"))


def test_a_result_forgotten_on_its_way_is_sent_whole_and_one_already_gone_is_a_404(service, tmp_path):
    import anyio

    from hinr.cli.serve_app import opened_file

    path = tmp_path / "result.png"
    path.write_bytes(os.urandom(3 * 2**20 + 5))
    expected = path.read_bytes()
    response = opened_file(path, "image/png", {})
    path.unlink()  # the job is forgotten while its file is on its way

    async def body() -> bytes:
        return b"".join([piece async for piece in response.body_iterator])

    assert anyio.run(body) == expected and response.headers["content-length"] == str(len(expected))
    code, job = _post(f"{service.url}/api/jobs?name=a.png&scale=2", ASTRONAUT.read_bytes())
    assert _finish(service, job["id"])["state"] == "done"
    service.job(job["id"]).result.unlink()  # gone between the lookup and the read
    with pytest.raises(urllib.error.HTTPError) as err:
        _get(f"{service.url}/api/jobs/{job['id']}/result")
    assert err.value.code == 404 and "no such job" in json.loads(err.value.read())["error"]
