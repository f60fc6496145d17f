"""Real static servers for the transport tests: apache2, ``python -m http.server``, and a
close-delimited server of our own; plus a raw HTTP probe to check how each is configured.

Each server runs on loopback and is stopped (killed if it will not stop) when its block
ends. Servers that cannot bind port 0 get a free port, another one when it was taken
meanwhile, and are asked for a token file of their own before they count as started, so
the server answering is always the one this test started.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import anyio.abc
import attrs
import trustme
from anyio.streams.buffered import BufferedByteReceiveStream

from tests.conftest import require_binary
from tests.proxy_servers import free_port

APACHE_MODULES = Path("/usr/lib/apache2/modules")
_BANNER = re.compile(rb"port (\d+)")


# -- a raw HTTP probe ----------------------------------------------------------------------


@attrs.frozen
class Answer:
    """One HTTP answer as the probe read it: status, headers (lower-case names), body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def no_verify() -> ssl.SSLContext:
    """A client context for probing our own loopback servers (nothing secret is asked)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def probe(
    port: int,
    targets: list[str],
    *,
    headers: Mapping[str, str] | None = None,
    tls: bool = False,
) -> list[Answer]:
    """GET each target in turn on one keep-alive connection, until the server closes it.

    Answers must carry Content-Length. Returns the answers read before the server closed
    the connection: fewer than ``targets`` when it closed early.
    """
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    stream: anyio.abc.ByteStream
    if tls:
        stream = await anyio.connect_tcp(
            "127.0.0.1", port, ssl_context=no_verify(), tls_standard_compatible=False
        )
    else:
        stream = await anyio.connect_tcp("127.0.0.1", port)
    answers: list[Answer] = []
    with anyio.fail_after(10):
        async with stream:
            reader = BufferedByteReceiveStream(stream)
            for target in targets:
                request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n"
                try:
                    await stream.send(request.encode("ascii"))
                    head = await reader.receive_until(b"\r\n\r\n", 65536)
                except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
                    break  # closed by the server
                status_line, *lines = head.decode("latin-1").split("\r\n")
                fields = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in lines)
                }
                length = int(fields.get("content-length", "0"))
                body = await reader.receive_exactly(length) if length else b""
                answers.append(Answer(int(status_line.split()[1]), fields, body))
    return answers


# -- TLS files -----------------------------------------------------------------------------


@attrs.frozen
class TLSFiles:
    """A certificate for 127.0.0.1 issued by ``ca``, and its key, as PEM files."""

    ca: trustme.CA
    certfile: Path
    keyfile: Path


def tls_files(ca: trustme.CA, folder: Path) -> TLSFiles:
    """Write a leaf certificate for 127.0.0.1 (chain included) and its key into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    keyfile.write_bytes(leaf.private_key_pem.bytes())
    return TLSFiles(ca, certfile, keyfile)


# -- apache2 -------------------------------------------------------------------------------


