"""Model files and devices: the CRAFT and CRNN networks, their weights (read without running code,
checksums checked), the registry of named models, and where and in what precision they run."""
