"""Pictures to look at: ``preview.png`` (the scan with its words) and heat maps.

Both are made strip by strip: the scan is read in bands of rows and each band
is shrunk on its own (area averaging), and the maps are read from
``maps.zarr`` the same way, so no full-resolution scan or map is ever held.
"""

from __future__ import annotations


import cv2
import numpy as np

__all__ = ["preview_size", "downscale", "draw_words", "write_preview", "write_heatmaps", "PREVIEW_SIDE"]

#: Longest side of ``preview.png`` in pixels.
PREVIEW_SIDE = 4000
#: Bytes of full-resolution rows read at a time.
STRIP_BYTES = 64 << 20


def preview_size(height: int, width: int, max_side: int = PREVIEW_SIDE) -> tuple[int, int]:
    """``(h, w)`` of the preview: the scan shrunk so its longest side is at most ``max_side``."""
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def downscale(read_rows, height: int, out_shape: tuple[int, int], *, row_bytes: int, align: int = 1) -> np.ndarray:
    """Shrink an image read band by band.

    Parameters
    ----------
    read_rows : callable
        ``read_rows(y0, y1) -> ndarray (y1 - y0, width[, c])``: full-width bands.
    height : int
        Rows of the full image.
    out_shape : (int, int)
        ``(h, w)`` of the result (each at most the input's).
    row_bytes : int
        Bytes of one full-resolution row, to size the bands.
    align : int
        Bands start on multiples of this many rows (the storage's chunk height).

    Returns
    -------
    ndarray, shape out_shape (+ channels), dtype of the input
        Each output row is the area average of the input rows it covers.
    """
    out_h, out_w = out_shape
    rows = max(align, (STRIP_BYTES // max(1, row_bytes)) // align * align)
    bands = []
    y0 = 0
    while y0 < height:
        y1 = min(height, y0 + rows)
        o0, o1 = round(y0 * out_h / height), round(y1 * out_h / height)
        if o1 > o0:
            band = np.asarray(read_rows(y0, y1))
            bands.append(cv2.resize(band, (out_w, o1 - o0), interpolation=cv2.INTER_AREA))
        y0 = y1
    return np.concatenate(bands, axis=0)


def draw_words(image: np.ndarray, result, scale: float) -> np.ndarray:
    """Draw blocks (blue, numbered in reading order), lines (green) and words (red) on an RGB ``image``.

    ``scale`` maps scan pixels to ``image`` pixels.  Returns a new RGB image.
    """
    canvas = np.array(image, order="C")
    thick = max(1, round(min(canvas.shape[:2]) / 1500))
    layout = result.layout

    def pts(quad):
        return np.round(np.asarray(quad, np.float64) * scale).astype(np.int32).reshape(-1, 1, 2)

    for line in layout.lines:
        cv2.polylines(canvas, [pts(line.box)], True, (60, 170, 60), thick, cv2.LINE_AA)
    for word in result.words:
        shape = word.box if word.polygon is None else word.polygon
        cv2.polylines(canvas, [pts(shape)], True, (230, 40, 40), thick, cv2.LINE_AA)
    font = max(0.4, min(canvas.shape[:2]) / 2500)
    for n, block in enumerate(layout.blocks, 1):
        corner = pts(block.box)
        cv2.polylines(canvas, [corner], True, (30, 120, 220), thick + 1, cv2.LINE_AA)
        x, y = corner[0, 0]
        cv2.putText(canvas, str(n), (int(x), max(12, int(y) - 4)), cv2.FONT_HERSHEY_SIMPLEX, font,
                    (30, 120, 220), thick + 1, cv2.LINE_AA)
    return canvas


def _write_png(out, name: str, bgr: np.ndarray) -> str:
    """Encode an image in OpenCV's channel order (BGR) and write it atomically into ``out``."""
    from bigocr.outdir import OutDir

    ok, data = cv2.imencode(".png", np.ascontiguousarray(bgr))
    if not ok:
        raise OSError(f"{name}: PNG encoding failed")
    out = out if isinstance(out, OutDir) else OutDir(out)
    return out.write_bytes(name, data.tobytes())


def write_preview(scan, result, out, max_side: int = PREVIEW_SIDE) -> str:
    """Write ``out/preview.png``: the scan shrunk to ``max_side`` with its words drawn.

    ``out`` is a folder (path, URL or :class:`bigocr.outdir.OutDir`).  Returns where it was written.
    """
    out_h, out_w = preview_size(scan.height, scan.width, max_side)
    small = downscale(lambda y0, y1: scan.read(y0, y1, 0, scan.width), scan.height, (out_h, out_w),
                      row_bytes=3 * scan.width, align=scan.band_rows)
    picture = draw_words(small, result, out_w / scan.width)
    return _write_png(out, "preview.png", picture[..., ::-1])


def write_heatmaps(group, out, max_side: int = PREVIEW_SIDE) -> list[str]:
    """Write ``out/heatmap-region.png`` and ``out/heatmap-affinity.png`` from the stitched maps.

    ``group`` is the ``maps.zarr`` group (arrays ``region`` and ``affinity``,
    half the scan's resolution).  Scores 0..1 are shown with the *inferno*
    colour map (black 0, yellow 1).  Returns where they were written.
    """
    paths = []
    for name in ("region", "affinity"):
        array = group[name]
        h, w = array.shape
        out_h, out_w = preview_size(h, w, max_side)
        small = downscale(lambda y0, y1: array[y0:y1, :], h, (out_h, out_w), row_bytes=4 * w,
                          align=int(array.chunks[0]))
        gray = np.clip(np.rint(small * 255.0), 0, 255).astype(np.uint8)
        paths.append(_write_png(out, f"heatmap-{name}.png", cv2.applyColorMap(gray, cv2.COLORMAP_INFERNO)))
    return paths

