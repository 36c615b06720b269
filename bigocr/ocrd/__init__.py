"""bigocr as an OCR-D processor: ocrd-bigocr-recognize (pip install bigocr[ocrd])."""
