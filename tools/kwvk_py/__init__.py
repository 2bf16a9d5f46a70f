"""kwvk_py - the Python side of kwvk: PyTorch KernelWarehouse modules (kw.py), the model
zoo with the official module names (models.py), the kwvk model file writer/reader
(modelfile.py), the checkpoint converter (convert.py) and the fixture generator
(make_fixtures.py). Needs /usr/bin/python3 with torch and numpy."""
