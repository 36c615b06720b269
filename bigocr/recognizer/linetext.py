"""A line's text: its words' readings, with what the line read as one crop shows between them.

Words are cut out and read one by one; what lies between two word boxes is
never read.  On receipts that is where the punctuation is: a dot in ``5.20``
that the detector left out (the line reads ``5 20``), a colon standing in its
own cell (``CASH :``), a trailing comma.  So every line is also read as one
crop (its box, :data:`PAD` of its height wider on either side, where a
trailing mark sits), and the two readings are combined (:func:`line_text`):

- where both readings have the same letters and digits (case aside), the
  words' text is kept and the marks the line's reading shows between them
  are put in (:func:`punctuate`): ``5 20`` + ``5.20`` -> ``5.20``; a mark
  before the line's first letter only where it opens (a bracket, a quote);
- where the letters differ, the line's reading replaces the words' when the
  recognizer is surer of it than of the least sure of the words;
- two digits the words' text sets apart are joined where the line's reading
  shows no space between them but spaces elsewhere: a number the detector cut
  in two (``15 MAY 201 8`` + ``15 MAY 2018`` -> ``15 MAY 2018``).

A reading of a line that shows no space at all while the words are three or
more (the historical readers were trained on single words, and read a long
line of print with its spaces dropped) keeps the words' spaces: its marks
go in beside them (``freylich unter`` + ``freylich,unter`` -> ``freylich,
unter``).

Chosen on the eval split and the training pool (never the test split), the
line read by ``fast`` (the cascade's first reader; the whole cascade does a
little better, 0.619 on the training receipts and 0.274 on prints, at three
times the cost: a long line's confidence is low, so nearly every line is
read again by two models): receipts' lines
read right (line-level end to end, case-folded) 0.373 -> 0.599 on the 3 eval
receipts and 0.476 -> 0.594 on 40 training receipts; prints' lines 0.262 ->
0.270 on the 8 eval pages (README and ``benchmarks/RESULTS.md`` have the test
split's figures).  The line's reading alone does better on receipts (0.627 on
the eval receipts) and ruins print (0.059: no spaces).  Joining the digits
(2026-12-04, ``benchmarks/linetext.py``, the same sets): eval receipts 0.616 ->
0.633, training receipts 0.661 -> 0.663, eval prints 0.269 -> 0.269 (taking the
reading's spaces everywhere it shows some: 0.633, 0.663 and 0.256, the prints
lose).
"""

from __future__ import annotations

import numpy as np

__all__ = ["PAD", "OPENING", "line_quad", "punctuate", "line_text"]

#: A line's crop is its box grown by this share of its height on the left and the right.
PAD = 0.3
#: Marks that may stand before a line's first letter (the others there are mostly noise: ``—Proſper``).
OPENING = "([{„‚¿¡«‹\"'"


def line_quad(box: np.ndarray, pad: float = PAD) -> np.ndarray:
    """A line's box ``(4, 2)``, clockwise from the top-left, grown by ``pad`` of its height along its length."""
    q = np.asarray(box, np.float64)
    across = (q[1] - q[0]) + (q[2] - q[3])
    across /= max(np.linalg.norm(across), 1e-9)
    height = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
    shift = pad * height * across
    return np.array([q[0] - shift, q[1] + shift, q[2] + shift, q[3] - shift], np.float32)


def _split(text: str) -> tuple[list[str], list[str]]:
    """The letters and digits of ``text``, and the strings around them (one more than the letters)."""
    gaps, chars, current = [], [], ""
    for ch in text:
        if ch.isalnum():
            gaps.append(current)
            chars.append(ch)
            current = ""
        else:
            current += ch
    gaps.append(current)
    return gaps, chars


def punctuate(words_text: str, reading: str, join_digits: bool = True) -> str | None:
    """``words_text`` with the marks ``reading`` shows between the same letters; None where the letters differ.

    >>> punctuate("5 20", "5.20"), punctuate("TEL 03-51", "TEL : 03-51"), punctuate("CASH", "CASH :")
    ('5.20', 'TEL : 03-51', 'CASH :')
    """
    word_gaps, letters = _split(words_text)
    read_gaps, read_letters = _split(reading)
    if not letters or [c.casefold() for c in letters] != [c.casefold() for c in read_letters]:
        return None
    spaced = " " in reading.strip() or words_text.count(" ") < 2
    out, last = [], len(word_gaps) - 1
    for i, (ours, theirs) in enumerate(zip(word_gaps, read_gaps)):
        marks = theirs.replace(" ", "")
        if i == 0:
            gap = theirs.lstrip() if marks and all(c in OPENING for c in marks) else ours.strip()
        elif i == last:
            gap = theirs.rstrip() if marks else ours.strip()
        elif not marks:
            # a number the detector cut in two (``201 8``) is one where the reading, which shows spaces
            # elsewhere, shows none
            joined = join_digits and " " in reading.strip() and letters[i - 1].isdigit() and letters[i].isdigit()
            gap = theirs if joined else ours
        elif spaced or " " not in ours:
            gap = theirs
        else:  # the reading shows no spaces: its marks, beside the words' space
            gap = " " + marks if all(c in OPENING for c in marks) else marks + " "
        out.append(gap)
        if i < len(letters):
            out.append(letters[i])
    return "".join(out)


def line_text(words: list[tuple[str, float | None]], reading: str, confidence: float | None,
              join_digits: bool = True) -> str:
    """The text of a line from its words' ``(text, confidence)`` in reading order and its own reading.

    See the module's docstring for the rule.
    """
    words_text = " ".join(text for text, _ in words if text)
    reading = " ".join((reading or "").split())
    if not reading:
        return words_text
    merged = punctuate(words_text, reading, join_digits)
    if merged is not None:
        return merged
    least = min((c or 0.0 for _, c in words), default=0.0)
    return reading if (confidence or 0.0) > least else words_text
