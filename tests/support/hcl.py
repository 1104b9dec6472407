"""Reads a Terraform module's blocks with python-hcl2, for tests that check invariants without a Terraform binary."""

from __future__ import annotations

from pathlib import Path

import hcl2


def _unquote(value):
    """python-hcl2 keeps the quotes of string literals and adds `__is_block__` markers: drop both."""
    if isinstance(value, str):
        return value.strip('"')
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if not k.startswith("__")}
    return value


def load(path: Path) -> dict:
    """One HCL file (a .tf or a .tftest.hcl), unquoted."""
    with path.open() as handle:
        return _unquote(hcl2.load(handle))


def blocks(module: Path, kind: str) -> dict:
    """{(type, name): body} of every resource, or {name: body} of every variable/output/local, in module/*.tf."""
    found = {}
    for tf in sorted(module.glob("*.tf")):
        for entry in load(tf).get(kind, []):
            for type_name, body in entry.items():
                if kind == "resource":
                    for name, conf in body.items():
                        found[(type_name, name)] = conf
                else:
                    found[type_name] = body
    return found
