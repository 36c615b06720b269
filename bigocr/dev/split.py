"""Which page is for what: training, choices (``eval``) or reported figures (``test``).

The development scans (``shared/data/real``) are split three ways, by the unit
that shares fonts and layout across pages, so that a test page never has a
sibling in training:

- **VD-SBB** by *work* (the file stem up to its page number).  The test works
  are the six whose development pages were never in the eval split (nothing was
  chosen on them) nor trained on: ``durrgeda_…`` and ``extraudeu_…`` have no
  page in the training pool either; the other four have three pages each there,
  and those pages are *held out* (used for nothing) from now on.  The other
  eight works are the eval split.  There is no VD-SBB training page here.
- **SROIE** by *shop* (its company line).  The training third (by a hash of the
  stem, as since the first session: those receipts were trained on) stays
  training; of the rest, the receipts of shops with no receipt in the training
  pool (``DI HUAN YA RESTAURANT``, ``SANYU STATIONERY SHOP``, ``PASARAYA CINWA``)
  are test, the others eval.
- **FUNSD** (its training forms are all there is): the same training third;
  the rest split in two by a second hash, test and eval.

In the training pool (``shared/data/train``) every page trains except those of a
test work or shop (:data:`HELD`).  Figures are reported on ``test`` only; every
choice (a checkpoint, a threshold, a rule) is made on ``eval``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

__all__ = ["SPLITS", "TEST_WORKS", "TEST_SHOPS", "HELD", "work_of", "shop_of", "split_of", "is_development"]

#: What :func:`split_of` returns.  ``held``: a training-pool page of a test work or shop (used for nothing).
SPLITS = ("train", "eval", "test", "held")
HELD = "held"

#: VD-SBB works (stem without the page number) whose pages are test pages.
TEST_WORKS = frozenset({
    "borrdisc_689809840", "brochrnx_73075507X", "caladr_68232602X", "chridiss_672987120",
    "durrgeda_735780412", "extraudeu_630991022",
})

#: SROIE shops (upper-case words of the company line) whose receipts are test receipts.
TEST_SHOPS = ("DI HUAN YA", "SANYU STATIONERY", "PASARAYA CINWA")

#: The lines of a receipt's top searched for its shop.
_SHOP_LINES = 6


def _hash(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def work_of(stem: str) -> str:
    """The VD-SBB work of a page: its stem without the trailing page number (``…_00000082``)."""
    return re.sub(r"_\d+$", "", stem)


def shop_of(doc: dict) -> str | None:
    """The test shop a SROIE receipt comes from (one of :data:`TEST_SHOPS`), or None.

    Looked for in the receipt's top lines (the company line is among the first
    few: some receipts start with a till number or a customer's name).
    """
    items = sorted(doc.get("words") or [], key=lambda w: min(p[1] for p in w["box"]))[:_SHOP_LINES]
    top = " ".join(" ".join(str(w.get("text") or "").upper().split()) for w in items)
    return next((shop for shop in TEST_SHOPS if shop in top), None)


def is_development(folder: Path) -> bool:
    """Whether ``folder`` is a source of the development scans (``…/real/<source>``), split three ways."""
    return Path(folder).resolve().parent.name == "real"


def split_of(stem: str, source: str = "funsd", doc: dict | None = None, *, development: bool = True) -> str:
    """``"train"``, ``"eval"``, ``"test"`` or ``"held"`` for one page (see the module's docstring).

    Parameters
    ----------
    stem : str
        The file stem (``0000971160``, ``281``, ``durrgeda_735780412_00000051``).
    source : str
        ``funsd``, ``sroie``, ``vdsbb`` (the folder's name); any other source
        splits as FUNSD does.
    doc : dict, optional
        The page's truth: SROIE's shop is read from it (a receipt without it
        raises ValueError).
    development : bool
        False for a page of the training pool: ``train``, or ``held`` when
        it belongs to a test work or shop (or is a FUNSD page outside the
        training third: a copy of the development forms never trains on
        their test pages).
    """
    if source == "vdsbb":
        test = work_of(stem) in TEST_WORKS
        if not development:
            return HELD if test else "train"
        return "test" if test else "eval"
    if source == "sroie":
        if doc is None:
            raise ValueError(f"{stem}: a SROIE receipt's split needs its truth (the shop is read from it)")
        if shop_of(doc):  # a test shop's receipt, wherever it lies
            return "test" if development else HELD
        if not development:
            return "train"
        return "train" if _hash(stem) < 1 / 3 else "eval"
    if source != "funsd" and not development:
        return "train"
    # FUNSD (and any other development source): the training third, then test and eval by a second hash;
    # a FUNSD page found outside the development folder trains only if it is of the training third
    if _hash(stem) < 1 / 3:
        return "train"
    if not development:
        return HELD
    return "test" if _hash("test:" + stem) < 0.5 else "eval"
