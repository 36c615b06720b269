"""GeoJSON (RFC 7946 structure) in scan pixel coordinates.

One ``Feature`` per word with a ``Polygon`` geometry (the box, or the
``--poly`` polygon), ring closed; properties ``id``, ``block``, ``line``,
``order`` (reading order), ``score`` and ``text``.  Coordinates are **not**
longitude/latitude: they are scan pixels, x to the right and y down from the
top-left corner of the scan.  The file says so in its foreign member
``"coordinates"``, so a GIS viewer can be set to a plain pixel CRS.
"""

from __future__ import annotations

import json

from bigocr.document import point_list

__all__ = ["geojson_dict", "geojson_bytes", "PIXEL_CONVENTION"]

PIXEL_CONVENTION = {
    "units": "scan pixels",
    "origin": "top-left corner of the scan's top-left pixel",
    "axes": ["x to the right", "y down"],
    "note": "not longitude/latitude; rings are counter-clockwise in (x, y) as RFC 7946 asks, "
            "which is clockwise on screen because y points down",
}


def _ring(points) -> list[list[float]]:
    pts = point_list(points)
    area2 = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1]))
    if area2 < 0:  # RFC 7946 right-hand rule: exterior ring counter-clockwise in (x, y)
        pts = pts[::-1]
    return pts + [pts[0]]


def geojson_dict(result) -> dict:
    """The GeoJSON FeatureCollection of ``result``."""
    from bigocr.writers._geometry import numbered

    features = []
    for b, _block, lines in numbered(result):
        for n_line, _line, words in lines:
            for order, word in words:
                shape = word.box if word.polygon is None else word.polygon
                features.append({
                    "type": "Feature",
                    "id": f"word_{order}",
                    "geometry": {"type": "Polygon", "coordinates": [_ring(shape)]},
                    "properties": {"block": b, "line": n_line, "order": order,
                                   "score": round(float(word.score), 4), "text": word.text,
                                   "confidence": None if word.confidence is None else round(float(word.confidence), 4)},
                })
    return {
        "type": "FeatureCollection",
        "coordinates": PIXEL_CONVENTION,
        "scan": {k: result.scan.get(k) for k in ("path", "width", "height", "page", "dpi")},
        "features": features,
    }


def geojson_bytes(result) -> bytes:
    """``words.geojson`` as UTF-8 bytes."""
    return (json.dumps(geojson_dict(result), indent=1) + "\n").encode()
