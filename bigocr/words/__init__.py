"""Work on found words, not maps: the headline pass's merge (coarse), words cut at punctuation joined
again (join), lines, blocks and reading order (layout)."""
