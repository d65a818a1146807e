"""Import PyMuPDF lean: without the optional layout model it loads eagerly when installed."""

from __future__ import annotations

import sys
from typing import Any

# PyMuPDF 2 imports `pymupdf.layout` (an ONNX layout model, with numpy and onnxruntime)
# and `pymupdf4llm` at import time when they are installed. folio uses neither, and they
# cost ~2.5 s and ~400 MB of address space in every parse child (which runs under a
# memory limit). A None entry in sys.modules makes those imports fail fast; PyMuPDF
# treats that as "not installed". The entries are removed again right after, so a later
# explicit import of either package still works.
_BLOCKED = ("pymupdf.layout", "pymupdf4llm")
_blocked_here = [
    name for name in _BLOCKED if "pymupdf" not in sys.modules and name not in sys.modules
]
for _name in _blocked_here:
    sys.modules[_name] = None  # type: ignore[assignment]
try:
    import pymupdf as _pymupdf
finally:
    for _name in _blocked_here:
        if sys.modules.get(_name, ...) is None:
            del sys.modules[_name]

# PyMuPDF's annotations are partial (untyped constructors); folio treats it as dynamic.
pymupdf: Any = _pymupdf

__all__ = ["pymupdf"]
