"""The layers of `docs/ARCHITECTURE.md`, checked on the code: every import (walked with `ast`,
function-level imports included) points down the table, and production code never imports
the demo package (`feeds/demo/`) except the process wiring that starts the demo
(`dashboard/app/runtime.py`)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

# layer -> the layers it may import (besides itself, the standard library and third parties)
LAYERS = ["dashboard.app", "dashboard.config", "dashboard.store", "dashboard.queries",
          "feeds.demo", "feeds", "metrics", "layouts", "callbacks"]
MAY_IMPORT = {
    "dashboard.app": set(LAYERS),
    "dashboard.config": {"metrics"},
    "dashboard.store": {"metrics"},
    "dashboard.queries": {"dashboard.store", "metrics", "feeds.records"},
    "feeds": {"dashboard.store", "metrics"},
    "feeds.demo": {"feeds", "metrics"},
    "metrics": set(),
    "layouts": {"dashboard.queries", "metrics"},
    "callbacks": {"dashboard.queries", "layouts", "metrics"},
}
# the one place production code may start the demo city
DEMO_WIRING = {"dashboard.app.runtime"}
# arrows the layout does not yet obey, each named with what is left to do (docs/ARCHITECTURE.md)
KNOWN = {
    # the sensor feeds' settings dataclasses are part of the settings file's schema
    ("dashboard.config.settings", "feeds.sensors.settings"),
    # the enterprise frame and its dataset name still live with the industry adapter
    ("dashboard.queries.industry_views", "feeds.industry.parse"),
    ("dashboard.queries.industry_views", "feeds.industry.poll"),
    # the ticket aggregates type records with the canonical ticket frame
    ("dashboard.store.aggregates", "feeds.records"),
}
PACKAGES = ("dashboard", "feeds", "metrics", "layouts", "callbacks")


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> str | None:
    for layer in LAYERS:
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def _allowed(target: str, layers: set[str]) -> bool:
    return any(target == x or target.startswith(x + ".") for x in layers)


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    package = _module(path).split(".") if path.name == "__init__.py" else _module(path).split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:             # relative: resolved against the importing package
                up = package[:len(package) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            # `from pkg import mod` imports pkg.mod when it is a module: check the longest name
            for a in node.names:
                full = f"{base}.{a.name}"
                out.append((node.lineno, full if _is_module(full) else base))
    return out


def _is_module(name: str) -> bool:
    p = REPO.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def _production_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")) + [REPO / "app.py"]


def violations() -> tuple[list[str], list[str], set[tuple[str, str]]]:
    upward, demo, seen_known = [], [], set()
    for path in _production_files():
        src = _module(path)
        layer = _layer(src)
        for line, target in _imports(path):
            tl = _layer(target)
            if tl is None or tl == layer:
                continue
            where = f"{path.relative_to(REPO)}:{line} {src} -> {target}"
            if tl == "feeds.demo" and src not in DEMO_WIRING and layer != "feeds.demo":
                demo.append(where)
                continue
            if layer is None:          # app.py: the entry point may import anything
                continue
            if not _allowed(target, MAY_IMPORT[layer]):
                key = next((k for k in KNOWN if src == k[0] and _allowed(target, {k[1]})), None)
                if key:
                    seen_known.add(key)
                else:
                    upward.append(where)
    return upward, demo, seen_known


def test_every_import_points_down_the_layer_table() -> None:
    upward, _, _ = violations()
    assert not upward, "imports against docs/ARCHITECTURE.md's table:\n" + "\n".join(upward)


def test_production_code_never_imports_the_demo_but_the_process_wiring() -> None:
    _, demo, _ = violations()
    assert not demo, "demo imports outside the process wiring:\n" + "\n".join(demo)


def test_the_known_exceptions_are_still_real() -> None:
    """A fixed exception must leave the list (so the list never hides a new arrow)."""
    _, _, seen = violations()
    assert seen == KNOWN, f"no longer imported, remove from KNOWN: {sorted(KNOWN - seen)}"


def test_the_walk_catches_an_upward_and_a_demo_import(tmp_path, monkeypatch) -> None:
    """The checker itself: a metrics module importing the store, and a view importing the demo."""
    import tests.test_layers as me

    fake = tmp_path / "repo"
    for pkg in PACKAGES:
        (fake / pkg).mkdir(parents=True)
        (fake / pkg / "__init__.py").write_text("")
    (fake / "dashboard" / "store").mkdir()
    (fake / "dashboard" / "store" / "__init__.py").write_text("")
    (fake / "dashboard" / "queries").mkdir()
    (fake / "dashboard" / "queries" / "__init__.py").write_text("")
    (fake / "feeds" / "demo").mkdir()
    (fake / "feeds" / "demo" / "__init__.py").write_text("")
    (fake / "metrics" / "bad.py").write_text("def f():\n    from dashboard.store import Store\n")
    (fake / "dashboard" / "queries" / "views.py").write_text("from feeds import demo\n")
    (fake / "app.py").write_text("")
    monkeypatch.setattr(me, "REPO", fake)
    upward, demo, _ = me.violations()
    assert [u.split(" ", 1)[1] for u in upward] == ["metrics.bad -> dashboard.store"]
    assert [d.split(" ", 1)[1] for d in demo] == ["dashboard.queries.views -> feeds.demo"]


def test_every_adapter_module_exports_the_same_shape_and_the_registry_has_them_all() -> None:
    """One shape: `ADAPTERS = {(kind, format): poll(ctx) -> [Batch]}` in each adapter module,
    and the registry is exactly their union."""
    import importlib

    from feeds import registry

    found: dict = {}
    for kind in ("tickets", "sensors", "industry", "areas"):
        exported = 0
        for path in sorted((REPO / "feeds" / kind).glob("*.py")):
            mod = importlib.import_module(_module(path))
            table = getattr(mod, "ADAPTERS", None)
            if table is None:
                continue
            exported += 1
            for (k, fmt), fn in table.items():
                assert callable(fn) and isinstance(k, str) and isinstance(fmt, str), (path, k, fmt)
                assert (k, fmt) not in found, f"{(k, fmt)} exported twice"
                found[(k, fmt)] = fn
        assert exported, f"feeds/{kind}/ exports no adapter"
    assert all(registry._ADAPTERS.get(key) is fn for key, fn in found.items()), "the registry lacks an adapter"
    # and the registry's table is only those exports (`**module.ADAPTERS`), no adapter of its own
    tree = ast.parse((REPO / "feeds" / "registry.py").read_text(encoding="utf-8"))
    table = next(n.value for n in tree.body if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == "_ADAPTERS")
    assert isinstance(table, ast.Dict) and all(k is None for k in table.keys)
    assert all(ast.unparse(v).endswith(".ADAPTERS") for v in table.values)
