"""Photo storage behind a real nginx with ``secure_link``: signed, expiring URLs on loopback.

Real download URLs point at cloud storage, not at the API. :class:`NginxStorage` gives the
emulator the same shape: it starts nginx as a child process, writes photos into its document
root and signs URLs the way nginx's ``secure_link`` module checks them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import math
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO
from urllib.parse import quote

import anyio
import anyio.abc
import attrs

__all__ = ["NginxStorage", "NginxStorageError"]

# The content types nginx knows, by extension. nginx picks Content-Type from the extension
# of the file it serves, so a photo stored under a key whose extension means something else
# is written with an extra, private extension of its own (``_OVERRIDE_PREFIX`` + type) and
# found by ``try_files``.
_TYPES: Mapping[str, tuple[str, ...]] = {
    "image/jpeg": ("jpg", "jpeg", "jpe"),
    "image/png": ("png",),
    "image/gif": ("gif",),
    "image/webp": ("webp",),
    "image/heic": ("heic",),
    "image/heif": ("heif",),
    "image/avif": ("avif",),
    "image/tiff": ("tif", "tiff"),
    "image/bmp": ("bmp",),
    "image/svg+xml": ("svg",),
    "video/mp4": ("mp4",),
    "video/quicktime": ("mov",),
    "application/pdf": ("pdf",),
    "application/json": ("json",),
    "application/xml": ("xml",),
    "text/xml": (),
    "text/html": ("html", "htm"),
    "text/plain": ("txt",),
    "application/octet-stream": ("bin",),
}
_DEFAULT_TYPE = "application/octet-stream"
_OVERRIDE_PREFIX = "vt-"
_BY_EXTENSION = {ext: mime for mime, exts in _TYPES.items() for ext in exts}
_OVERRIDES = {mime: _OVERRIDE_PREFIX + mime.replace("/", "-") for mime in _TYPES}

_MARKER_PREFIX = "_visiono-log-marker-"  # see NginxStorage.logged_requests
_SECRET_RE = re.compile(r"[A-Za-z0-9_\-]{16,128}")
_VERSION_RE = re.compile(r"nginx/(\d+)\.(\d+)\.(\d+)")
_MODULES_PATH_RE = re.compile(r"--modules-path=(\S+)")
_ECHO_MODULE = "ngx_http_echo_module.so"
# The first nginx that takes -e (the error log used before the configuration is read).
_ERROR_LOG_FLAG_SINCE = (1, 19, 5)


class NginxStorageError(RuntimeError):
    """nginx is missing, lacks a module this storage needs, or did not start."""


class NginxStorage:
    """Photos served by a real nginx on loopback behind ``secure_link`` signed URLs.

    A URL is ``{base_url}/{key}?md5=...&expires=...`` where ``md5`` is the unpadded base64url
    MD5 of ``f"{expires}/{key} {secret}"``, as ``secure_link_md5`` computes it. nginx answers
    403 to a missing or wrong signature and 410 once ``expires`` (unix seconds) is in the past;
    the module itself only sets a variable, the configuration turns it into those statuses.
    nginx compares ``expires`` with the real clock: an emulator's fake clock does not move it,
    so sign with an ``expires_at`` in the past to test expiry.

    Content-Type comes from the ``mime_type`` given to :meth:`put`; Range and HEAD requests
    are nginx's own static-file handling, with ``sendfile``.

    Everything nginx needs (configuration, pid file, logs, temp paths, document root) lives in
    a temporary directory that :meth:`aclose` removes.

    With ``certfile`` nginx serves HTTPS (HTTP/1.1 only, no HTTP/2) and :attr:`base_url` and
    :meth:`signed_url` give ``https://`` URLs; clients must trust the certificate's issuer.

    Args:
        binary: The nginx executable; by default ``nginx`` on ``PATH`` or in an ``sbin``
            directory.
        host: The loopback address to listen on.
        port: The port; 0 picks a free one.
        secret: The ``secure_link_md5`` secret (16-128 of ``A-Za-z0-9_-``); random by default.
        workers: nginx worker processes.
        response_delay: Seconds nginx waits before answering each request that passed the
            signature check, without using CPU (a timer in nginx). Needs nginx's echo module
            (Debian: ``libnginx-mod-http-echo``). For latency tests and benchmarks.
        limit_rate: Bytes per second nginx sends each response at most (its ``limit_rate``);
            None for no limit. Makes transfers slow enough to expire or cancel mid-run.
        access_log: Keep an access log at :attr:`access_log_path`, one line per request:
            method, path, status, body bytes sent.
        startup_timeout: Seconds to wait for nginx to accept connections.
        certfile: A PEM certificate (chain) to serve HTTPS with, leaf first; None (the
            default) serves plain HTTP. It must be valid for ``host`` (an IP address SAN for
            ``127.0.0.1``). Read at :meth:`start`, when it is copied into the storage's
            directory.
        keyfile: The PEM private key of ``certfile``, unencrypted; None when ``certfile``
            holds the key too (as for :meth:`ssl.SSLContext.load_cert_chain`).
        keepalive_requests: Requests nginx answers on one connection before it closes it
            (its ``keepalive_requests``; real storage and the balancers in front of it cap
            this, often at 100). The default is high enough never to matter.
        keepalive_timeout: Seconds nginx keeps an idle connection open (its
            ``keepalive_timeout``, to the millisecond); 0 closes every connection after
            one answer.
        gzip: Compress answers to clients that accept gzip (nginx's ``gzip on`` for every
            type, however small the body), as storage behind a misconfigured CDN does. A
            client that asks for ``Accept-Encoding: identity`` gets the bytes as stored.
    """

    def __init__(
        self,
        *,
        binary: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        secret: str | None = None,
        workers: int = 1,
        response_delay: float = 0.0,
        limit_rate: int | None = None,
        access_log: bool = False,
        startup_timeout: float = 10.0,
        certfile: str | os.PathLike[str] | None = None,
        keyfile: str | os.PathLike[str] | None = None,
        keepalive_requests: int = 1_000_000,
        keepalive_timeout: float = 75.0,
        gzip: bool = False,
    ) -> None:
        if secret is not None and not _SECRET_RE.fullmatch(secret):
            raise ValueError("secret must be 16-128 characters of A-Za-z0-9_-")
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if limit_rate is not None and limit_rate < 1:
            raise ValueError(f"limit_rate must be at least 1 byte/s, got {limit_rate}")
        if response_delay < 0:
            raise ValueError(f"response_delay must not be negative, got {response_delay}")
        if keyfile is not None and certfile is None:
            raise ValueError("keyfile needs a certfile")
        if keepalive_requests < 1:
            raise ValueError(f"keepalive_requests must be at least 1, got {keepalive_requests}")
        if keepalive_timeout < 0:
            raise ValueError(f"keepalive_timeout must not be negative, got {keepalive_timeout}")
        self._binary = None if binary is None else os.fspath(binary)
        self._host = host
        self._requested_port = port
        self._secret = secret or secrets.token_urlsafe(24)
        self._workers = workers
        self._response_delay = response_delay
        self._limit_rate = limit_rate
        self._access_log = access_log
        self._startup_timeout = startup_timeout
        self._certfile = None if certfile is None else Path(certfile)
        self._keyfile = None if keyfile is None else Path(keyfile)
        self._keepalive_requests = keepalive_requests
        self._keepalive_timeout_ms = round(keepalive_timeout * 1000)
        self._gzip = gzip
        self._dir: Path | None = None
        self._port: int | None = None
        self._process: anyio.abc.Process | None = None
        self._stderr: IO[bytes] | None = None
        self._stored: dict[str, Path] = {}

    def __repr__(self) -> str:
        state = f"running at {self.base_url}" if self._process is not None else "stopped"
        return f"<NginxStorage {state}>"

    async def __aenter__(self) -> NginxStorage:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def scheme(self) -> str:
        """``https`` when the storage was given a ``certfile``, else ``http``."""
        return "https" if self._certfile is not None else "http"

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running nginx (``https://`` with a ``certfile``).

        Raises:
            RuntimeError: When the storage has not been started.
        """
        if self._port is None:
            raise RuntimeError("NginxStorage is not running: call start() first")
        return f"{self.scheme}://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        """The port nginx listens on.

        Raises:
            RuntimeError: When the storage has not been started.
        """
        if self._port is None:
            raise RuntimeError("NginxStorage is not running: call start() first")
        return self._port

    @property
    def root(self) -> Path:
        """nginx's document root; a key's file is ``root / key``.

        Raises:
            RuntimeError: When the storage has not been started.
        """
        return self._directory() / "root"

    @property
    def access_log_path(self) -> Path | None:
        """The access log (``method path status bytes`` per line), or None when it is off."""
        return self._directory() / "access.log" if self._access_log else None

    async def logged_requests(self, *, timeout: float = 10.0) -> list[str]:
        """The access log once nginx has logged every request it answered so far.

        nginx writes a request's line only after the answer went out, so a client that has
        read an answer may look at the log before its line is there. This sends a marker
        request of its own and waits until the marker's line is written: with one worker
        (the default) every request answered before it is in the log by then. Marker lines
        are left out of the result.

        Returns:
            The log's lines (``method path status bytes``), oldest first.

        Raises:
            RuntimeError: The storage is not running, or has no access log.
            TimeoutError: The marker's line did not appear within ``timeout`` seconds.
        """
        path = self.access_log_path
        if path is None:
            raise RuntimeError("NginxStorage was started without access_log=True")
        marker = f"/{_MARKER_PREFIX}{secrets.token_hex(8)}"
        with anyio.fail_after(timeout):
            await self._send_marker(marker)
            while True:
                lines = (await anyio.Path(path).read_text()).splitlines()
                if any(line.split(" ")[1:2] == [marker] for line in lines):
                    return [line for line in lines if _MARKER_PREFIX not in line]
                await anyio.sleep(0.01)  # bounded by fail_after: nginx writes it right away

    async def _send_marker(self, target: str) -> None:
        """One GET (answered 403: it carries no signature) on a connection of its own."""
        stream: anyio.abc.ByteStream
        if self._certfile is not None:
            # Our own nginx on loopback, asked for nothing that matters: no verification.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            stream = await anyio.connect_tcp(
                self._host, self.port, ssl_context=context, tls_standard_compatible=False
            )
        else:
            stream = await anyio.connect_tcp(self._host, self.port)
        async with stream:
            request = f"GET {target} HTTP/1.1\r\nHost: {self._host}\r\nConnection: close\r\n\r\n"
            await stream.send(request.encode("ascii"))
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                while await stream.receive():
                    pass

    async def start(self) -> None:
        """Start nginx and wait until it accepts connections.

        Raises:
            NginxStorageError: nginx is missing, lacks ``secure_link`` (or the echo module when
                ``response_delay`` is set, or the SSL module when ``certfile`` is), the
                certificate or key cannot be read, or nginx did not start (for instance on a
                certificate and key that do not match); the message quotes its error log.
            RuntimeError: When already started.
        """
        if self._process is not None:
            raise RuntimeError("NginxStorage is already running")
        binary = self._find_binary()
        info = await self._inspect(binary)
        self._dir = Path(tempfile.mkdtemp(prefix="visiono-nginx-"))
        try:
            (self._dir / "root").mkdir()
            if self._certfile is not None:
                await anyio.to_thread.run_sync(self._copy_tls_files, self._dir)
            attempts = 1 if self._requested_port else 5
            for attempt in range(attempts):
                port = self._requested_port or _free_port(self._host)
                if await self._launch(binary, info, port, last=attempt == attempts - 1):
                    return
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop nginx (waiting for it to exit) and remove its directory. Idempotent."""
        with anyio.CancelScope(shield=True):
            await self._stop_process()
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None
            if self._dir is not None:
                directory, self._dir = self._dir, None
                await anyio.to_thread.run_sync(lambda: shutil.rmtree(directory, ignore_errors=True))
            self._stored.clear()
            self._port = None

    async def put(self, key: str, content: bytes, mime_type: str) -> None:
        """Store ``content`` under ``key``; nginx serves it with ``mime_type``.

        The file appears atomically (written to a temporary name, then renamed), so nginx
        never serves half of it.

        Args:
            key: A relative path of ``/``-separated segments, none empty, ``.`` or ``..``.
            content: The bytes to serve.
            mime_type: The Content-Type to serve it with; one of the types nginx is configured
                with (common image types, JSON, XML, HTML, plain text, octet-stream).

        Raises:
            ValueError: An unsafe key or an unknown mime type.
            RuntimeError: When the storage has not been started.
        """
        _check_key(key)
        mime = mime_type.split(";", 1)[0].strip().lower()
        if mime not in _TYPES:
            raise ValueError(
                f"NginxStorage cannot serve mime type {mime_type!r}; "
                f"known types: {', '.join(sorted(_TYPES))}"
            )
        await anyio.to_thread.run_sync(self._write, key, content, mime)

    def signed_url(self, key: str, expires_at: float) -> str:
        """A URL for ``key`` that nginx accepts until ``expires_at`` (unix seconds).

        ``expires_at`` is rounded up to a whole second, so nginx never refuses a URL before
        the time it was promised for.

        Raises:
            ValueError: An unsafe key.
            RuntimeError: When the storage has not been started.
        """
        _check_key(key)
        expires = math.ceil(expires_at)
        path = "/" + key
        digest = hashlib.md5(f"{expires}{path} {self._secret}".encode()).digest()
        signature = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        return f"{self.base_url}{quote(path, safe='/')}?md5={signature}&expires={expires}"

    # -- internals -------------------------------------------------------------------------

    def _directory(self) -> Path:
        if self._dir is None:
            raise RuntimeError("NginxStorage is not running: call start() first")
        return self._dir

    def _write(self, key: str, content: bytes, mime: str) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        served_as_is = _BY_EXTENSION.get(_extension(key), _DEFAULT_TYPE) == mime
        final = target if served_as_is else target.with_name(f"{target.name}.{_OVERRIDES[mime]}")
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
            os.chmod(temp, 0o644)
            os.replace(temp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        # try_files looks for the key itself first: drop a copy stored with another type.
        previous = self._stored.get(key)
        self._stored[key] = final
        if previous is not None and previous != final:
            with contextlib.suppress(FileNotFoundError):
                previous.unlink()

    def _copy_tls_files(self, directory: Path) -> None:
        """Copy the certificate and key where nginx reads them: no quoting of the user's
        paths in the configuration, and they may go away once nginx runs."""
        assert self._certfile is not None
        tls = directory / "tls"
        tls.mkdir(mode=0o700)
        for source, name in (
            (self._certfile, "cert.pem"),
            (self._keyfile or self._certfile, "key.pem"),
        ):
            try:
                content = source.read_bytes()
            except OSError as exc:
                raise NginxStorageError(f"cannot read {source}: {exc}") from exc
            fd = os.open(tls / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(content)

    def _find_binary(self) -> str:
        if self._binary is not None:
            if not os.access(self._binary, os.X_OK):
                raise NginxStorageError(f"nginx binary {self._binary!r} is not executable")
            return self._binary
        search = os.pathsep.join(
            [os.environ.get("PATH", os.defpath), "/usr/local/sbin", "/usr/sbin", "/sbin"]
        )
        found = shutil.which("nginx", path=search)
        if found is None:
            raise NginxStorageError(
                "nginx is not installed (Debian/Ubuntu: apt-get install nginx); "
                "NginxStorage needs it with the secure_link module"
            )
        return found

    async def _inspect(self, binary: str) -> _NginxInfo:
        result = await anyio.run_process([binary, "-V"], check=False)
        text = (result.stderr + result.stdout).decode("utf-8", "replace")
        if result.returncode != 0:
            raise NginxStorageError(f"{binary} -V failed: {text.strip()[:500]}")
        if self._certfile is not None and "--with-http_ssl_module" not in text:
            raise NginxStorageError(f"{binary} was built without the SSL module (certfile)")
        if "--with-http_secure_link_module" not in text:
            raise NginxStorageError(
                f"{binary} was built without the secure_link module "
                "(Debian: the nginx package has it, nginx-light does not)"
            )
        match = _VERSION_RE.search(text)
        version = tuple(int(g) for g in match.groups()) if match else (0, 0, 0)
        echo_module: str | None = None
        if self._response_delay > 0 and "echo-nginx-module" not in text:
            modules = _MODULES_PATH_RE.search(text)
            candidate = Path(modules.group(1)) / _ECHO_MODULE if modules else None
            if candidate is None or not candidate.is_file():
                raise NginxStorageError(
                    "response_delay needs nginx's echo module "
                    "(Debian: apt-get install libnginx-mod-http-echo)"
                )
            echo_module = str(candidate)
        return _NginxInfo(
            error_log_flag=version >= _ERROR_LOG_FLAG_SINCE,
            echo=echo_module,
            launcher=await _death_signal_launcher(),
        )

    async def _launch(self, binary: str, info: _NginxInfo, port: int, *, last: bool) -> bool:
        """Start nginx on ``port``; False when the port was taken and another may be tried."""
        directory = self._directory()
        conf = directory / "nginx.conf"
        error_log = directory / "error.log"
        pid_file = directory / "nginx.pid"
        for stale in (error_log, pid_file):
            stale.unlink(missing_ok=True)
        conf.write_text(self._config(directory, port, info))
        command = [*info.launcher, binary, "-p", str(directory), "-c", str(conf)]
        if info.error_log_flag:
            command += ["-e", str(error_log)]
        if self._stderr is not None:
            self._stderr.close()
        # Truncated per attempt, so an error names this attempt's problem only.
        self._stderr = (directory / "stderr.log").open("wb")
        self._process = await anyio.open_process(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr
        )
        self._port = port
        deadline = time.monotonic() + self._startup_timeout
        while True:
            if self._process.returncode is not None:
                log = self._logs()
                await self._stop_process()
                self._port = None
                if "Address already in use" in log and not last:
                    return False
                raise NginxStorageError(f"nginx exited at startup: {log[-2000:]}")
            if pid_file.exists() and await _accepts(self._host, port):
                return True
            if time.monotonic() > deadline:
                log = self._logs()
                raise NginxStorageError(
                    f"nginx did not accept connections within {self._startup_timeout} s: "
                    f"{log[-2000:]}"
                )
            await anyio.sleep(0.02)

    async def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            # SIGTERM is nginx's fast shutdown: the master stops its workers and exits.
            process.terminate()
            with anyio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
        await process.aclose()

    def _logs(self) -> str:
        directory = self._directory()
        parts = []
        for name in ("stderr.log", "error.log"):
            with contextlib.suppress(OSError):
                parts.append((directory / name).read_text("utf-8", "replace"))
        return "\n".join(p.strip() for p in parts if p.strip()) or "(no output)"

    def _config(self, directory: Path, port: int, info: _NginxInfo) -> str:
        d = directory
        user = ""
        if os.geteuid() == 0:
            # A root master would run its workers as nobody, who cannot read a 0700 temp dir.
            import grp  # POSIX only, like running nginx as root: imported here, not at the top
            import pwd

            user = (
                f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
            )
        types = "\n".join(
            f"        {mime} {' '.join((*exts, _OVERRIDES[mime]))};"
            for mime, exts in _TYPES.items()
        )
        try_files = " ".join(["$uri", *(f"$uri.{s}" for s in _OVERRIDES.values()), "=404"])
        if self._response_delay > 0:
            serve = (
                f"echo_sleep {self._response_delay:.3f};\n            echo_exec @serve;\n"
                f"        }}\n        location @serve {{\n            try_files {try_files};"
            )
        else:
            serve = f"try_files {try_files};"
        access_log = (
            f'log_format visiono "$request_method $uri $status $body_bytes_sent";\n'
            f"    access_log {d / 'access.log'} visiono;"
            if self._access_log
            else "access_log off;"
        )
        load = f"load_module {info.echo};" if info.echo else ""
        limit = f"limit_rate {self._limit_rate};" if self._limit_rate else ""
        listen = f"{self._host}:{port} backlog=4096"
        tls = ""
        if self._certfile is not None:
            # HTTP/1.1 only (no http2): the pipeline's client speaks HTTP/1.1.
            listen = f"{self._host}:{port} ssl backlog=4096"
            tls = f"""ssl_certificate {d / "tls" / "cert.pem"};
        ssl_certificate_key {d / "tls" / "key.pem"};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:visiono_tls:1m;"""
        # Every type, any size: nginx compresses whenever the client accepts gzip.
        gzip = "gzip on;\n    gzip_types *;\n    gzip_min_length 0;" if self._gzip else "gzip off;"
        return f"""{load}
daemon off;
master_process on;
worker_processes {self._workers};
{user}
pid {d / "nginx.pid"};
error_log {d / "error.log"} warn;
events {{
    worker_connections 4096;
}}
http {{
    client_body_temp_path {d / "client_body"};
    proxy_temp_path {d / "proxy"};
    fastcgi_temp_path {d / "fastcgi"};
    uwsgi_temp_path {d / "uwsgi"};
    scgi_temp_path {d / "scgi"};
    {access_log}
    types {{
{types}
    }}
    default_type {_DEFAULT_TYPE};
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout {self._keepalive_timeout_ms}ms;
    keepalive_requests {self._keepalive_requests};
    {gzip}
    server_tokens off;
    server {{
        listen {listen};
        {tls}
        root {d / "root"};
        {limit}
        location / {{
            secure_link $arg_md5,$arg_expires;
            secure_link_md5 "$secure_link_expires$uri {self._secret}";
            # secure_link only sets $secure_link: "" for a bad or missing signature, "0" once
            # expired. Cloud storage answers 403 and 410 for those.
            if ($secure_link = "") {{
                return 403;
            }}
            if ($secure_link = "0") {{
                return 410;
            }}
            {serve}
        }}
    }}
}}
"""


@attrs.frozen(kw_only=True)
class _NginxInfo:
    """What ``nginx -V`` told about the binary."""

    error_log_flag: bool
    echo: str | None
    launcher: tuple[str, ...] = ()
    """A command prefix that ends nginx when this process dies (see _death_signal_launcher)."""


async def _death_signal_launcher() -> tuple[str, ...]:
    """``setpriv --pdeathsig TERM`` where it exists (Linux, util-linux 2.33 and newer).

    nginx then gets SIGTERM (its fast shutdown) when the thread that started it dies, so a
    test run or script killed without a chance to clean up (SIGKILL, SIGTERM) leaves no
    nginx behind. Elsewhere the prefix is empty: ``aclose`` and Ctrl-C still stop nginx.
    """
    if sys.platform != "linux":
        return ()
    setpriv = shutil.which(
        "setpriv", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin", "/bin"])
    )
    if setpriv is None:
        return ()
    try:
        result = await anyio.run_process([setpriv, "--help"], check=False)
    except OSError:
        return ()
    if b"--pdeathsig" not in result.stdout + result.stderr:
        return ()
    return (setpriv, "--pdeathsig", "TERM", "--")


def _check_key(key: str) -> None:
    segments = key.split("/")
    if (
        not key
        or "\\" in key
        or "\x00" in key
        or any(segment in {"", ".", ".."} for segment in segments)
    ):
        raise ValueError(
            f"unsafe storage key {key!r}: use relative '/'-separated segments, "
            "none empty, '.' or '..'"
        )
    if any(segments[-1].endswith("." + suffix) for suffix in _OVERRIDES.values()):
        raise ValueError(f"storage key {key!r} ends with an extension reserved by NginxStorage")


def _extension(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


async def _accepts(host: str, port: int) -> bool:
    try:
        stream = await anyio.connect_tcp(host, port)
    except OSError:
        return False
    await stream.aclose()
    return True
