"""The package's shape, checked: no import circle anywhere in hinr (imports inside functions and
under TYPE_CHECKING counted), and few loose modules at its top (the rest live in packages that
show the architecture: models, layers, io, store, inference, evaluation, data, train, cli), and
no import from a lower layer to a higher one."""

from __future__ import annotations

import ast
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hinr"


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module → the hinr modules it imports, wherever in the file the import statement is."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                found |= {t for t in [target, *(f"{target}.{a.name}" for a in node.names)] if t in modules}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name in modules}
        graph[name] = found - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_in_hinr():
    graph = import_graph()
    assert "hinr.store.checkpoint" in graph["hinr.inference.upscaler"]  # an import inside a function is seen
    assert "hinr.store.shipped" in graph["hinr.store.checkpoint"]
    assert cycles(graph) == []


# hinr's layers, top to bottom: a module imports from its own layer or from those below it only
LAYERS = (("cli",), ("train",), ("evaluation",), ("inference",), ("store",), ("data",), ("io",),
          ("models",), ("layers",),
          ("config", "errors", "atomic", "precision", "coords", "device", "threads", ""))


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    return next(i for i, names in enumerate(LAYERS) if top in names)


def test_no_import_runs_back_up_a_layer():
    graph = import_graph()
    assert {m.split(".")[1] for m in graph if "." in m} <= {n for names in LAYERS for n in names} | {
        f.stem for f in PACKAGE.glob("*.py")}, "a new package: give it its place in LAYERS"
    upward = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                    if _layer(b) < _layer(a))
    assert upward == []


def test_few_loose_modules_at_the_top():
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= 8, loose


def test_training_options_are_defined_once():
    """`hinr train`'s options are TrainConfig's fields (or the model options, ModelConfig's), by
    the same names: the CLI, TrainOptions and TrainConfig cannot drift apart."""
    import dataclasses

    import typer

    from hinr.cli.app import app
    from hinr.cli.train_runner import MODEL_FLAGS, TrainOptions
    from hinr.config import ModelConfig
    from hinr.train.config import TrainConfig

    train = dataclasses.fields(TrainConfig)
    model = {f.name for f in dataclasses.fields(ModelConfig)}
    run_only = {"out", "resume"}  # where the run goes, not how it trains
    options = {f.name for f in dataclasses.fields(TrainOptions)}
    assert set(MODEL_FLAGS) <= model
    assert options - run_only - set(MODEL_FLAGS) <= {f.name for f in train}
    # every training setting a user may choose is on the command line
    internal = {"split", "model_overrides", "min_lr_ratio", "weight_decay", "adam_eps", "clip",
                "val_fraction", "val_images"}
    assert {f.name for f in train} - internal <= options
    command = typer.main.get_command(app).commands["train"]
    cli = {p.name for p in command.params}
    assert options == cli
