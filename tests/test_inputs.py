"""The input battery: malformed files get the right exit code and one line naming the file;
unusual but valid ones are processed."""

import json
import os
import struct
import zlib

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

import bigocr
from bigocr.cli import main
from bigocr.testing import FakeDetector, make_page
from bigocr.tiler.header import read_header
from bigocr.tiler.scan import open_scan


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` gray pixels, with one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))
            + _png_chunk(b"IEND", b""))


def _tiff_claiming(path, width: int, height: int) -> None:
    """A small valid TIFF whose ImageWidth/ImageLength tags are rewritten to claim another size."""
    tifffile.imwrite(path, np.zeros((4, 4), np.uint8))
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages.first.tags
        offsets = {code: tags[code].valueoffset for code in (256, 257)}
        types = {code: tags[code].dtype for code in (256, 257)}
    for code, value in ((256, width), (257, height)):
        fmt = "<I" if types[code] == 4 else "<H"
        struct.pack_into(fmt, data, offsets[code], value)
    path.write_bytes(bytes(data))


def _corrupt_strip_tiff(path) -> None:
    page = np.full((256, 256), 255, np.uint8)
    page[100:140, 50:200] = 0
    tifffile.imwrite(path, page, compression="zlib", rowsperstrip=64)
    with tifffile.TiffFile(path) as tif:
        offset, count = tif.pages.first.dataoffsets[1], tif.pages.first.databytecounts[1]
    data = bytearray(path.read_bytes())
    data[offset:offset + count] = bytes(range(256)) * (count // 256) + bytes(count % 256)
    path.write_bytes(bytes(data))


def _bad_inputs(d):
    """Files (or names) that must be refused: name -> (exit code, words the message must hold, extra args)."""
    (d / "empty.tif").write_bytes(b"")
    (d / "text.tif").write_text("this is not an image\n")
    (d / "folder.tif").mkdir()
    page = np.full((200, 300), 255, np.uint8)
    tifffile.imwrite(d / "whole.tif", page, compression="zlib", rowsperstrip=16)
    data = (d / "whole.tif").read_bytes()
    (d / "truncated.tif").write_bytes(data[: len(data) // 2])
    (d / "header-only.tif").write_bytes(data[:8])
    ok, png = cv2.imencode(".png", np.full((200, 300, 3), 255, np.uint8))
    (d / "truncated.png").write_bytes(png.tobytes()[: len(png) // 2])
    (d / "header-cut.png").write_bytes(png.tobytes()[:20])
    ok, jpg = cv2.imencode(".jpg", np.full((200, 300, 3), 255, np.uint8))
    (d / "truncated.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])
    (d / "no-frame.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9")
    ok, jp2 = cv2.imencode(".jp2", np.full((64, 64, 3), 255, np.uint8))
    (d / "truncated.jp2").write_bytes(jp2.tobytes()[: len(jp2) // 3])
    _tiff_claiming(d / "bomb.tif", 300_000, 300_000)
    (d / "bomb.png").write_bytes(_png_claiming(200_000, 200_000))
    (d / "huge.png").write_bytes(_png_claiming(40_000, 30_000))
    (d / "zero.png").write_bytes(_png_claiming(0, 0))
    tifffile.imwrite(d / "big.tif", np.full((300, 400), 255, np.uint8))
    _corrupt_strip_tiff(d / "corrupt-strip.tif")
    nan = np.ones((64, 64), np.float32)
    nan[10, 10] = np.nan
    tifffile.imwrite(d / "nan.tif", nan)
    tifffile.imwrite(d / "lab.tif", np.zeros((32, 32, 3), np.uint8), photometric="cielab")
    with tifffile.TiffWriter(d / "two-pages.tif") as tw:
        tw.write(page)
        tw.write(page)
    (d / "garbage.safetensors").write_text("not weights")
    (d / "weights-dir").mkdir()
    (d / "an-existing-file").write_text("precious")
    return {
        "missing.tif": (2, "no such file", []),
        "empty.tif": (2, "empty file", []),
        "text.tif": (2, "not an image", []),
        "folder.tif": (2, "is a directory", []),
        "truncated.tif": (2, "truncated", []),
        "header-only.tif": (2, "TIFF", []),
        "truncated.png": (2, "cannot decode", []),
        "header-cut.png": (2, "header", []),
        "truncated.jpg": (2, "truncated JPEG", []),
        "no-frame.jpg": (2, "no frame header", []),
        "truncated.jp2": (2, "decode", []),
        "bomb.tif": (2, "300000x300000 pixels is more than max_pixels", []),
        "bomb.png": (2, "200000x200000 pixels is more than max_pixels", []),
        "huge.png": (2, "convert it to a tiled TIFF", []),
        "zero.png": (2, "zero size", []),
        "big.tif": (2, "raise --max-pixels", ["--max-pixels", "1000"]),
        "corrupt-strip.tif": (2, "cannot decode pixels", []),
        "nan.tif": (2, "NaN", []),
        "lab.tif": (2, "unsupported TIFF photometric", []),
        "two-pages.tif": (2, "has 2 page(s); page 3 does not exist", ["--page", "3"]),
        "whole.tif": (3, "garbage.safetensors", ["--weights", str(d / "garbage.safetensors")]),
        "whole.tif ": (3, "weights-dir", ["--weights", str(d / "weights-dir")]),
        "whole.tif  ": (5, "an-existing-file", ["-o", str(d / "an-existing-file")]),
        "whole.tif   ": (1, "unknown output format 'docx'", ["--format", "json,docx"]),
    }


def test_the_battery_of_bad_inputs(tmp_path, random_weights, capsys):
    cases = _bad_inputs(tmp_path)
    assert len(cases) >= 20
    for name, (code, words, extra) in cases.items():
        scan = tmp_path / name.strip()
        out = tmp_path / f"out-{len(name)}-{name.strip()}"
        args = ["run", str(scan), "-o", str(out), "--weights", str(random_weights), "--device", "cpu",
                "--no-preview", "--max-side", "256", *extra]
        got = main(args)
        err = capsys.readouterr().err.strip()
        assert got == code, (name, err)
        assert len(err.splitlines()) == 1 and words in err, (name, err)
        if code == 2:
            assert str(scan) in err, err
        assert "Traceback" not in err
        assert not (out / "words.json").exists()
    assert (tmp_path / "an-existing-file").read_text() == "precious"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path, capsys):
    path = tmp_path / "locked.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8))
    path.chmod(0)
    assert main(["run", str(path), "-o", str(tmp_path / "o")]) == 2
    assert "permission denied" in capsys.readouterr().err


def test_a_header_bomb_is_refused_before_anything_is_allocated(tmp_path):
    import tracemalloc

    (tmp_path / "bomb.png").write_bytes(_png_claiming(60_000, 60_000))
    tracemalloc.start()
    with pytest.raises(bigocr.ScanError, match="max_pixels"):
        open_scan(tmp_path / "bomb.png", max_pixels=10**9)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20


def _run(source, **kwargs):
    return bigocr.detect(source, detector=FakeDetector(), scheduler="synchronous", max_side=256, **kwargs)


def test_tiny_and_thin_images_are_processed(tmp_path):
    cv2.imwrite(str(tmp_path / "one.png"), np.zeros((1, 1), np.uint8))
    result = _run(tmp_path / "one.png", out=tmp_path / "one", formats="json,alto,page,hocr,geojson", preview=True)
    assert result.scan["width"] == result.scan["height"] == 1
    assert (tmp_path / "one" / "alto.xml").exists() and (tmp_path / "one" / "preview.png").exists()
    page, boxes = make_page(80, 3000, words=30, seed=2)
    result = _run(page)
    assert len(boxes) == 30 and len(result.words) >= 20


def test_multipage_tiff_reads_the_page_asked_for(tmp_path, capsys):
    first, _ = make_page(200, 300, words=10, seed=1)
    second, _ = make_page(200, 300, words=40, seed=2)
    with tifffile.TiffWriter(tmp_path / "pages.tif") as tw:
        tw.write(first, compression="zlib")
        tw.write(second, compression="zlib")
    scan = open_scan(tmp_path / "pages.tif", page=1)
    assert scan.pages == 2 and np.array_equal(scan.read(0, 200, 0, 300), second)
    a, b = _run(tmp_path / "pages.tif"), _run(tmp_path / "pages.tif", page=1)
    assert a.scan["page"] == 0 and b.scan["page"] == 1 and len(b.words) > len(a.words)
    assert main(["plan", str(tmp_path / "pages.tif"), "--page", "2", "--max-side", "128"]) == 0


def test_ccitt_group4_bilevel_tiff(tmp_path):
    page, _ = make_page(300, 400, words=20, seed=3)
    bits = page[..., 0] > 128
    Image.fromarray(bits).save(tmp_path / "g4.tif", compression="group4", dpi=(300, 300))
    scan = open_scan(tmp_path / "g4.tif")
    pixels = scan.read(0, 300, 0, 400)
    assert np.array_equal(pixels[..., 0] > 128, bits)
    assert scan.dpi == (300.0, 300.0)
    assert len(_run(tmp_path / "g4.tif").words) > 5


def test_exif_orientation_is_applied(tmp_path):
    page, _ = make_page(200, 320, words=20, seed=5)
    image = Image.fromarray(page)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: a viewer turns it 90 degrees clockwise
    image.save(tmp_path / "turned.jpg", exif=exif, quality=95)
    scan = open_scan(tmp_path / "turned.jpg")
    assert scan.shape == (320, 200)
    shown = cv2.imread(str(tmp_path / "turned.jpg"), cv2.IMREAD_COLOR)[..., ::-1]  # OpenCV applies it too
    assert np.array_equal(scan.read(0, 320, 0, 200), shown)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_opencv(tmp_path, orientation):
    rng = np.random.default_rng(orientation)
    image = Image.fromarray(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(tmp_path / "o.png", exif=exif)
    scan = open_scan(tmp_path / "o.png")
    shown = cv2.imread(str(tmp_path / "o.png"), cv2.IMREAD_COLOR)[..., ::-1]
    assert np.array_equal(scan.read(0, scan.height, 0, scan.width), shown)


def test_dpi_is_read_and_recorded(tmp_path):
    page, _ = make_page(120, 160, words=5, seed=6)
    tifffile.imwrite(tmp_path / "cm.tif", page, resolution=(118.11, 118.11), resolutionunit="centimeter")
    Image.fromarray(page).save(tmp_path / "p.png", dpi=(600, 600))
    Image.fromarray(page).save(tmp_path / "j.jpg", dpi=(400, 300))
    tifffile.imwrite(tmp_path / "none.tif", page)
    assert open_scan(tmp_path / "cm.tif").dpi == pytest.approx((300.0, 300.0), abs=0.01)
    assert open_scan(tmp_path / "p.png").dpi == pytest.approx((600.0, 600.0), abs=0.01)
    assert open_scan(tmp_path / "j.jpg").dpi == (400.0, 300.0)
    assert open_scan(tmp_path / "none.tif").dpi is None
    _run(tmp_path / "p.png", out=tmp_path / "out", formats="json,page")
    doc = json.loads((tmp_path / "out" / "words.json").read_text())
    assert doc["scan"]["dpi"] == pytest.approx([600.0, 600.0], abs=0.01)
    assert 'imageXResolution="600' in (tmp_path / "out" / "page.xml").read_text()


def test_jpeg2000_and_16bit_png(tmp_path):
    page, _ = make_page(150, 200, words=10, seed=7)
    ok, jp2 = cv2.imencode(".jp2", page)
    (tmp_path / "p.jp2").write_bytes(jp2.tobytes())
    assert read_header(jp2.tobytes()[:4096]).width == 200
    assert np.array_equal(open_scan(tmp_path / "p.jp2").read(0, 150, 0, 200), page)
    cv2.imwrite(str(tmp_path / "p16.png"), page[..., 0].astype(np.uint16) * 257)
    assert np.array_equal(open_scan(tmp_path / "p16.png").read(0, 150, 0, 200), page)


def test_header_parser_reads_what_pillow_writes(tmp_path):
    image = Image.fromarray(np.zeros((37, 53, 3), np.uint8))
    for name, kwargs in (("a.png", {"dpi": (150, 150)}), ("a.jpg", {"dpi": (72, 96)}),
                         ("p.jpg", {"progressive": True})):
        image.save(tmp_path / name, **kwargs)
        header = read_header((tmp_path / name).read_bytes())
        assert (header.width, header.height) == (53, 37), name
    with pytest.raises(ValueError):
        read_header(b"GIF89a")


def _tiff_by_hand(path, width: int, height: int, data: bytes, compression: int, rows: int) -> None:
    """A one-strip gray TIFF whose header says what it is told to, whatever the data."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, compression), (262, 3, 1), (273, 4, 0),
               (277, 3, 1), (278, 4, rows), (279, 4, len(data))]
    start = 8 + 2 + 12 * len(entries) + 4
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        value = start if tag == 273 else value
        ifd += struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + data)


def test_a_header_claiming_more_than_its_strips_can_hold_is_refused_up_front(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, 20_000, dtype=np.uint8).tobytes()
    _tiff_by_hand(tmp_path / "deflate.tif", 60_000, 60_000, zlib.compress(noise), 8, 60_000)
    _tiff_by_hand(tmp_path / "raw.tif", 60_000, 60_000, bytes(20_000), 1, 60_000)
    _tiff_by_hand(tmp_path / "few-strips.tif", 60_000, 60_000, bytes(20_000), 1, 100)
    with pytest.raises(bigocr.ScanError, match=r"deflate.tif: the header claims 60000x60000 px .* deflate expands at "
                                              r"most 1100:1: the file cannot hold that image"):
        open_scan(tmp_path / "deflate.tif")
    with pytest.raises(bigocr.ScanError, match=r"raw.tif: .*its 1 strip holds 20 kB: the file cannot hold"):
        open_scan(tmp_path / "raw.tif")
    with pytest.raises(bigocr.ScanError, match=r"few-strips.tif: .* in 600 strips of 100 rows, but lists only 1"):
        open_scan(tmp_path / "few-strips.tif")
    # An honest file of the same construction opens and reads.
    _tiff_by_hand(tmp_path / "honest.tif", 300, 200, bytes(range(200)) * 300, 1, 200)
    assert open_scan(tmp_path / "honest.tif").read(0, 200, 0, 300).shape == (200, 300, 3)


def test_bad_scans_print_one_line_on_the_real_stderr(tmp_path):
    """As a user sees it, with the default weights present: one line, no worker log, no traceback."""
    import subprocess
    import sys

    page = (np.random.default_rng(1).integers(0, 255, (600, 400, 3))).astype(np.uint8)
    tifffile.imwrite(tmp_path / "ok.tif", page, compression="zlib", rowsperstrip=64)
    data = bytearray((tmp_path / "ok.tif").read_bytes())
    with tifffile.TiffFile(tmp_path / "ok.tif") as tif:
        offset, count = tif.pages[0].dataoffsets[3], tif.pages[0].databytecounts[3]
    data[offset:offset + count] = b"\x55" * count
    (tmp_path / "corrupt.tif").write_bytes(bytes(data))
    _tiff_by_hand(tmp_path / "forged.tif", 60_000, 60_000, zlib.compress(bytes(20_000)), 8, 60_000)
    cases = {  # scan, extra arguments -> exit code, words of the line
        "corrupt.tif": ([], 2, "corrupt.tif: cannot decode pixels"),
        "forged.tif": ([], 2, "forged.tif: the header claims 60000x60000 px"),
        "missing.tif": (["--weights", str(tmp_path / "no-such.pth")], 2, "missing.tif: no such file"),
        "forged.tif ": (["--weights", str(tmp_path / "no-such.pth")], 2, "cannot hold that image"),
    }
    for name, (extra, code, words) in cases.items():
        out = tmp_path / f"out-{len(name)}"
        run = subprocess.run([sys.executable, "-m", "bigocr", "run", str(tmp_path / name.strip()), "-o", str(out),
                              "--max-side", "256", "--no-preview", *extra], capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == code, (name, run.stderr)
        assert len(run.stderr.strip().splitlines()) == 1 and words in run.stderr, (name, run.stderr)
        assert not (out / "words.json").exists()
