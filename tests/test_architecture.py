"""The engine stays free of textual and kubernetes: checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

HEADLESS = [
    "cli_recover.cli.main", "cli_recover.cli.archive_commands", "cli_recover.archive.pipeline",
    "cli_recover.archive.verify", "cli_recover.archive.codecs", "cli_recover.archive.tarindex",
    "cli_recover.providers.filesystem", "cli_recover.kube.local", "cli_recover.config",
]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_headless_modules_do_not_import_textual_or_kubernetes():
    imports = "\n".join(f"import {m}" for m in HEADLESS)
    loaded = _modules_after(imports + "\nfrom cli_recover.cli.main import build_parser; build_parser(['--help'])")
    assert "textual" not in loaded
    assert "kubernetes" not in loaded
    assert "cli_recover.archive.pipeline" in loaded  # the check itself ran


def test_help_does_not_import_codecs_textual_or_kubernetes():
    loaded = _modules_after("from cli_recover.cli.main import build_parser\nbuild_parser(['backup', 'filesystem'])")
    assert not {"textual", "kubernetes", "zstandard", "lz4", "rich"} & loaded  # rich: only when drawing


def test_help_through_main_does_not_import_rich():
    """`cli-recover --help` goes through main() (which installs the pipe guard from cli.output)."""
    loaded = _modules_after("import contextlib, io\nfrom cli_recover.cli.main import main\n"
                            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
                            "    main(['--help'])")
    assert "cli_recover.cli.output" in loaded and "rich" not in loaded


def test_listing_providers_does_not_import_them():
    loaded = _modules_after("from cli_recover.providers import provider_names\nassert 'filesystem' in provider_names()")
    assert "cli_recover.providers.filesystem" not in loaded


def test_only_tui_imports_textual():
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent / "cli_recover"
    offenders = []
    for path in root.rglob("*.py"):
        if "tui" in path.relative_to(root).parts:
            continue
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import textual", "from textual")):
                offenders.append(str(path))
    assert offenders == []


def _module_graph(module_level_only: bool) -> dict[str, set[str]]:
    """cli_recover module -> the cli_recover modules it imports (statically, with ast)."""
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    paths = {}
    for path in (root / "cli_recover").rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        paths[".".join(parts)] = path
    graph = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text())
        top = []
        for node in tree.body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue  # imports for type checkers only never run
            top += list(ast.walk(node)) if isinstance(node, (ast.If, ast.Try)) else [node]
        deps = set()
        for node in (ast.walk(tree) if not module_level_only else top):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps.add(node.module)
                deps |= {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {d for d in deps if d in paths and d != name}
    return graph


def test_nothing_below_the_faces_imports_cli_or_tui():
    faces = ("cli_recover.cli", "cli_recover.tui")
    offenders = sorted(
        f"{mod} imports {dep}"
        for mod, deps in _module_graph(module_level_only=False).items()
        if not mod.startswith(faces) and mod != "cli_recover.__main__"
        for dep in deps if dep.startswith(faces)
    )
    assert offenders == []


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """Every import cycle a depth-first walk of the graph meets, as `a -> b -> a`."""
    state: dict[str, int] = {}
    cycles = []

    def visit(mod: str, stack: list[str]) -> None:
        state[mod] = 1
        stack.append(mod)
        for dep in sorted(graph.get(mod, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[mod] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [])
    return cycles


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a -> b -> c -> a"]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_at_module_level():
    graph = _module_graph(module_level_only=True)
    assert len(graph) > 30  # the scan found the package
    assert _cycles(graph) == []


def test_tui_screens_and_widgets_do_not_import_the_app_and_tui_has_no_cycles():
    """Screens import widgets, the app imports screens, nothing imports the app but the entry point;
    function-level imports count too (a lazy import is still a cycle)."""
    graph = _module_graph(module_level_only=False)
    app = "cli_recover.tui.app"
    inner = ("cli_recover.tui.screens", "cli_recover.tui.widgets")
    assert any(m.startswith("cli_recover.tui.screens.") for m in graph)  # the scan found them
    assert sorted(m for m, deps in graph.items() if m.startswith(inner) and app in deps) == []
    tui = {m: {d for d in deps if d.startswith("cli_recover.tui")} for m, deps in graph.items()
           if m.startswith("cli_recover.tui")}
    assert _cycles(tui) == []


def test_tui_errors_go_through_one_handler():
    """Screens post results as messages and errors as ErrorReport: no `call_from_thread`, no error
    notification of their own (screens.schedules is still to be converted)."""
    import ast
    import pathlib

    tui = pathlib.Path(__file__).resolve().parent.parent / "cli_recover" / "tui"
    pending = {"screens/schedules.py"}
    offenders = []
    for path in sorted(tui.rglob("*.py")):
        rel = str(path.relative_to(tui))
        if rel in pending or rel == "widgets/errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if node.func.attr == "call_from_thread":
                offenders.append(f"{rel}:{node.lineno} call_from_thread")
            if node.func.attr == "notify" and any(
                    k.arg == "severity" and isinstance(k.value, ast.Constant) and k.value.value == "error"
                    for k in node.keywords):
                offenders.append(f"{rel}:{node.lineno} notify(severity='error')")
    assert offenders == []


def test_one_human_bytes_for_the_whole_project():
    """Sizes and durations in words are written once (cli_recover/units.py, below every face)."""
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent / "cli_recover"
    defined = sorted(
        f"{path.relative_to(root)}:{node.name}"
        for path in root.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name in ("human_bytes", "human_size", "human_duration")
    )
    assert defined == ["units.py:human_bytes", "units.py:human_duration"]
    assert _module_graph(module_level_only=False)["cli_recover.units"] == set()


def test_units_in_words():
    from cli_recover.units import human_bytes, human_duration

    assert [human_bytes(n) for n in (None, 0, 1023, 1024, 1536, 5 << 30, 3 << 50)] == [
        "-", "0 B", "1023 B", "1.0 KiB", "1.5 KiB", "5.0 GiB", "3072.0 TiB"]
    assert [human_duration(s) for s in (None, -3, 59, 61, 600, 3 * 3600 + 120, 2 * 86400 + 7200, 12 * 86400)] == [
        "-", "0s", "59s", "1m01s", "10m", "3h02m", "2d2h", "12d"]


def test_the_app_does_not_import_the_cli():
    """tui/ reaches the engine directly; the command line is a face beside it, not below it."""
    offenders = sorted(
        f"{mod} imports {dep}"
        for mod, deps in _module_graph(module_level_only=False).items()
        if mod.startswith("cli_recover.tui")
        for dep in deps if dep.startswith("cli_recover.cli")
    )
    assert offenders == []
