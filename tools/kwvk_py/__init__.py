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
