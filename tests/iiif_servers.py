"""Real IIIF image servers on 127.0.0.1 for the tests: IIPImage under lighttpd (Debian's iipimage-server),
the IIIF reference implementation's server (``iiif_testserver.py``, Image API 3, PNG) and a level-0 static
tile tree made by its ``iiif_static.py`` served by a plain HTTP server; and a proxy in front of any of them
that counts what passes and fails on demand (500s, a hung request, a server gone)."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc=None, seconds: float = 30) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"no server at {url}")


class Server:
    """A started server: ``url`` (the base of its images) and ``stop()``."""

    def __init__(self, url: str, stop, log: Path | None = None):
        self.url, self._stop, self.log = url, stop, log

    def stop(self):
        self._stop()


def iipimage(images: Path, tmp: Path, **env) -> Server:
    """IIPImage (FastCGI) under lighttpd, serving the pyramid TIFFs in ``images`` at ``url/<name>.tif``."""
    for tool in ("lighttpd", "vips"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not installed (apt-get install lighttpd iipimage-server libvips-tools)")
    fcgi = Path("/usr/lib/iipimage-server/iipsrv.fcgi")
    if not fcgi.exists():
        raise RuntimeError("iipimage-server not installed (apt-get install iipimage-server)")
    port = free_port()
    (tmp / "www").mkdir(exist_ok=True)
    environment = {"FILESYSTEM_PREFIX": f"{images}/", "LOGFILE": str(tmp / "iipsrv.log"), "VERBOSITY": "1",
                   "MAX_CVT": "3000", **{k: str(v) for k, v in env.items()}}
    conf = tmp / "lighttpd.conf"
    conf.write_text(f'''server.document-root = "{tmp / 'www'}"
server.port = {port}
server.bind = "127.0.0.1"
server.modules = ("mod_fastcgi", "mod_rewrite", "mod_accesslog")
server.errorlog = "{tmp / 'lighttpd-error.log'}"
accesslog.filename = "{tmp / 'access.log'}"
url.rewrite-once = ( "^/iiif/(.*)$" => "/fcgi-bin/iipsrv.fcgi?IIIF=$1" )
fastcgi.server = ( "/fcgi-bin/iipsrv.fcgi" => (( "socket" => "{tmp / 'iipsrv.sock'}", "check-local" => "disable",
  "bin-path" => "{fcgi}", "max-procs" => 1,
  "bin-environment" => ( {", ".join(f'"{k}" => "{v}"' for k, v in environment.items())} ) )) )
''')
    proc = subprocess.Popen(["lighttpd", "-D", "-f", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/iiif"
    _wait(f"http://127.0.0.1:{port}/", proc)

    def stop():
        proc.terminate()
        proc.wait(10)

    return Server(url, stop, tmp / "access.log")


def reference_server(images: Path) -> Server:
    """The IIIF reference implementation's server (Image API 3.0, PIL): ``url/<stem>``."""
    port = free_port()
    exe = Path(sys.executable).with_name("iiif_testserver.py")
    proc = subprocess.Popen([sys.executable, str(exe), "--host", "127.0.0.1", "--port", str(port), "--image-dir",
                             str(images), "--api-versions", "3.0", "--manipulators", "pil"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=images.parent)  # its pid file
    _wait(f"http://127.0.0.1:{port}/", proc)

    def stop():
        proc.terminate()
        proc.wait(10)

    return Server(f"http://127.0.0.1:{port}/3.0_pil", stop)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def static_server(root: Path) -> Server:
    """A plain HTTP server of the folder ``root`` (a level-0 static tile tree)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def stop():
        httpd.shutdown()
        httpd.server_close()

    return Server(f"http://127.0.0.1:{httpd.server_address[1]}", stop)


def static_tiles(image: Path, out: Path, prefix: str, identifier: str, tile: int = 512) -> None:
    """A level-0 tile tree of ``image`` made by the reference implementation's ``iiif_static.py``."""
    exe = Path(sys.executable).with_name("iiif_static.py")
    subprocess.run([sys.executable, str(exe), "-d", str(out), "-t", str(tile), "-p", prefix, "-i", identifier,
                    str(image)], check=True, capture_output=True, timeout=300)


class Proxy:
    """An HTTP proxy to ``upstream`` on its own port (``url``) that rewrites ``upstream`` to itself in JSON
    answers and, on demand: answers 500 to every ``fail_every``-th request, holds the ``hang``-th request for
    ``hang_seconds``, answers nothing once ``die_after`` tile requests passed, rewrites info.json through
    ``rewrite``. ``requests`` lists the paths asked, ``served`` the tiles answered; ``tiles`` counts them, ``bytes``
    their bytes."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.fail_every = 0
        self.hang, self.hang_seconds = None, 0.0
        self.die_after = None
        self.rewrite = None
        self.requests, self.served, self.tiles, self.bytes, self.failed = [], [], 0, 0, 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy._serve(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _serve(self, handler):
        path = handler.path
        with self.lock:
            self.requests.append(path)
            n = len(self.requests)
            is_tile = not path.endswith(".json")
            dead = self.die_after is not None and is_tile and self.tiles >= self.die_after
            fail = self.fail_every and n % self.fail_every == 0
            hang = self.hang is not None and n == self.hang
        if dead:
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if hang:
            time.sleep(self.hang_seconds)
        if fail:
            with self.lock:
                self.failed += 1
            self._answer(handler, 500, b"injected failure", "text/plain")
            return
        try:
            with urllib.request.urlopen(self.upstream + path, timeout=60) as r:
                body, status, kind = r.read(), r.status, r.headers.get("Content-Type", "application/octet-stream")
        except urllib.error.HTTPError as e:
            body, status, kind = e.read(), e.code, "text/plain"
        if path.endswith(".json") and status == 200:
            text = body.decode().replace(self.upstream, self.url)
            if self.rewrite is not None:
                text = self.rewrite(text)
            body = text.encode()
        elif status == 200:
            with self.lock:
                self.tiles += 1
                self.bytes += len(body)
                self.served.append(path)
        self._answer(handler, status, body, kind)

    @staticmethod
    def _answer(handler, status, body, kind):
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", kind)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            pass

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def no_proxy_env() -> dict:
    """The environment of a child bigocr: no proxy from the machine's settings between it and 127.0.0.1."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env