@attrs.define
class Apache:
    """A running apache2 serving :attr:`root` on 127.0.0.1:``port``."""

    port: int
    root: Path
    scheme: str
    error_log: Path

    def url(self, name: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{name}"

    def put(self, name: str, body: bytes) -> None:
        """Serve ``body`` as ``/name`` (readable by apache's unprivileged user)."""
        path = self.root / name
        path.write_bytes(body)
        path.chmod(0o644)


def _apache_config(
    folder: Path,
    root: Path,
    port: int,
    *,
    tls: TLSFiles | None,
    deflate: bool,
    max_keepalive_requests: int,
) -> str:
    modules = ["mpm_event", "authz_core", "mime"]
    if deflate:
        modules += ["deflate", "env"]
    if tls is not None:
        modules += ["ssl", "socache_shmcb"]
    lines = [f"LoadModule {m}_module {APACHE_MODULES / f'mod_{m}.so'}" for m in modules]
    if os.geteuid() == 0:
        # apache will not serve as root: its worker drops to nobody (root's config and logs
        # are opened before that).
        lines += ["User #65534", "Group #65534"]
    lines += [
        f"ServerRoot {folder}",
        f"DefaultRuntimeDir {folder}",
        f"PidFile {folder / 'httpd.pid'}",
        f"ErrorLog {folder / 'error.log'}",
        "LogLevel warn",
        "ServerName 127.0.0.1",
        f"Listen 127.0.0.1:{port}",
        f"DocumentRoot {root}",
        "KeepAlive On",
        f"MaxKeepAliveRequests {max_keepalive_requests}",
        "KeepAliveTimeout 5",
        "TypesConfig /dev/null",
        "AddType image/jpeg .jpg",
        "AddType text/plain .txt",
        f"<Directory {root}>",
        "    Require all granted",
        "    Options None",
        "    AllowOverride None",
        "</Directory>",
    ]
    if deflate:
        # Compress every answer, whatever the client accepts (force-gzip ignores
        # Accept-Encoding): storage behind a misconfigured proxy does this.
        lines += ["SetOutputFilter DEFLATE", "SetEnv force-gzip 1"]
    if tls is not None:
        lines += [
            "SSLEngine on",
            f"SSLCertificateFile {tls.certfile}",
            f"SSLCertificateKeyFile {tls.keyfile}",
            "SSLProtocol -all +TLSv1.2 +TLSv1.3",
            f"SSLSessionCache shmcb:{folder / 'ssl_cache'}(65536)",
        ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _apache_folder(tmp_path: Path) -> Iterator[Path]:
    """Where apache's config, logs and document root live: ``tmp_path``, unless we are root.

    As root apache serves as nobody, who cannot enter pytest's 0700 temp folders: then a
    world-readable folder of its own, removed afterwards.
    """
    if os.geteuid() != 0:
        folder = tmp_path / "apache"
        folder.mkdir()
        yield folder
        return
    folder = Path(tempfile.mkdtemp(prefix="visiono-apache-"))
    try:
        folder.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def apache(
    tmp_path: Path,
    *,
    tls: TLSFiles | None = None,
    deflate: bool = False,
    max_keepalive_requests: int = 3,
) -> AsyncIterator[Apache]:
    """apache2 in the foreground (``-X``: one process, no daemon) with a config of our own.

    Args:
        tmp_path: The test's temp folder.
        tls: Serve HTTPS (mod_ssl) with this certificate.
        deflate: ``SetOutputFilter DEFLATE`` with ``force-gzip``: gzip every answer, asked
            for or not.
        max_keepalive_requests: ``MaxKeepAliveRequests``: answers per connection.
    """
    binary = require_binary("apache2")
    with _apache_folder(tmp_path) as folder:
        root = folder / "root"
        root.mkdir()
        root.chmod(0o755)
        if tls is not None:
            # Copied: apache reads them as root or as us, from a folder it can enter.
            copied = folder / "tls"
            copied.mkdir()
            shutil.copy(tls.certfile, copied / "cert.pem")
            shutil.copy(tls.keyfile, copied / "key.pem")
            (copied / "key.pem").chmod(0o600)
            tls = TLSFiles(tls.ca, copied / "cert.pem", copied / "key.pem")
        token = secrets.token_hex(16)
        (root / f"{token}.txt").write_text(token)
        (root / f"{token}.txt").chmod(0o644)
        scheme = "https" if tls else "http"
        for _attempt in range(20):
            port = free_port()
            config = folder / "httpd.conf"
            config.write_text(
                _apache_config(
                    folder,
                    root,
                    port,
                    tls=tls,
                    deflate=deflate,
                    max_keepalive_requests=max_keepalive_requests,
                )
            )
            error_log = folder / "error.log"
            error_log.unlink(missing_ok=True)
            output = folder / "output.log"
            with output.open("wb") as out:
                process = await anyio.open_process(
                    [binary, "-X", "-d", str(folder), "-f", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                )
            try:
                if await _started(process, port, token, tls=tls is not None):
                    yield Apache(port, root, scheme, error_log)
                    return
            finally:
                await _stop(process)
            logs = output.read_text() + (error_log.read_text() if error_log.exists() else "")
            if "Address already in use" not in logs:
                raise RuntimeError(f"apache2 did not start: {logs[-2000:]}")
        raise RuntimeError("apache2 did not start on any of 20 free ports")


async def _started(process: anyio.abc.Process, port: int, token: str, *, tls: bool) -> bool:
    """Poll (bounded) until ``process`` serves our token file; False once it exited."""
    with anyio.fail_after(15):
        while process.returncode is None:
            with contextlib.suppress(OSError, anyio.EndOfStream, ssl.SSLError):
                answers = await probe(port, [f"/{token}.txt"], tls=tls)
                if [token.encode()] == [a.body for a in answers]:
                    return True
                # Another server on this port: ours cannot bind it and exits.
            await anyio.sleep(0.02)  # a poll on a condition, bounded by fail_after
    return False


async def _stop(process: anyio.abc.Process) -> None:
    """SIGTERM, then SIGKILL if the server is still there after 5 s."""
    with anyio.CancelScope(shield=True):
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            with anyio.move_on_after(5):
                await process.wait()
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        await process.aclose()


# -- python -m http.server -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def python_http_server(directory: Path) -> AsyncIterator[int]:
    """``python -m http.server --protocol HTTP/1.0`` serving ``directory``; yields its port.

    It binds port 0 and prints the port it got, so no other server can be the one
    answering.
    """
    # HTTP/1.0 is http.server's default; --protocol (to say so) exists from Python 3.11.
    protocol = ["--protocol", "HTTP/1.0"] if sys.version_info >= (3, 11) else []
    command = [
        sys.executable,
        "-u",
        "-m",
        "http.server",
        *protocol,
        "--bind",
        "127.0.0.1",
        "--directory",
        str(directory),
        "0",
    ]
    process = await anyio.open_process(command, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        banner = b""
        with anyio.fail_after(15):
            while (found := _BANNER.search(banner)) is None:
                banner += await process.stdout.receive()
        yield int(found.group(1))
    finally:
        await _stop(process)


# -- a close-delimited server of our own ---------------------------------------------------


@attrs.frozen
class Body:
    """What the close-delimited server sends for a path: ``sent`` bytes, then it closes."""

    sent: bytes
    version: str = "HTTP/1.0"


class _CloseDelimited(BaseHTTPRequestHandler):
    """Answers without Content-Length: the body ends when the connection does."""

    bodies: Mapping[str, Body] = {}

    def do_GET(self) -> None:
        body = self.bodies.get(self.path.split("?", 1)[0])
        if body is None:
            self.send_error(404)
            return
        self.protocol_version = body.version
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        if body.version == "HTTP/1.1":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body.sent)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: pytest shows stderr of failing tests


@contextlib.contextmanager
def close_delimited_server(bodies: Mapping[str, Body]) -> Iterator[int]:
    """A ``ThreadingHTTPServer`` that sends each of ``bodies`` close-delimited; yields its
    port (bound to 0). Stopped, with its socket closed, when the block ends."""
    handler = type("Handler", (_CloseDelimited,), {"bodies": dict(bodies)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


async def closes_when_idle(port: int, target: str, *, tls: bool = False) -> None:
    """One GET on a new connection, then wait (bounded) until the server closes it idle.

    Raises:
        TimeoutError: The server kept the connection open for 10 s.
    """
    stream: anyio.abc.ByteStream
    if tls:
        stream = await anyio.connect_tcp(
            "127.0.0.1", port, ssl_context=no_verify(), tls_standard_compatible=False
        )
    else:
        stream = await anyio.connect_tcp("127.0.0.1", port)
    with anyio.fail_after(10):
        async with stream:
            request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            await stream.send(request.encode("ascii"))
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                while await stream.receive():
                    pass  # the answer, then nothing until the server closes
