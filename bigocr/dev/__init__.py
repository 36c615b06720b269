"""Development tools, never imported by the runtime: evaluation against truth (evaluate), training and
distillation (train/), synthetic pages (synth/). The `bigocr train|distill|train-reader|eval|sample`
commands reach them through the CLI."""
