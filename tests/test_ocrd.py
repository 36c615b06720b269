"""ocrd-bigocr-recognize on the four real OCR-D workspaces in ../shared/data/ocrd, run by the `ocrd` framework.

Each workspace is copied to a temporary folder first.  The PAGE the processor writes validates against the
PAGE 2019 schema, `ocrd workspace validate` passes on the result, `ocrd process` chains it after
`ocrd-dummy`, and bad input (a file group not in the METS, a missing or corrupt page image) gives the OCR-D
way of reporting: one line per failed page, one closing line, a non-zero exit, the METS as it was.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

pytest.importorskip("ocrd")

pytestmark = pytest.mark.slow

SHARED = Path(__file__).resolve().parents[2] / "shared"
WORKSPACES = SHARED / "data" / "ocrd"
PAGE_XSD = SHARED / "schemas" / "pagecontent.xsd"
PAGE_NS = {"pc": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"}
BIN = Path(sys.executable).parent
#: workspace -> (image file group, pages to run (the pembroke METS holds one local page among remote ones;
#: two of column-samples' five, the first and the one with most words: the rest are pages of the same kind
#: and would double the test's time), pages written)
CASES = {
    "column-samples": ("OCR-D-IMG", "bengel_abriss01_1751-0007,corvinus_frauenzimmer_1715-0054", 2),
    "grenzboten-test": ("OCRD-IMG-BIN", None, 1),
    "indian-ferns": ("OCR-D-IMG", None, 1),
    "pembroke_werke_1766": ("DEFAULT", "PHYS_0011", 1),
}

if not WORKSPACES.is_dir():
    pytest.skip("../shared/data/ocrd is not here", allow_module_level=True)


def _workspace(tmp_path, name) -> Path:
    target = tmp_path / name
    shutil.copytree(WORKSPACES / name / "data", target)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    return target


def _run(workspace, *args, tool="ocrd-bigocr-recognize"):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # ocrd process finds them
    return subprocess.run([str(BIN / tool), *map(str, args)], cwd=workspace, capture_output=True, text=True,
                          timeout=900, env=env)


def _pages(workspace, group):
    return sorted((workspace / group).glob("*.xml"))


@pytest.mark.parametrize("name", list(CASES))
def test_every_workspace_gets_valid_page_and_a_valid_mets(tmp_path, name):
    group, pages, count = CASES[name]
    ws = _workspace(tmp_path, name)
    run = _run(ws, "-m", "mets.xml", "-I", group, "-O", "OCR-D-BIGOCR", *(["-g", pages] if pages else []))
    assert run.returncode == 0, run.stderr[-3000:]
    written = _pages(ws, "OCR-D-BIGOCR")
    assert len(written) == count
    schema = etree.XMLSchema(etree.parse(str(PAGE_XSD)))
    for path in written:
        doc = etree.parse(str(path))
        assert schema.validate(doc), (path.name, schema.error_log.last_error)
        words = doc.findall(".//pc:Word", PAGE_NS)
        if name != "indian-ferns":  # a botanical plate: a few words of caption
            assert len(words) > 50, path.name
        lines = doc.findall(".//pc:TextLine", PAGE_NS)
        assert lines and all(line.find("pc:Baseline", PAGE_NS) is not None for line in lines)
        assert all(w.find("pc:TextEquiv/pc:Unicode", PAGE_NS) is not None for w in words)
        assert doc.find(".//pc:ReadingOrder", PAGE_NS) is not None
        image = doc.find("pc:Page", PAGE_NS).get("imageFilename")
        assert (ws / image).is_file() and not os.path.isabs(image)
    mets = (ws / "mets.xml").read_text()
    assert 'USE="OCR-D-BIGOCR"' in mets
    validate = _run(ws, "workspace", "validate", tool="ocrd")  # pembroke's remote images: warnings, not errors
    assert '<report valid="true">' in validate.stdout, validate.stdout[-3000:]


def test_ocrd_process_chains_it_after_another_processor_and_reads_given_segmentation(tmp_path):
    ws = _workspace(tmp_path, "indian-ferns")
    run = _run(ws, "process", "-m", "mets.xml", "dummy -I OCR-D-IMG -O OCR-D-DUMMY",
               "bigocr-recognize -I OCR-D-DUMMY -O OCR-D-BIGOCR -P mode segment", tool="ocrd")
    assert run.returncode == 0, run.stderr[-3000:]
    (page,) = _pages(ws, "OCR-D-BIGOCR")
    doc = etree.parse(str(page))
    assert doc.findall(".//pc:Word", PAGE_NS) and not doc.findall(".//pc:Word/pc:TextEquiv", PAGE_NS)
    # recognition only: the words of that segmentation read, as bigocr recognize --boxes
    run = _run(ws, "-m", "mets.xml", "-I", "OCR-D-BIGOCR", "-O", "OCR-D-READ", "-P", "mode", "recognize",
               "-P", "recognizer", "historical")
    assert run.returncode == 0, run.stderr[-3000:]
    (read,) = _pages(ws, "OCR-D-READ")
    doc2 = etree.parse(str(read))
    assert len(doc2.findall(".//pc:Word", PAGE_NS)) == len(doc.findall(".//pc:Word", PAGE_NS))
    assert doc2.findall(".//pc:Word/pc:TextEquiv/pc:Unicode", PAGE_NS)


def test_the_processor_speaks_ocrd(tmp_path):
    ws = _workspace(tmp_path, "indian-ferns")
    dump = _run(ws, "--dump-json")
    assert dump.returncode == 0 and '"ocrd-bigocr-recognize"' in dump.stdout and '"mode"' in dump.stdout
    helps = _run(ws, "--help")
    assert helps.returncode == 0 and "-P" in helps.stdout


def _one_closing_line(run):
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert lines[-1].startswith("ocrd-bigocr-recognize: error: "), run.stderr[-2000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    return lines


def test_bad_input_is_reported_the_ocrd_way(tmp_path):
    ws = _workspace(tmp_path, "column-samples")
    before = (ws / "mets.xml").read_bytes()
    lines = _one_closing_line(_run(ws, "-m", "mets.xml", "-I", "NO-SUCH-GROUP", "-O", "OUT"))
    assert "NO-SUCH-GROUP" in lines[-1]
    assert (ws / "mets.xml").read_bytes() == before

    images = sorted((ws / "OCR-D-IMG").iterdir())
    images[0].unlink()  # listed in the METS, missing on disk
    lines = _one_closing_line(_run(ws, "-m", "mets.xml", "-I", "OCR-D-IMG", "-O", "OUT"))
    failed = [line for line in lines if "Failure on page" in line]
    assert failed and images[0].name in failed[0] and "no such file" in failed[0], lines
    mets = etree.parse(str(ws / "mets.xml"))  # still a METS: at most the pages that were done are in OUT
    done = mets.findall(".//{http://www.loc.gov/METS/}fileGrp[@USE='OUT']/{http://www.loc.gov/METS/}file")
    assert len(done) <= 4 and all((ws / f[0].get("{http://www.w3.org/1999/xlink}href")).is_file() for f in done)

    ferns = _workspace(tmp_path, "indian-ferns")
    before = (ferns / "mets.xml").read_bytes()
    (image,) = (ferns / "OCR-D-IMG").iterdir()
    image.write_bytes(image.read_bytes()[:5000])  # truncated
    lines = _one_closing_line(_run(ferns, "-m", "mets.xml", "-I", "OCR-D-IMG", "-O", "OUT"))
    failed = [line for line in lines if "Failure on page" in line]
    assert len(failed) == 1 and image.name in failed[0], lines
    assert (ferns / "mets.xml").read_bytes() == before
