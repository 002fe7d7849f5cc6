"""The package's layers, read from the source: every import of ``kernel_laugh`` points down, there is no cycle,
and a function-local import is either an optional extra or the CLI's lazy loading of a command, marked so.

The graph comes from ``ast`` (no module is imported): an edge A → B for every ``import`` of B in A, at module
level or inside a function, except under ``if TYPE_CHECKING:`` (annotations only; nothing runs).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "kernel_laugh"

ENTRY, COMMANDS, SERVICES, BLOCKS, BASE = 4, 3, 2, 1, 0
LAYER_NAMES = {ENTRY: "entry point (cli / Space)", COMMANDS: "command", SERVICES: "service", BLOCKS: "building block",
               BASE: "config / errors"}

# Every module of src/kernel_laugh, in one place. An import may point to the same layer (no cycle) or below.
LAYERS: dict[str, int] = {
    # cli / the Space's app: parse arguments or wire a UI, call the layers below; nothing imports them.
    "kernel_laugh.cli": ENTRY,
    "kernel_laugh.demo": ENTRY,
    "kernel_laugh.audio.demo": ENTRY,
    "kernel_laugh.fusion.demo": ENTRY,
    # the Space's work without gradio (testable without a server): services.
    "kernel_laugh.demo_service": SERVICES,
    "kernel_laugh.audio.demo_service": SERVICES,
    "kernel_laugh.face_service": SERVICES,
    # commands: one whole user-facing job built from services (compare, lr-find).
    "kernel_laugh.comparison": COMMANDS,
    "kernel_laugh.lr_find": COMMANDS,
    "kernel_laugh.fusion.commands": COMMANDS,  # fuse-train, evaluate on a fusion folder
    # services: training, evaluation, serving and publishing.
    "kernel_laugh.training": SERVICES,
    "kernel_laugh.evaluation": SERVICES,
    "kernel_laugh.inference": SERVICES,
    "kernel_laugh.video": SERVICES,
    "kernel_laugh.video.decoding": SERVICES,
    "kernel_laugh.video.export": SERVICES,
    "kernel_laugh.video.timeline": SERVICES,
    "kernel_laugh.hub": SERVICES,
    "kernel_laugh.legacy": SERVICES,
    "kernel_laugh.audio.predict": SERVICES,
    "kernel_laugh.fusion.experts": SERVICES,  # runs the expert models over a clip
    "kernel_laugh.fusion.sample": SERVICES,  # writes the SYNTHETIC sample and trains its experts
    "kernel_laugh.fusion.training": SERVICES,
    "kernel_laugh.fusion.evaluation": SERVICES,
    "kernel_laugh.fusion.timeline": SERVICES,
    # building blocks: models, data, readers, metrics, results, report, card, plots.
    "kernel_laugh.modeling": BLOCKS,
    "kernel_laugh.data": BLOCKS,
    "kernel_laugh.transforms": BLOCKS,
    "kernel_laugh.sample": BLOCKS,
    "kernel_laugh.metrics": BLOCKS,
    "kernel_laugh.intervals": BLOCKS,
    "kernel_laugh.coverage": BLOCKS,
    "kernel_laugh.results": BLOCKS,
    "kernel_laugh.uploads": BLOCKS,
    "kernel_laugh.batching": BLOCKS,
    "kernel_laugh.frame_regions": BLOCKS,
    "kernel_laugh.space_bundle": BLOCKS,
    "kernel_laugh.face_expressions": BLOCKS,
    "kernel_laugh.emotion_timeline": BLOCKS,
    "kernel_laugh.live_stream": BLOCKS,
    "kernel_laugh.report": BLOCKS,
    "kernel_laugh.card": BLOCKS,
    "kernel_laugh.plots": BLOCKS,
    "kernel_laugh.explain": BLOCKS,
    "kernel_laugh.faces": BLOCKS,  # face detection and cropping (OpenCV), no model
    "kernel_laugh.checkpoints": BLOCKS,
    "kernel_laugh.outputs": BLOCKS,
    "kernel_laugh.hardware": BLOCKS,
    "kernel_laugh.fastpath": BLOCKS,
    "kernel_laugh.readers": BLOCKS,
    "kernel_laugh.readers.tables": BLOCKS,
    "kernel_laugh.readers.images": BLOCKS,
    "kernel_laugh.readers.frames": BLOCKS,
    "kernel_laugh.readers.audio": BLOCKS,
    "kernel_laugh.readers.folders": BLOCKS,
    "kernel_laugh.readers.segments": BLOCKS,
    "kernel_laugh.readers.models": BLOCKS,
    "kernel_laugh.audio": BLOCKS,
    "kernel_laugh.audio.features": BLOCKS,
    "kernel_laugh.audio.model": BLOCKS,
    "kernel_laugh.audio.data": BLOCKS,
    "kernel_laugh.audio.sample": BLOCKS,
    "kernel_laugh.audio.task": BLOCKS,
    "kernel_laugh.audio.card": BLOCKS,
    "kernel_laugh.fusion": BLOCKS,
    "kernel_laugh.fusion.steps": BLOCKS,
    "kernel_laugh.fusion.gate": BLOCKS,
    "kernel_laugh.fusion.batches": BLOCKS,
    "kernel_laugh.fusion.artefact": BLOCKS,
    "kernel_laugh.fusion.card": BLOCKS,
    "kernel_laugh.fusion.plots": BLOCKS,
    # settings and the one error type; the package itself holds only the version and that error.
    "kernel_laugh": BASE,
    "kernel_laugh.config": BASE,
    "kernel_laugh.errors": BASE,
}

# What a function-local import must say on its line (or the line above) to be allowed.
LOCAL_IMPORT_MARKS = ("# optional extra", "# lazy")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]):
    """(imported kernel_laugh module, import node, enclosing function name or None) for every import."""
    def visit(node: ast.AST, function: str | None):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and function is None else function
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child, function
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: resolved against this module's package
                    package = module.split(".") if is_package else module.split(".")[:-1]
                    base = ".".join(package[: len(package) - child.level + 1] + ([child.module] if child.module else []))
                for alias in child.names:  # `from pkg import module` imports the module
                    yield (f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base), child, function
            yield from visit(child, inner)

    for name, node, function in visit(tree, None):
        if name == "kernel_laugh" or name.startswith("kernel_laugh."):
            while name not in known and "." in name:  # `import kernel_laugh.x.y as z` of a name inside a module
                name = name.rsplit(".", 1)[0]
            yield name, node, function
        else:
            yield None, node, function


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[name] = {target for target, _, _ in _imports(tree, name, path.name == "__init__.py", set(modules))
                       if target is not None and target != name}
    return graph


def test_every_module_has_a_layer():
    missing = sorted(set(_modules()) - set(LAYERS))
    assert not missing, (f"modules with no layer: {missing}. Add each to LAYERS in tests/test_architecture.py "
                         "(entry point, command, service, building block, or config / errors)")
    stale = sorted(set(LAYERS) - set(_modules()))
    assert not stale, f"LAYERS names modules that no longer exist: {stale}; remove them"


def test_imports_point_down():
    upward = [f"{a} ({LAYER_NAMES[LAYERS[a]]}) imports {b} ({LAYER_NAMES[LAYERS[b]]})"
              for a, targets in _graph().items() for b in sorted(targets)
              if a in LAYERS and b in LAYERS and LAYERS[b] > LAYERS[a]]
    assert not upward, "imports that point up:\n  " + "\n  ".join(upward)


def test_no_import_cycles():
    graph = _graph()
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" → ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not cycles, "import cycles:\n  " + "\n  ".join(cycles)


def test_function_local_imports_are_marked():
    """Imports sit at the top of a module. Inside a function only two kinds are allowed, each marked on its line
    (or the line above): an optional extra (gradio, av, cv2...: `# optional extra`), or the CLI loading a
    command's modules when it runs (`# lazy`), which keeps `kernel-laugh --help` fast."""
    modules = _modules()
    unmarked = []
    for name, path in modules.items():
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source, str(path))
        seen = set()
        for _, node, function in _imports(tree, name, path.name == "__init__.py", set(modules)):
            if function is None or node.lineno in seen:
                continue
            seen.add(node.lineno)
            around = lines[node.lineno - 2: node.end_lineno]  # the line above, and every line of the statement
            if not any(mark in line for line in around for mark in LOCAL_IMPORT_MARKS):
                unmarked.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} in {function}(): "
                                f"{lines[node.lineno - 1].strip()}")
    assert not unmarked, ("function-local imports: move them to the top of the module, or mark an optional extra "
                          "(`# optional extra`) or the CLI's lazy loading of a command (`# lazy`):\n  "
                          + "\n  ".join(unmarked))


def test_the_checker_sees_an_upward_import_and_a_cycle(tmp_path):
    """The graph builder itself: relative and absolute imports, inside functions too, TYPE_CHECKING ignored."""
    source = ("from __future__ import annotations\nfrom typing import TYPE_CHECKING\nfrom . import config\n"
              "if TYPE_CHECKING:\n    from kernel_laugh.training import Run\n"
              "def f():\n    from kernel_laugh.cli import main  # lazy\n    import kernel_laugh.report.x\n")
    known = {"kernel_laugh.config", "kernel_laugh.cli", "kernel_laugh.report", "kernel_laugh.training",
             "kernel_laugh.metrics"}
    found = [(t, fn) for t, _, fn in _imports(ast.parse(source), "kernel_laugh.metrics", False, known) if t]
    assert found == [("kernel_laugh.config", None), ("kernel_laugh.cli", "f"), ("kernel_laugh.report", "f")]
