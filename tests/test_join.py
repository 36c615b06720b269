"""Words cut at a punctuation mark are joined again; word spaces, commas before a space, rules and specks are not."""

import cv2
import numpy as np
import pytest

from bigocr.document import Word
from bigocr.words.join import MAX_SKEW, join_split_words


class Page:
    """A scan in memory: what join_split_words reads."""

    def __init__(self, pixels: np.ndarray):
        self.pixels = pixels
        self.height, self.width = pixels.shape[:2]

    def read(self, y0, y1, x0, x1):
        return self.pixels[y0:y1, x0:x1]


def _line(text: str) -> np.ndarray:
    pixels = np.full((120, 60 + 40 * len(text), 3), 255, np.uint8)
    cv2.putText(pixels, text, (20, 80), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (0, 0, 0), 4, cv2.LINE_AA)
    return pixels


def _two_words(pixels: np.ndarray, first_letters: int = 2) -> list[Word]:
    """Boxes as a detector cuts them: the first ``first_letters`` letters, then the rest; marks in neither."""
    ink = (cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY) < 128).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink)
    letters = sorted(s.tolist() for s in stats[1:] if s[3] > 25)
    words = []
    for group in (letters[:first_letters], letters[first_letters:]):
        x0, x1 = min(c[0] for c in group) - 2, max(c[0] + c[2] for c in group) + 2
        y0, y1 = min(c[1] for c in group) - 3, max(c[1] + c[3] for c in group) + 3
        words.append(Word(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32), 0.9))
    return words


@pytest.mark.parametrize("text", ["14.20", "09:40"])
def test_a_number_cut_at_its_dot_or_colon_is_one_word_again(text):
    pixels = _line(text)
    words = _two_words(pixels)
    joined, count = join_split_words(Page(pixels), words, [[0, 1]])
    assert count == 1 and len(joined) == 1
    both = np.concatenate([w.box for w in words])
    assert joined[0].box[0].tolist() == both.min(axis=0).tolist() and joined[0].box[2].tolist() == both.max(axis=0).tolist()


@pytest.mark.parametrize("text", ["AB, CD", "ab cd"])
def test_a_word_space_stays_even_after_a_comma(text):
    pixels = _line(text)
    words = _two_words(pixels)
    assert join_split_words(Page(pixels), words, [[0, 1]])[1] == 0


def test_a_rule_under_the_words_or_a_speck_between_them_joins_nothing():
    pixels = _line("ab cd")
    words = _two_words(pixels)
    (_, _), (ax1, _), _, _ = words[0].box.astype(int)
    bx0 = int(words[1].box[0, 0])
    underlined = pixels.copy()
    cv2.line(underlined, (10, 82), (underlined.shape[1] - 10, 82), (0, 0, 0), 3)
    assert join_split_words(Page(underlined), words, [[0, 1]])[1] == 0
    specked = pixels.copy()
    specked[70:72, (ax1 + bx0) // 2:(ax1 + bx0) // 2 + 2] = 0
    assert join_split_words(Page(specked), words, [[0, 1]])[1] == 0


def test_words_on_different_lines_or_a_skewed_page_are_left_alone():
    pixels = _line("14.20")
    words = _two_words(pixels)
    assert join_split_words(Page(pixels), words, [[0], [1]])[1] == 0
    assert join_split_words(Page(pixels), words, [[0, 1]], skew=MAX_SKEW + 1)[1] == 0
    assert join_split_words(Page(pixels), [], [])[1] == 0
