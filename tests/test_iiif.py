"""IIIF in and out, against real servers on 127.0.0.1 (tests/iiif_servers.py): IIPImage under lighttpd
(Image API 2, JPEG tiles), the IIIF reference implementation's server (Image API 3, PNG) and a level-0 static
tile tree, each read by bigocr as a real process; faults injected by a proxy in front of them."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
import tifffile

from iiif_servers import Proxy, iipimage, no_proxy_env, reference_server, static_server, static_tiles

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL = SHARED / "data" / "real" / "vdsbb"

if not REAL.is_dir():
    pytest.skip("../shared/data/real is not here", allow_module_level=True)


def _bigocr(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "bigocr", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**no_proxy_env(), **(env or {})})


def _words(out: Path):
    doc = json.loads((out / "words.json").read_text())
    return [(np.asarray(w["box"]), w["text"]) for w in doc["words"]]


def _iou(a, b) -> float:
    (ax0, ay0), (ax1, ay1) = a.min(0), a.max(0)
    (bx0, by0), (bx1, by1) = b.min(0), b.max(0)
    inter = max(0, min(ax1, bx1) - max(ax0, bx0)) * max(0, min(ay1, by1) - max(ay0, by0))
    return inter / ((ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter + 1e-9)


def _same(a: Path, b: Path, iou: float = 0.99) -> tuple[int, int, int]:
    """Words of run ``a`` with a word of run ``b`` of the same text at IoU >= ``iou``; of how many, and how many
    ``b`` has."""
    wa, wb = _words(a), _words(b)
    used, same = set(), 0
    for box, text in wa:
        for k, (other, t) in enumerate(wb):
            if k not in used and t == text and _iou(box, other) >= iou:
                used.add(k)
                same += 1
                break
    return same, len(wa), len(wb)


def _served_pixels(info_url: str) -> np.ndarray:
    """The image as the server serves it, fetched tile by tile here (requests and OpenCV, not bigocr)."""
    info = requests.get(info_url, timeout=30).json()
    base = info.get("id") or info["@id"]
    w, h = info["width"], info["height"]
    tile = next(t for t in info["tiles"] if 1 in t["scaleFactors"])
    tw, th = tile["width"], tile.get("height", tile["width"])
    out = np.zeros((h, w, 3), np.uint8)
    v3 = "image/3" in str(info["@context"])
    for y in range(0, h, th):
        for x in range(0, w, tw):
            rw, rh = min(tw, w - x), min(th, h - y)
            size = f"{rw},{rh}" if v3 else f"{rw},"
            fmt = "png" if v3 else "jpg"
            r = requests.get(f"{base}/{x},{y},{rw},{rh}/{size}/0/default.{fmt}", timeout=30)
            r.raise_for_status()
            out[y:y + rh, x:x + rw] = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    return out


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A real VD-SBB page, its local run (words, read), and the folder for servers."""
    d = tmp_path_factory.mktemp("iiif")
    source = sorted(REAL.glob("*.tif"))[0]
    (d / "images").mkdir()
    shutil.copy(source, d / "images" / "page.tif")
    run = _bigocr("run", source, "-o", d / "local", "--no-preview", "-q")
    assert run.returncode == 0, run.stderr
    return d, source


@pytest.fixture(scope="module")
def reference(page):
    d, _ = page
    server = reference_server(d / "images")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def static(page):
    """A level-0 tile tree (512 px tiles, JPEG) behind a proxy (which counts and injects faults)."""
    d, source = page
    root = d / "static"
    root.mkdir()
    server = static_server(root)
    static_tiles(source, root, server.url, "page")
    proxy = Proxy(server.url)
    yield proxy
    proxy.stop()
    server.stop()


def test_image_api_3_png_gives_the_local_words(page, reference, tmp_path):
    """The reference server (Image API 3, level 1, PNG: the pixels as they are): the words of the local file,
    every one (IoU >= 0.99, the same text)."""
    d, _ = page
    run = _bigocr("run", f"{reference.url}/page/info.json", "-o", tmp_path / "out", "--no-preview", "-q")
    assert run.returncode == 0, run.stderr
    same, local, served = _same(d / "local", tmp_path / "out")
    assert same == local == served and local > 150, (same, local, served)
    doc = json.loads((tmp_path / "out" / "words.json").read_text())
    assert doc["scan"]["iiif"]["version"] == 3 and doc["scan"]["iiif"]["format"] == "png"


