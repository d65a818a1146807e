from __future__ import annotations

import subprocess
import sys

import pytest

import rag


@pytest.mark.parametrize("name", rag.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(rag, name).__name__ == name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        rag.NoSuchThing  # noqa: B018


def test_importing_rag_loads_neither_torch_nor_sqlalchemy() -> None:
    code = "import sys, rag; print(sorted({'torch', 'sqlalchemy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
