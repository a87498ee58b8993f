"""How the tree keeps to its layout, in figures.

    python scripts/layout_report.py [--check] [--json FILE]


Over every non-test module of the project's packages: imports between packages and against
the layers of .importlinter (`lint-imports` enforces those; this counts them), import
circles between modules anywhere (not only between siblings), modules over 400 lines,
modules that read the environment other than core/settings.py, and the copies issue 12
removed (so none comes back). --check exits 1 when any figure is off.
"""

from __future__ import annotations

import argparse
import ast
import configparser
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400
SETTINGS = "core/settings.py"
# The profiler hook runs inside other processes before any project code (bench/_profhook).
ENV_EXEMPT = {SETTINGS, "bench/_profhook/sitecustomize.py"}
# Module names every service package may use for the same role; any other name used twice
# must say which is which (as catalogue.py and context.py did not).
CONVENTIONAL = {
    "__init__.py",
    "__main__.py",
    "cli.py",
    "app.py",
    "config.py",
    "errors.py",
    "export.py",
}
# Copies that each had several homes; (what, regex over non-test code, homes allowed).
SINGLE_HOMES = [
    ("default Redis URL", r"redis://127\.0\.0\.1:6390", {"core/settings.py"}),
    ("turn fallback text", r"having trouble answering", {"core/limits.py"}),
    ("action fallback text", r"couldn't get that answer ready", {"core/limits.py"}),
    ("maximum message length", r"MAX_MESSAGE_CHARS\s*=\s*\d", {"core/limits.py"}),
    ("namespace default", r"DEFAULT_NAMESPACE\s*=", {"core/settings.py"}),
    ("private-file writer", r"def \w*write_private\(", {"core/files.py"}),
    ("category list", r"CATEGORIES[^=\n]*=\s*\(", {"core/categories.py"}),
    ("persona list", r"PERSONAS[^=\n]*=\s*\(", {"core/personas.py"}),
    ("environment parser", r"def (_int_env|seconds_env|_positive_int_env|cluster_mode)\(", set()),
    ("gateway's own env reader", r"class _Reader\b", set()),
    (
        "process-wide default part",
        r"def default_(store|catalogue|engine|chooser|generator|keyring)\(",
        set(),
    ),
    ("module-level singleton", r"^\s+global \w+", set()),
    ("dead: Context.compact / MOBILE_DEVICES", r"MOBILE_DEVICES|def compact\(", set()),
]


def packages() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    return parser["importlinter"]["root_packages"].split()


def layers() -> list[list[str]]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    raw = parser["importlinter:contract:layers"]["layers"].split("\n")
    return [re.split(r"\s*[|:]\s*", line.strip()) for line in raw if line.strip()][::-1]


def modules(names: list[str]) -> dict[str, Path]:
    out = {}
    for package in names:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports_of(path: Path, module: str, known: set[str]) -> set[str]:
    """Project modules `path` imports, at any depth of the file (lazy imports count)."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter[0]
                counter[0] += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def reads_environment(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv"):
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                return True
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            if any(a.name in ("environ", "getenv", "putenv") for a in node.names):
                return True
    return False


def report() -> dict:
    names = packages()
    found = modules(names)
    known = set(found)
    graph = {m: imports_of(p, m, known) for m, p in found.items()}
    level = {pkg: i for i, layer in enumerate(layers()) for pkg in layer}
    edges: dict[str, set[str]] = defaultdict(set)
    upward = []
    for module, targets in graph.items():
        for target in targets:
            a, b = module.split(".")[0], target.split(".")[0]
            if a != b:
                edges[a].add(b)
                if level[a] < level[b] or (level[a] == level[b]):
                    upward.append(f"{module} -> {target}")
    sources = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in found.values()}
    sizes = {path: text.count("\n") for path, text in sources.items()}
    env = sorted(p for p, t in sources.items() if reads_environment(ast.parse(t)))
    copies = {}
    for what, pattern, homes in SINGLE_HOMES:
        regex = re.compile(pattern, re.M)
        where = sorted(p for p, text in sources.items() if regex.search(text))
        copies[what] = {"found_in": where, "allowed": sorted(homes)}
    class_homes: dict[str, list[str]] = defaultdict(list)
    basenames: dict[str, list[str]] = defaultdict(list)
    for path, text in sources.items():
        name = Path(path).name
        if name not in CONVENTIONAL and not path.startswith("bench/"):
            basenames[name].append(path)
        for node in ast.parse(text).body:
            if isinstance(node, ast.ClassDef) and not path.startswith("bench/"):
                class_homes[node.name].append(path)
    return {
        "packages": len(names),
        "modules": len(found),
        "package_imports": {a: sorted(b) for a, b in sorted(edges.items())},
        "imports_against_the_layers": sorted(upward),
        "import_circles": circles(graph),
        "largest_modules": sorted(sizes.items(), key=lambda kv: -kv[1])[:5],
        "modules_over_400_lines": sorted(p for p, n in sizes.items() if n > MAX_LINES),
        "environment_readers": env,
        "environment_readers_besides_settings": [p for p in env if p not in ENV_EXEMPT],
        "single_homes": copies,
        "class_names_defined_twice": {k: v for k, v in class_homes.items() if len(v) > 1},
        "module_names_used_twice": {k: v for k, v in basenames.items() if len(v) > 1},
    }


def problems(data: dict) -> list[str]:
    out = [f"imports against the layers: {e}" for e in data["imports_against_the_layers"]]
    out += [f"import circle: {' <-> '.join(c)}" for c in data["import_circles"]]
    out += [f"over {MAX_LINES} lines: {p}" for p in data["modules_over_400_lines"]]
    out += [f"reads the environment: {p}" for p in data["environment_readers_besides_settings"]]
    for what, seen in data["single_homes"].items():
        extra = [p for p in seen["found_in"] if p not in seen["allowed"]]
        if extra:
            out.append(f"{what}: also in {', '.join(extra)}")
    out += [
        f"class {k} defined in {', '.join(v)}" for k, v in data["class_names_defined_twice"].items()
    ]
    out += [
        f"module name {k} used by {', '.join(v)}"
        for k, v in data["module_names_used_twice"].items()
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if any figure is off")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    data = report()
    found = problems(data)
    largest = ", ".join(f"{p} {n}" for p, n in data["largest_modules"][:3])
    print(
        f"{data['packages']} packages, {data['modules']} modules; "
        f"imports against the layers: {len(data['imports_against_the_layers'])}; "
        f"import circles: {len(data['import_circles'])}; "
        f"modules over {MAX_LINES} lines: {len(data['modules_over_400_lines'])} "
        f"(largest: {largest}); "
        f"environment readers besides {SETTINGS}: "
        f"{len(data['environment_readers_besides_settings'])}; "
        f"copies left: {sum(1 for p in found if ':' in p and 'also in' in p)}"
    )
    for package, targets in data["package_imports"].items():
        print(f"  {package:16} -> {', '.join(targets)}")
    for problem in found:
        print(f"Error: {problem}", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 1 if args.check and found else 0


if __name__ == "__main__":
    sys.exit(main())