def test_iipimage_serves_the_words_of_its_pixels_within_its_limits(page, tmp_path):
    """IIPImage (Image API 2, JPEG tiles from a pyramid TIFF made by vips): the words of the same pixels read
    locally, every one; the original's words but for JPEG's changes; no request past maxWidth/maxHeight;
    bytes fetched at most 1.5x the original's compressed size."""
    d, source = page
    images = tmp_path / "pyramid"
    images.mkdir()
    subprocess.run(["vips", "tiffsave", str(source), str(images / "page.tif"), "--tile", "--pyramid",
                    "--compression", "deflate", "--tile-width", "256", "--tile-height", "256"], check=True)
    server = iipimage(images, tmp_path, JPEG_QUALITY=95, MAX_CVT=1000)
    proxy = Proxy(server.url)
    try:
        url = f"{proxy.url}/page.tif/info.json"
        run = _bigocr("run", url, "-o", tmp_path / "out", "--no-preview", "-q")
        assert run.returncode == 0, run.stderr
        fetched, regions = proxy.bytes, [p.split("/")[-4] for p in proxy.requests if p.endswith(".jpg")]
        tifffile.imwrite(tmp_path / "served.tif", _served_pixels(url), photometric="rgb")
    finally:
        proxy.stop()
        server.stop()
    run = _bigocr("run", tmp_path / "served.tif", "-o", tmp_path / "served", "--no-preview", "-q")
    assert run.returncode == 0, run.stderr
    same, served_local, served = _same(tmp_path / "served", tmp_path / "out")
    assert same == served_local == served and served > 150, (same, served_local, served)
    same, original, _ = _same(d / "local", tmp_path / "out", iou=0.5)
    assert same >= 0.8 * original, (same, original)  # what JPEG at quality 95 changes: a few readings
    info = json.loads((tmp_path / "out" / "words.json").read_text())["scan"]["iiif"]
    assert info["version"] == 2 and info["limits"][:2] == [1000, 1000]
    assert regions and all(max(int(v) for v in r.split(",")[2:]) <= 1000 for r in regions)
    assert fetched <= 1.5 * source.stat().st_size, (fetched, source.stat().st_size)


def test_a_level_0_static_tree_is_read_tile_by_tile(page, static, tmp_path):
    """Only the tree's own tiles are asked for (any other request would be a 404), each once, the scale's
    sample included; the finished job run again asks for none."""
    static.requests.clear()
    run = _bigocr("run", f"{static.url}/page/info.json", "-o", tmp_path / "out", "--no-preview", "-q")
    assert run.returncode == 0, run.stderr
    tiles = [p for p in static.requests if p.endswith(".jpg")]
    assert len(tiles) == len(set(tiles)) == 3 * 4  # 1275 x 2033 in 512 px tiles
    static.requests.clear()
    run = _bigocr("run", f"{static.url}/page/info.json", "-o", tmp_path / "out", "--no-preview", "-q",
                  "--format", "json,txt")
    assert run.returncode == 0 and (tmp_path / "out" / "text.txt").exists(), run.stderr  # a format added
    assert [p for p in static.requests if p.endswith(".jpg")] == []
    tifffile.imwrite(tmp_path / "served.tif", _served_pixels(f"{static.url}/page/info.json"), photometric="rgb")
    run = _bigocr("run", tmp_path / "served.tif", "-o", tmp_path / "served", "--no-preview", "-q")
    assert run.returncode == 0, run.stderr
    same, local, served = _same(tmp_path / "served", tmp_path / "out")
    assert same == local == served, (same, local, served)


