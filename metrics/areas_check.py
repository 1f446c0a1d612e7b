"""Validation of area-tree rows: the node type, the levels, and the structural checks.

Every problem is collected (not just the first) and each message starts with the code
it is about, so an operator can fix a whole file in one pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LEVELS: tuple[str, ...] = ("city", "district", "street", "community", "grid")
_RANK = {level: i for i, level in enumerate(LEVELS)}


class AreaTreeError(ValueError):
    """An area tree that cannot be built; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        shown = "; ".join(self.errors[:10])
        more = f" (and {len(self.errors) - 10} more)" if len(self.errors) > 10 else ""
        super().__init__(f"{len(self.errors)} area tree error(s): {shown}{more}")


@dataclass(frozen=True, slots=True)
class AreaNode:
    """One area: ``parent_code`` is None for the root."""

    code: str
    name: str
    level: str
    parent_code: str | None


def clean_code(value: Any) -> str:
    """A code as text: None/NaN → "", 150302 → "150302", 150302.0 → "150302"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def check_rows(rows: Sequence[dict]) -> tuple[dict[str, AreaNode], list[str]]:
    """Nodes by code, and every structural error in ``rows``.

    Checks: non-empty unique codes and names, known levels, exactly one root, every
    parent exists, a child's level is strictly deeper than its parent's, no cycles.
    """
    nodes: dict[str, AreaNode] = {}
    errors: list[str] = []
    for i, row in enumerate(rows):
        code = clean_code(row.get("code"))
        if not code:
            errors.append(f"row #{i + 1}: empty code")
            continue
        if code in nodes:
            errors.append(f"{code}: duplicate code")
            continue
        name = clean_code(row.get("name"))
        level = clean_code(row.get("level"))
        parent = clean_code(row.get("parent_code")) or None
        if not name:
            errors.append(f"{code}: empty name")
        if level not in _RANK:
            errors.append(f"{code}: unknown level {level!r} (expected one of {', '.join(LEVELS)})")
        nodes[code] = AreaNode(code, name, level, parent)
    if not rows:
        errors.append("tree: no rows")
    errors.extend(_check_links(nodes))
    return nodes, errors


def _check_links(nodes: dict[str, AreaNode]) -> list[str]:
    errors: list[str] = []
    roots = sorted(c for c, n in nodes.items() if n.parent_code is None)
    if nodes and not roots:
        errors.append("tree: no root (every row has a parent_code)")
    for extra in roots[1:]:
        errors.append(f"{extra}: a second root (roots: {', '.join(roots)}); only one node may have no parent")
    for code, node in nodes.items():
        parent = node.parent_code
        if parent is None:
            continue
        if parent == code:
            errors.append(f"{code}: is its own parent")
        elif parent not in nodes:
            errors.append(f"{code}: parent {parent} does not exist")
        elif node.level in _RANK and nodes[parent].level in _RANK:
            if _RANK[node.level] <= _RANK[nodes[parent].level]:
                errors.append(
                    f"{code}: level {node.level} is not deeper than parent {parent}'s "
                    f"level {nodes[parent].level}"
                )
    errors.extend(_find_cycles(nodes))
    return errors


def _find_cycles(nodes: dict[str, AreaNode]) -> list[str]:
    """One message per parent cycle of two or more nodes, named by its smallest code."""
    state: dict[str, int] = {}  # 1 = on the current walk, 2 = known to end at a root
    errors: list[str] = []
    for start in nodes:
        walk: list[str] = []
        code: str | None = start
        while code is not None and code in nodes and state.get(code) is None:
            state[code] = 1
            walk.append(code)
            parent = nodes[code].parent_code
            code = None if parent == code else parent  # self-parent is reported apart
        if code is not None and state.get(code) == 1:
            cycle = walk[walk.index(code):]
            first = cycle.index(min(cycle))
            cycle = cycle[first:] + cycle[:first]
            errors.append(f"{cycle[0]}: cycle in parents ({' → '.join(cycle + [cycle[0]])})")
        for c in walk:
            state[c] = 2
    return errors
