"""kwvk_py - the Python side of kwvk (needs /usr/bin/python3 with torch and numpy):

    kw.py             PyTorch KernelWarehouse layers and warehouse manager
    models.py         the networks, with the official module / state_dict names
    modelfile.py      the kwvk model file: writer, reader, reference interpreter
    checkpoint.py     loading .pth files without running pickled code
    convert.py        checkpoint -> model file (behind tools/kwvk-convert)
    randomize.py      seeded non-trivial weights for parity checks and fixtures
    check_official.py parity with the official KernelWarehouse code (docs/parity.md)
    make_fixtures.py  golden fixtures for tests/test_golden.c
"""


def version():
    """kwvk's version: the VERSION file `cmake --install` writes beside this package, else
    the KWVK_VERSION_* defines of the source tree's engine/include/kwvk.h."""
    import os
    import re
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        with open(os.path.join(here, "VERSION"), encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        pass
    try:
        with open(os.path.join(here, "..", "..", "engine", "include", "kwvk.h"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return "unknown"
    parts = [re.search(rf"#define KWVK_VERSION_{k} (\d+)", text) for k in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(m.group(1) for m in parts) if all(parts) else "unknown"
