"""A line's text: the words' readings with the marks the line's own reading shows between them."""

import numpy as np

from bigocr.document import Block, Layout, Line, Result, Word
from bigocr.recognizer.linetext import line_quad, line_text, punctuate
from bigocr.writers import plain_text, render


def test_marks_between_and_after_the_words_come_from_the_lines_reading():
    assert punctuate("5 20", "5.20") == "5.20"  # a dot the word boxes left out
    assert punctuate("TEL 03-51217970", "TEL : 03-51217970") == "TEL : 03-51217970"
    assert punctuate("CASH", "CASH :") == "CASH :"  # a trailing mark, in its own cell
    assert punctuate("Sun 19:44", "(Sun) 19:44") == "(Sun) 19:44"  # an opening bracket before the first letter
    assert punctuate("Proſper Es", "—Proſper.Es") == "Proſper.Es"  # other marks there are mostly noise
    assert punctuate("a-b c", "a b c") == "a-b c"  # a mark the words have and the line does not is kept


def test_the_words_letters_and_case_are_kept_and_differing_letters_give_none():
    assert punctuate("Total RM 5 20", "TOTAL RM 5.20") == "Total RM 5.20"
    assert punctuate("5 20", "5.28") is None
    assert punctuate("", "5.20") is None


def test_a_reading_without_spaces_keeps_the_words_spaces():
    # the historical readers drop a long line's spaces: its marks go in, the spaces stay
    assert punctuate("freylich unter dem Vorwande", "freylich,unterdemVorwande") == "freylich, unter dem Vorwande"
    assert punctuate("Die Sache hier", "Die(Sache)hier") == "Die (Sache) hier"


def test_differing_letters_take_the_line_only_where_the_reader_is_surer_of_it():
    words = [("ENUY", 0.4), ("TIME", 0.95)]
    assert line_text(words, "ENTRY TIME", 0.7) == "ENTRY TIME"
    assert line_text(words, "ENTRY TIME", 0.3) == "ENUY TIME"
    assert line_text(words, "", 0.9) == "ENUY TIME"
    assert line_text([("5", 0.9), ("20", 0.9)], "5.20", 0.1) == "5.20"  # the same letters: marks, whatever the score


def test_the_lines_crop_is_wider_along_the_line_by_a_share_of_its_height():
    box = np.array([[100, 50], [300, 50], [300, 70], [100, 70]], np.float64)
    grown = line_quad(box, pad=0.5)
    assert np.allclose(grown, [[90, 50], [310, 50], [310, 70], [90, 70]])
    tilted = np.array([[0, 0], [100, 10], [98, 30], [-2, 20]], np.float64)
    wide = line_quad(tilted, pad=1.0)
    assert np.linalg.norm(wide[1] - wide[0]) > np.linalg.norm(tilted[1] - tilted[0]) + 39


def test_outputs_carry_the_lines_text_and_words_json_keeps_it():
    words = [Word(np.array([[x, 10], [x + 40, 10], [x + 40, 30], [x, 30]], np.float32), 0.9, None, t, 0.9)
             for x, t in ((10, "5"), (60, "20"))]
    line = Line((0, 1), np.array([[10, 10], [100, 10], [100, 30], [10, 30]], np.float64), text="5.20")
    result = Result(scan={"width": 200, "height": 50, "path": "x.png"}, model={}, params={}, tiles={"count": 1},
                    words=words, layout=Layout((Block((line,), line.box),), 0.0))
    assert plain_text(result) == "5.20\n"
    page = render(result, "page")  # PAGE's TextLine must be its Words' text (OCR-D validates it)
    assert b">5 20</" in page and b">5.20</" not in page
    back = Result.from_dict(result.to_dict())
    assert back.layout.lines[0].text == "5.20"
    unread = Result.from_dict({**result.to_dict(), "blocks": [{**b, "lines": [{k: v for k, v in ln.items() if k != "text"}
                                                                            for ln in b["lines"]]}
                                                             for b in result.to_dict()["blocks"]]})
    assert unread.layout.lines[0].text is None and plain_text(unread) == "5 20\n"


def test_a_number_cut_in_two_is_joined_where_the_reading_shows_spaces_elsewhere_but_none_there():
    from bigocr.recognizer.linetext import punctuate

    assert punctuate("15 MAY 201 8 18:43", "15 MAY 2018 18:43") == "15 MAY 2018 18:43"
    assert punctuate("OR18051 502160344", "OR18051502160344") == "OR18051 502160344"  # no space anywhere: kept
    assert punctuate("12 34 AB", "1234 AB", join_digits=False) == "12 34 AB"
    assert punctuate("TOTAL 12 34", "TOTAL 1234") == "TOTAL 1234"
    assert punctuate("ab cd ef", "abcd ef") == "ab cd ef"  # letters: the words' space stays
