"""The ctypes structures of kwvk._native mirror engine/include/kwvk.h field by field (a field
appended to a public struct must be appended here too, or the library would read past the
Python side's smaller struct)."""
import os
import re

import pytest

from conftest import SRC
from kwvk import _native

HEADER = os.path.join(SRC, "engine", "include", "kwvk.h")


def header_fields(struct):
    with open(HEADER) as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    m = re.search(r"typedef struct %s \{(.*?)\}" % struct, text, re.S)
    assert m, struct
    names = []
    for decl in m.group(1).split(";"):
        decl = " ".join(decl.split())
        if not decl:
            continue
        decl = re.sub(r"\[[^]]*\]", "", decl)  # arrays
        head, *rest = decl.split(",")
        names.append(re.split(r"[\s*]+", head.strip())[-1])
        names += [r.strip().lstrip("*").strip() for r in rest]
    return names


@pytest.mark.parametrize("struct,cls", [("kwvk_context_desc", _native.ContextDesc),
                                        ("kwvk_device_info", _native.DeviceInfo),
                                        ("kwvk_model_info", _native.ModelInfo),
                                        ("kwvk_net_desc", _native.NetDesc),
                                        ("kwvk_net_stats", _native.NetStats)])
def test_struct_fields_match_header(struct, cls):
    assert [name for name, _ in cls._fields_] == header_fields(struct)
