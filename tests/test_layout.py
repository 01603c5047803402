"""The house rules, checked on the source tree: arrows point down, heavy imports stay lazy and
inside models/, every error has one home per package, and each package says what lives there.

These read the code as text (``ast``), so they hold for modules no other test imports.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "models", "dicom_io", "prompts")
# Who may import whom (app -> models -> dicom_io, prompts). prompts takes only the root error
# from dicom_io.errors, so that a PromptError is a RadLensError like every other error.
ALLOWED = {
    "app": {"app", "models", "dicom_io", "prompts"},
    "models": {"models", "dicom_io", "prompts"},
    "dicom_io": {"dicom_io"},
    "prompts": {"prompts"},
}
PROMPTS_MAY_IMPORT = {"dicom_io.errors"}
HEAVY = {"torch", "transformers", "bitsandbytes", "accelerate", "spacy", "negspacy"}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(tree: ast.AST) -> list[tuple[str, ast.stmt]]:
    found: list[tuple[str, ast.stmt]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node))
    return found


def _module_level(tree: ast.Module) -> set[int]:
    """ids of the import statements that run when the module is imported (not in a function)."""
    ids: set[int] = set()

    def visit(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                ids.add(id(stmt))
            elif isinstance(stmt, ast.If):
                if not (isinstance(stmt.test, ast.Name) and stmt.test.id == "TYPE_CHECKING"):
                    visit(stmt.body)
                visit(stmt.orelse)
            elif isinstance(stmt, ast.Try):
                visit(stmt.body)
                for handler in stmt.handlers:
                    visit(handler.body)
            elif isinstance(stmt, ast.ClassDef):
                visit(stmt.body)

    visit(tree.body)
    return ids


@pytest.mark.parametrize("package", PACKAGES)
def test_arrows_point_down(package: str) -> None:
    wrong = []
    for path in _modules(package):
        for name, _ in _imports(ast.parse(path.read_text())):
            top = name.split(".")[0]
            if top not in PACKAGES or top in ALLOWED[package]:
                continue
            if package == "prompts" and name in PROMPTS_MAY_IMPORT:
                continue
            wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _eager_heavy_modules() -> set[str]:
    """Modules whose import imports torch & co.: directly, or through a module they import."""
    eager: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in _modules(package):
            tree = ast.parse(path.read_text())
            at_top = _module_level(tree)
            eager[_module_name(path)] = {
                name for name, node in _imports(tree) if id(node) in at_top
            }
    heavy = {m for m, names in eager.items() if any(n.split(".")[0] in HEAVY for n in names)}
    grew = True
    while grew:
        more = {m for m, names in eager.items() if m not in heavy and names & heavy}
        heavy |= more
        grew = bool(more)
    return heavy


@pytest.mark.parametrize("package", ["app", "dicom_io", "prompts"])
def test_heavy_libraries_are_never_imported_outside_models(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules(package)
        for name, _ in _imports(ast.parse(path.read_text()))
        if name.split(".")[0] in HEAVY
    ]
    assert wrong == []


def test_heavy_libraries_load_lazily() -> None:
    """torch, transformers and bitsandbytes are imported at module level only by leaf modules
    of models/ that a loading function imports when it runs: no package front door, and no
    module that imports one at its top, pulls them in, so ``radlens info`` and the viewer start
    without them."""
    heavy = _eager_heavy_modules()
    assert heavy, "no module imports torch or transformers: the check has nothing to check"
    packages = {
        _module_name(path)
        for package in PACKAGES
        for path in _modules(package)
        if path.name == "__init__.py"
    }
    assert sorted(heavy & packages) == []
    assert sorted(m for m in heavy if not m.startswith("models.")) == []


@pytest.mark.parametrize("package", ["models", "dicom_io", "prompts"])
def test_errors_are_defined_only_in_the_package_errors_module(package: str) -> None:
    """One home per package for its errors: ``<package>/errors.py``."""
    wrong = []
    for path in _modules(package):
        if path == ROOT / package / "errors.py":
            continue
        wrong.extend(
            f"{path.relative_to(ROOT)}: {node.name}"
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error")
        )
    assert wrong == []


def _error_classes(package: str) -> list[type[BaseException]]:
    module = importlib.import_module(f"{package}.errors")
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == module.__name__
    ]


@pytest.mark.parametrize("package", ["models", "dicom_io", "prompts"])
def test_every_error_is_a_radlens_error_and_a_builtin(package: str) -> None:
    from dicom_io.errors import RadLensError

    classes = _error_classes(package)
    assert classes, f"{package}.errors defines no error"
    for cls in classes:
        assert issubclass(cls, RadLensError), cls
        builtins = [
            base
            for base in cls.__mro__
            if base.__module__ == "builtins" and base not in (object, BaseException, Exception)
        ]
        assert builtins or cls is RadLensError, f"{cls.__name__} inherits no builtin error"


def test_documented_imports() -> None:
    """The imports the README shows."""
    from dicom_io.display import render_slice
    from dicom_io.errors import RadLensError
    from dicom_io.loader import load_study

    assert callable(load_study)
    assert callable(render_slice)
    assert issubclass(RadLensError, Exception)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_says_what_lives_there(package: str) -> None:
    top = importlib.import_module(package)
    names = [package] + [
        info.name
        for info in pkgutil.walk_packages(top.__path__, prefix=f"{package}.")
        if info.ispkg
    ]
    missing = []
    for name in names:
        init = ROOT / Path(*name.split(".")) / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        if len(doc.split()) < 8:
            missing.append(name)
    assert missing == []
