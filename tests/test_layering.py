"""The layering of tfflows, read from the source with `ast` (no module is imported): each
package imports only the packages below it, and no package module imports the checkout's
folders (examples, bench, tests, zoo). Imports inside functions count too."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "tfflows"

# The checkout's folders, which an installed tfflows does not have (the zoo's presets ship as
# tfflows.zoo_presets; its recipes do not ship at all).
CHECKOUT = ("examples", "bench", "tests", "zoo")

# package -> what no module in it may import (besides CHECKOUT, forbidden everywhere).
FORBIDDEN = {
    "tfflows.bijectors": (
        "tfflows.layers",
        "tfflows.nets",
        "tfflows.models",
        "tfflows.training",
        "tfflows.export",
        "tfflows.zoo",
        "tfflows.cli",
        "tfflows.data",
    ),
    "tfflows.nets": (
        "tfflows.models",
        "tfflows.training",
        "tfflows.export",
        "tfflows.zoo",
        "tfflows.cli",
    ),
    "tfflows.layers": (
        "tfflows.models",
        "tfflows.training",
        "tfflows.export",
        "tfflows.zoo",
        "tfflows.cli",
    ),
    "tfflows.models": ("tfflows.training", "tfflows.export", "tfflows.zoo", "tfflows.cli"),
    "tfflows.export": ("tfflows.training", "tfflows.zoo", "tfflows.cli"),
    "tfflows.data": (
        "tfflows.models",
        "tfflows.training",
        "tfflows.export",
        "tfflows.zoo",
        "tfflows.cli",
    ),
}


def _within(name, package):
    return name == package or name.startswith(package + ".")


def module_name(path, root):
    """tfflows/data/sources.py -> tfflows.data.sources; a package's __init__ -> the package."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(tree, module, is_package):
    """(line, imported module) for every import in `tree`, relative ones resolved; for
    `from P import a` both P and P.a (a may be a submodule)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")
                parent = parent[: len(parent) - node.level + (1 if is_package else 0)]
                base = ".".join(parent + ([base] if base else []))
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def violations(root=PACKAGE):
    """Lines `module:line imports name (rule)` for every forbidden import under `root`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        tree = ast.parse(path.read_text(), filename=str(path))
        forbidden = [p for package, ps in FORBIDDEN.items() if _within(module, package) for p in ps]
        seen = set()
        for line, name in imported_names(tree, module, path.name == "__init__.py"):
            rule = next((p for p in forbidden if _within(name, p)), None)
            if rule is None and name.split(".")[0] in CHECKOUT:
                rule = "the checkout's " + name.split(".")[0] + "/"
            if rule and (line, rule) not in seen:
                seen.add((line, rule))
                found.append(f"{module}:{line} imports {name} (forbidden: {rule})")
    return found


def test_no_module_of_tfflows_imports_a_layer_above_its_own():
    found = violations()
    assert not found, "forbidden imports:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "relative_path, source, expected",
    [
        (
            "bijectors/x.py",
            "import numpy\n\ndef f():\n    from tfflows.nets import MLP\n",
            "tfflows.bijectors.x:4 imports tfflows.nets (forbidden: tfflows.nets)",
        ),
        (
            "models/glow.py",
            "from tfflows import training\n",
            "tfflows.models.glow:1 imports tfflows.training (forbidden: tfflows.training)",
        ),
        (
            "export/__init__.py",
            "from .. import zoo\n",
            "tfflows.export:1 imports tfflows.zoo (forbidden: tfflows.zoo)",
        ),
        (
            "data/sources.py",
            "x = 1\nfrom ..models.registry import build_model\n",
            "tfflows.data.sources:2 imports tfflows.models.registry (forbidden: tfflows.models)",
        ),
        (
            "zoo/publish.py",
            "import zoo.recipes.planar\n",
            "tfflows.zoo.publish:1 imports zoo.recipes.planar (forbidden: the checkout's zoo/)",
        ),
        (
            "cli/__init__.py",
            "def main():\n    import bench.compare\n",
            "tfflows.cli:2 imports bench.compare (forbidden: the checkout's bench/)",
        ),
    ],
)
def test_the_check_names_a_forbidden_import(tmp_path, relative_path, source, expected):
    path = tmp_path / "tfflows" / relative_path
    path.parent.mkdir(parents=True)
    path.write_text(source)
    assert violations(tmp_path / "tfflows") == [expected]


def test_allowed_imports_pass(tmp_path):
    allowed = {
        "models/glow.py": "from tfflows.layers import ActNorm\nfrom tfflows import nets\n",
        "training/trainer.py": "from tfflows.data.sources import load_source\n",
        "zoo/registry.py": "from tfflows.models.registry import build_model\n",
        "cli/__init__.py": "def f():\n    from tfflows.cli import demo\n",
    }
    for relative_path, source in allowed.items():
        path = tmp_path / "tfflows" / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    assert violations(tmp_path / "tfflows") == []