def test_a_server_failing_one_request_in_ten_or_hanging_one_still_gives_the_words(page, static, tmp_path):
    clean = tmp_path / "clean"
    assert _bigocr("run", f"{static.url}/page/info.json", "-o", clean, "--no-preview", "-q").returncode == 0
    static.fail_every, static.failed = 10, 0
    static.hang, static.hang_seconds = len(static.requests) + 3, 20  # the third request from here hangs
    try:
        run = _bigocr("run", f"{static.url}/page/info.json", "-o", tmp_path / "out", "--no-preview", "-q",
                      env={"BIGOCR_HTTP_TIMEOUT": "2"})
    finally:
        static.fail_every, static.hang = 0, None
    assert run.returncode == 0, run.stderr
    assert static.failed >= 1
    same, n, m = _same(clean, tmp_path / "out")
    assert same == n == m


def test_the_server_gone_mid_run_exits_7_and_the_rerun_fetches_only_the_rest(page, static, tmp_path):
    url = f"{static.url}/page/info.json"
    static.served.clear()
    static.tiles, static.die_after = 0, 5
    try:
        run = _bigocr("run", url, "-o", tmp_path / "out", "--no-preview", "-q", "--scale", "1",
                      env={"BIGOCR_HTTP_TIMEOUT": "2", "BIGOCR_HTTP_RETRIES": "2"})
    finally:
        static.die_after = None
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 7, run.stderr
    assert len(lines) == 1 and "run the same command again to resume" in lines[0] and static.url in lines[0]
    assert not (tmp_path / "out" / "words.json").exists()
    first = set(static.served)
    static.served.clear()
    run = _bigocr("run", url, "-o", tmp_path / "out", "--no-preview", "-q", "--scale", "1")
    assert run.returncode == 0, run.stderr
    second = list(static.served)
    assert len(first) >= 5 and first.isdisjoint(second) and len(first) + len(second) == 12, (first, second)


def test_an_info_json_that_lies_and_urls_that_are_not_iiif(page, static, tmp_path):
    d, _ = page
    static.rewrite = lambda text: text.replace('"width": 1275', '"width": 1875')
    try:
        run = _bigocr("run", f"{static.url}/page/info.json", "-o", tmp_path / "lie", "--no-preview", "-q")
    finally:
        static.rewrite = None
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and "info.json" in lines[0], run.stderr
    assert not (tmp_path / "lie" / "words.json").exists()
    (d / "static" / "index.html").write_text("<html>not IIIF</html>")
    for url, code, words in ((f"{static.url}/index.html", 2, "not a IIIF"), (f"{static.url}/nothing/info.json", 2,
                              "HTTP 404"), ("http://127.0.0.1:9/info.json", 7, "cannot connect")):
        run = _bigocr("run", url, "-o", tmp_path / "bad", "--no-preview", "-q",
                      env={"BIGOCR_HTTP_TIMEOUT": "2", "BIGOCR_HTTP_RETRIES": "1"})
        lines = run.stderr.strip().splitlines()
        assert run.returncode == code and len(lines) == 1 and words in lines[0] and url.split("/info")[0] in lines[0], \
            (url, run.stderr)
        assert not (tmp_path / "bad").exists()


def _manifest(version: int, canvases: list[tuple[str, int, int]]) -> dict:
    base = "http://example.org/book"
    if version == 3:
        return {"@context": "http://iiif.io/api/presentation/3/context.json", "id": f"{base}/manifest.json",
                "type": "Manifest", "label": {"en": ["A book"]},
                "items": [{"id": f"{base}/canvas/{k}", "type": "Canvas", "width": w, "height": h,
                           "label": {"en": [f"p. {k}"]},
                           "items": [{"id": f"{base}/page/{k}", "type": "AnnotationPage", "items": [
                               {"id": f"{base}/anno/{k}", "type": "Annotation", "motivation": "painting",
                                "target": f"{base}/canvas/{k}",
                                "body": {"id": f"{svc}/full/max/0/default.jpg", "type": "Image",
                                         "service": [{"id": svc, "type": "ImageService3", "profile": "level1"}]}}]}]}
                          for k, (svc, w, h) in enumerate(canvases, 1)]}
    return {"@context": "http://iiif.io/api/presentation/2/context.json", "@id": f"{base}/manifest.json",
            "@type": "sc:Manifest", "label": "A book",
            "sequences": [{"@type": "sc:Sequence", "canvases": [
                {"@id": f"{base}/canvas/{k}", "@type": "sc:Canvas", "width": w, "height": h, "label": f"p. {k}",
                 "images": [{"@type": "oa:Annotation", "motivation": "sc:painting", "on": f"{base}/canvas/{k}",
                             "resource": {"@id": f"{svc}/full/full/0/default.jpg", "@type": "dctypes:Image",
                                          "service": {"@context": "http://iiif.io/api/image/2/context.json",
                                                      "@id": svc, "profile": "http://iiif.io/api/image/2/level0.json"}}}]}
                for k, (svc, w, h) in enumerate(canvases, 1)]}]}


