"""Linking the browser components' ES modules into the one module string components v2 takes.

Streamlit imports a component's JavaScript from a string (as a blob URL), where a relative import cannot resolve
(a path works only for installed packages). So each .js file under ui/ is a real module that imports what it uses,
and link() joins a component's module with those it imports: no build step, no tool beyond this function.
"""
from __future__ import annotations

import re
from pathlib import Path

IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"(\.\.?/[^"]+)";[ \t]*\n?', re.M)
EXPORT = re.compile(r"^export\s+(?=(?:const|let|var|class|async|function)\b)", re.M)
DECLARED = re.compile(r"^(export\s+)?(?:const|let|var|class|(?:async\s+)?function\*?)\s+(\w+)", re.M)


def link(entry: Path) -> str:
    """entry and the modules it imports (`import { a, b } from "./x.js";`, relative paths), each once and before
    its importers, as one module: the import lines dropped, and the `export` keywords but entry's.

    ValueError for an import of a name the module does not export, a top-level name two modules declare (they
    share one scope once joined), an import cycle, or any other form of import."""
    texts: dict[Path, str] = {}  # dependencies first
    visiting: list[Path] = []

    def visit(path: Path) -> None:
        if path in visiting:
            raise ValueError(f"import cycle: {' -> '.join(p.name for p in visiting + [path])}")
        if path in texts:
            return
        visiting.append(path)
        text = path.read_text()
        if re.search(r"^\s*import\b", IMPORT.sub("", text), re.M):
            raise ValueError(f"{path}: only `import {{ names }} from \"./relative.js\";` is linked")
        for names, target in IMPORT.findall(text):
            dependency = (path.parent / target).resolve()
            visit(dependency)
            exported = {name for export, name in DECLARED.findall(texts[dependency]) if export}
            missing = {name.strip() for name in names.split(",")} - exported - {""}
            if missing:
                raise ValueError(f"{path.name} imports {', '.join(sorted(missing))} from {target}, which does not "
                                 f"export it")
        visiting.pop()
        texts[path] = text

    entry = entry.resolve()
    visit(entry)
    home: dict[str, Path] = {}
    for path, text in texts.items():
        for _, name in DECLARED.findall(text):
            if home.setdefault(name, path) != path:
                raise ValueError(f"{name} is declared at the top level of both {home[name].name} and {path.name}")
    parts = [IMPORT.sub("", text) for text in texts.values()]
    for i, text in enumerate(parts[:-1]):  # the last is entry, whose default export is the component
        parts[i] = EXPORT.sub("", text)
        if re.search(r"^export\b", parts[i], re.M):
            raise ValueError(f"{list(texts)[i].name}: a module others import exports declarations only")
    return "\n".join(parts)
