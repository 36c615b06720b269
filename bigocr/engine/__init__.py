"""The engine: one scan (or many) through the stages, on this machine or a Dask cluster.

setup (models, defaults, tiling: one prepare), job (identity, resume, the out folder), stages (one
detection pass, refine, read), runner and cluster (where tasks run), batch (many scans)."""
