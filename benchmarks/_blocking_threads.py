"""The floor of a Python downloader: blocking sockets in threads, nothing but bytes and a hash.

No event loop, no verification, no temp files, no manifest: ``THREADS`` threads each keep
one keep-alive connection (a blocking ``ssl.SSLSocket`` for https, whose reads release the
GIL around OpenSSL) and take the next URL from a shared list; a body goes from the socket
into a reused buffer and from there to its file, and, with ``--sha256``, through SHA-256 as
the pipeline hashes every file. What it measures is what any Python client pays on this
machine for the same bytes; the pipeline cannot beat it by much, whatever its design.

It speaks only what the benchmark's nginx answers (HTTP/1.1, ``Content-Length``, no
redirects, no encodings) and fails loudly on anything else. It times itself (imports
excluded) and prints ``{"elapsed": seconds, "files": n, "bytes": n}`` as JSON.

    python _blocking_threads.py JOBS.json DEST THREADS [--sha256] [--cafile CA.pem]

``JOBS.json`` is a list of ``[url, relative name]`` pairs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import ssl
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

BUFFER = 512 * 1024


class _Worker(threading.Thread):
    def __init__(self, todo: list[tuple[str, str]], dest: Path, args: argparse.Namespace) -> None:
        super().__init__()
        self.todo = todo
        self.dest = dest
        self.sha256 = args.sha256
        self.context = ssl.create_default_context(cafile=args.cafile) if args.cafile else None
        self.total = 0
        self.error: BaseException | None = None
        self._conn: socket.socket | None = None
        self._key: tuple[str, int] | None = None

    def run(self) -> None:
        try:
            view = memoryview(bytearray(BUFFER))
            while True:
                try:
                    url, name = self.todo.pop()
                except IndexError:
                    return
                self.total += self._fetch(url, self.dest / name, view)
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            if self._conn is not None:
                self._conn.close()

    def _connection(self, host: str, port: int, tls: bool) -> socket.socket:
        if self._conn is None or self._key != (host, port):
            if self._conn is not None:
                self._conn.close()
            conn = socket.create_connection((host, port))
            if tls:
                context = self.context or ssl.create_default_context()
                conn = context.wrap_socket(conn, server_hostname=host)
            self._conn, self._key = conn, (host, port)
        return self._conn

    def _fetch(self, url: str, path: Path, view: memoryview) -> int:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        conn = self._connection(host, port, parts.scheme == "https")
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode("latin-1"))
        head = b""
        while b"\r\n\r\n" not in head:
            got = conn.recv(65536)
            if not got:
                raise ConnectionError(f"{url}: connection closed before the answer")
            head += got
        head, first = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 200"):
            raise RuntimeError(f"{url}: {lines[0]}")
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length:")
        )
        digest = hashlib.sha256(first) if self.sha256 else None
        left = length - len(first)
        with open(path, "wb") as out:
            out.write(first)
            while left > 0:
                filled = 0
                while filled < BUFFER and left > 0:
                    got = conn.recv_into(view[filled:], min(BUFFER - filled, left))
                    if not got:
                        raise ConnectionError(f"{url}: connection closed mid-body")
                    filled += got
                    left -= got
                out.write(view[:filled])
                if digest is not None:
                    digest.update(view[:filled])
        return length


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("jobs")
    parser.add_argument("dest")
    parser.add_argument("threads", type=int)
    parser.add_argument("--sha256", action="store_true", help="hash every body, as the pipeline")
    parser.add_argument("--cafile", help="the CA of an HTTPS origin (instead of the system's)")
    args = parser.parse_args()
    todo = [(url, name) for url, name in reversed(json.loads(Path(args.jobs).read_text()))]
    count = len(todo)
    started = time.perf_counter()
    workers = [_Worker(todo, Path(args.dest), args) for _ in range(args.threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    for worker in workers:
        if worker.error is not None:
            raise worker.error
    print(json.dumps({"elapsed": elapsed, "files": count, "bytes": sum(w.total for w in workers)}))


if __name__ == "__main__":
    sys.exit(main())
