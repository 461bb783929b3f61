"""Windows runs fsm-risk too: no module that exists only on POSIX may be imported unless
behind a platform check (``if sys.platform ...`` / ``if os.name ...``), anywhere in the
package. Walks every module's imports (AST), nested ones included."""

from __future__ import annotations

import ast
from pathlib import Path

import fsm_risk

#: standard-library modules absent on Windows
POSIX_ONLY = {
    "fcntl", "pwd", "grp", "termios", "tty", "pty", "resource", "posix", "syslog", "crypt",
    "spwd", "nis", "_posixsubprocess", "readline", "curses",
}  # fmt: skip
PACKAGE = Path(fsm_risk.__file__).parent


def _guard(test: ast.expr) -> bool:
    text = ast.unparse(test)
    return "sys.platform" in text or "os.name" in text


def unguarded_posix_imports(source: str, name: str) -> list[str]:
    """'file:line module' for each POSIX-only import not under a platform check."""
    found: list[str] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for m in modules:
                if m.split(".")[0] in POSIX_ONLY and not guarded:
                    found.append(f"{name}:{node.lineno} {m}")
        for child in ast.iter_child_nodes(node):
            inner = guarded or (isinstance(node, ast.If) and _guard(node.test))
            visit(child, inner)

    visit(ast.parse(source), False)
    return found


def test_no_posix_only_module_is_imported_outside_a_platform_check() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        problems.extend(unguarded_posix_imports(path.read_text(encoding="utf-8"), rel))
    assert not problems, "POSIX-only imports outside a platform check:\n" + "\n".join(problems)


def test_the_walk_finds_nested_imports_and_honours_the_guard() -> None:
    bad = "import os\ndef f():\n    import fcntl\n    from pwd import getpwnam\n"
    assert unguarded_posix_imports(bad, "m.py") == ["m.py:3 fcntl", "m.py:4 pwd"]
    good = (
        "import sys\nif sys.platform == 'win32':\n    import msvcrt\nelse:\n    import fcntl\n"
        "import os\nif os.name == 'posix':\n    import resource\n"
    )
    assert unguarded_posix_imports(good, "m.py") == []