@pytest.mark.parametrize("version", [3, 2])
def test_a_manifest_gives_one_annotation_page_per_canvas(page, reference, static, tmp_path, version):
    """Every canvas read, its words as W3C annotations (word and line) on the canvas in its own coordinates
    (the canvas half the image's size: boxes halved), valid against iiif-prezi3's Presentation 3 models; and a
    copy of the manifest pointing at them."""
    from iiif_prezi3 import AnnotationPage

    d, _ = page
    canvases = [(f"{reference.url}/page", 1275, 2033), (f"{static.url}/page", 637, 1016)]
    folder = d / "static" / f"book{version}"
    folder.mkdir(exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(_manifest(version, canvases)))
    out = tmp_path / "out"
    run = _bigocr("batch", f"{static.url}/book{version}/manifest.json", "-o", out, "--format", "json,iiif",
                  "--no-preview", "-q", "--base-url", "https://example.org/ocr")
    assert run.returncode == 0, run.stderr
    copy = json.loads((out / f"book{version}" / "manifest.json").read_text())
    for k, (_, width, height) in enumerate(canvases, 1):
        folder = out / f"book{version}" / f"canvas-{k:04d}"
        doc = json.loads((folder / "annotations.json").read_text())
        page_id = f"https://example.org/ocr/book{version}/canvas-{k:04d}/annotations.json"
        assert doc["id"] == page_id and doc["type"] == "AnnotationPage"
        AnnotationPage(**{key: v for key, v in doc.items() if key != "@context"})  # raises if not valid
        words = json.loads((folder / "words.json").read_text())
        assert words["scan"]["iiif"]["canvas"]["id"] == f"http://example.org/book/canvas/{k}"
        kinds = [a["textGranularity"] for a in doc["items"]]
        assert kinds.count("word") == sum(1 for w in words["words"] if w["text"]) > 150 and "line" in kinds
        first = next(a for a in doc["items"] if a["textGranularity"] == "word")
        canvas, xywh = first["target"].split("#xywh=")
        assert canvas == f"http://example.org/book/canvas/{k}"
        x, y, w, h = map(int, xywh.split(","))
        box = np.asarray(words["words"][0]["box"]) * [width / 1275, height / 2033]
        assert abs(x - box[:, 0].min()) <= 1 and abs(y - box[:, 1].min()) <= 1
        assert first["body"] == {"type": "TextualBody", "value": words["words"][0]["text"], "format": "text/plain"}
        if version == 3:
            assert copy["items"][k - 1]["annotations"] == [{"id": page_id, "type": "AnnotationPage"}]
        else:
            assert copy["sequences"][0]["canvases"][k - 1]["otherContent"][-1]["@id"] == page_id


def test_iiif_output_of_a_local_scan(page, tmp_path):
    from iiif_prezi3 import AnnotationPage

    _, source = page
    run = _bigocr("run", source, "-o", tmp_path / "out", "--format", "iiif", "--no-preview", "-q")
    assert run.returncode == 0, run.stderr
    doc = json.loads((tmp_path / "out" / "annotations.json").read_text())
    AnnotationPage(**{key: v for key, v in doc.items() if key != "@context"})
    assert doc["items"][0]["target"].startswith(source.resolve().as_uri() + "#xywh=")
    assert doc["id"] == (tmp_path / "out").resolve().as_uri() + "/annotations.json"
