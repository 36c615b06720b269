"""Historical transcriptions to what readers expect: MUFI private-use characters spelled out.

The OCR-D ground truth of the VD-SBB prints transcribes ligatures, abbreviation
signs and the old umlauts (a, o, u with a small e above) with code points from
the private use area, as the MUFI recommendation assigns them.  No font on a
user's machine shows them and no search finds them, so before training or
scoring a recognizer they are mapped to ordinary letters:

* ligatures to their letters (``ch``, ``ck``, ``ct``, ``ll``, ``ſſ``, ``ſt``, ``tz``, ...),
* the old umlauts to ``ä``, ``ö``, ``ü``,
* Latin abbreviation signs to what they abbreviate (``us``, ``is``, ``que``, ...).

The table was read off the training pages: each code point's meaning follows
from the words it stands in (``ni\\uf502t`` is *nicht*, ``i\\ueadat`` is *iſt*,
``K\\ue644nig`` is *König*).  Code points too rare or unclear to place map to
nothing.  Unicode's own presentation ligatures (``ﬁ``, ``ﬂ``, ``ﬀ``, ``ﬃ``,
``ﬆ``) become their letters; ``⸗`` (the historical hyphen) becomes ``-``.
``ſ``, ``ß``, ``æ``, ``œ`` and accented letters are kept: they are Unicode
letters a reader can search for.
"""

from __future__ import annotations

import unicodedata

__all__ = ["MUFI", "normalize_historical"]

#: Private-use code point -> letters, as inferred from the VD-SBB training pages (occurrences there).
MUFI = {
    "\uf502": "ch",   # 1605: nicht, auch, durch
    "\ueada": "ſt",   # 973: iſt, Chriſti
    "\ueba2": "ſi",   # 443: ſie, ſind, ſibi
    "\ue72b": "ü",    # 333: für, über
    "\ueba6": "ſſ",   # 282: laſſen, groſſe
    "\uf4f9": "ll",   # 256: alles, ſoll
    "\ue644": "ö",    # 205: König, können
    "\ueec5": "ct",   # 195: intellectus, doctrina
    "\ueec4": "ck",   # 159: Seckel, Zucker
    "\ueedc": "tz",   # 157: gantz, Nutzen
    "\ue42c": "ä",    # 121: Länder, Hände
    "\uf534": "us",   # 90: huius, quibus
    "\uf533": "is",   # 45: iuris, magis
    "\ueba7": "ſſi",  # 36: digniſſimum, poſſint
    "\uf537": "ta",   # 29: tamen, tantum, peccata
    "\ueba5": "ſp",   # 10: ſuſpicionem, ſpeculo
    "\uf535": "qu",   # 9: quare, quod
    "\uf50d": "que",  # 8: formamque, laxatque
    "\uf50e": "que",  # 6: atque, eumque
    "\ue8bf": "que",  # 2: quoque, itaque
    "\uf50f": "que",  # 1: denique
    "\uf50c": "que",  # 1: cumque
    "\uf519": "ck",   # 4: wercke
    "\uefa1": "æ",    # 1: pœnitentiæ
}
_LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬆ": "st", "ﬅ": "ſt", "⸗": "-"}


def normalize_historical(text: str) -> str:
    """``text`` with MUFI private-use characters spelled out and presentation ligatures split.

    Other private-use characters (rare, unplaced) are dropped; the result is
    NFC-composed (``u`` + combining ring becomes ``ů``).

    >>> normalize_historical("ni\\uf502t K\\ue644nig ﬁnden ge⸗")
    'nicht König finden ge-'
    """
    out = []
    for ch in text:
        if ch in MUFI:
            out.append(MUFI[ch])
        elif ch in _LIGATURES:
            out.append(_LIGATURES[ch])
        elif not 0xE000 <= ord(ch) <= 0xF8FF:
            out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))
