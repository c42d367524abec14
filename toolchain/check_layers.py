"""Check the glue crate's structure (crates/manygil-python/src); run by `make rust-lint`.

Three rules, each printed with the offending lines when broken:

1. Layers: the top-level folders depend only downwards, in the order `lib.rs`'s module
   doc lists them ("Folders, each depending only on those listed before it"): a file may
   name `crate::X` only for an `X` listed before its own folder (or its own folder).
2. No file cycles: the graph "file A names an item of file B" (through `crate::`,
   `super::`, `self::` or a child module's name, following a `mod.rs`'s re-exports to the
   file that defines the item) has no cycle. One kind of edge is left out: a file naming
   an item of an enclosing folder's `mod.rs` (the folder's shared vocabulary, which Rust
   makes one module with its children); `--strict` counts those too.
3. The C-API gate: outside `ffi/`, nothing names `pyo3_ffi` and no C-API function is
   called (a `Py…`/`_Py…` name followed by `(`); nothing glob-imports from `ffi` (every
   name is imported by name, raw C-API declarations as `crate::ffi::raw::…`). `unsafe`
   outside `ffi/` belongs only to `extern "C"` slot functions (and the blocks inside
   them); the other uses still there are counted against UNSAFE_BUDGET, which only goes
   down (`--list-unsafe` lists them).

Usage: python toolchain/check_layers.py [--graph] [--strict] [--list-unsafe]
(--graph prints every file's edges)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# `unsafe` uses outside `ffi/` that are not `extern "C"` slot functions (issue 25: to be
# moved behind safe wrappers in `ffi/`). The check fails if there are more; lower it when
# there are fewer.
UNSAFE_BUDGET = 84

SRC = Path(__file__).resolve().parent.parent / "crates" / "manygil-python" / "src"


def strip(text: str) -> str:
    """The source with comments, strings and char literals blanked (lines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif (
            c == "r"
            and re.match(r'r#*"', text[i:])
            and not (i and (text[i - 1].isalnum() or text[i - 1] == "_"))
        ):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.[^']*|[^\\'])'", text[i:]):
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def drop_test_modules(code: str) -> str:
    """`code` with the bodies of `#[cfg(test)] mod x { ... }` blanked (their `super` is the
    file itself; tests are not part of the dependency graph)."""
    for m in reversed(list(re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", code))):
        depth, j = 0, m.end() - 1
        while j < len(code):
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            if depth == 0:
                break
            j += 1
        body = code[m.start() : j + 1]
        code = code[: m.start()] + "\n" * body.count("\n") + code[j + 1 :]
    return code


def module_path(f: Path) -> list[str]:
    """`crate::a::b` as ["a", "b"] for src/a/b.rs or src/a/b/mod.rs; [] for lib.rs."""
    parts = list(f.relative_to(SRC).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return parts


class Crate:
    def __init__(self) -> None:
        self.files = sorted(SRC.rglob("*.rs"))
        self.by_mod = {tuple(module_path(f)): f for f in self.files}
        self.code = {f: drop_test_modules(strip(f.read_text())) for f in self.files}
        # A mod.rs's (or any module file's) re-exports of its children's items:
        # name -> module path of the child that holds it.
        self.reexports: dict[tuple[str, ...], dict[str, tuple[str, ...]]] = {}
        for f in self.files:
            mod = tuple(module_path(f))
            table: dict[str, tuple[str, ...]] = {}
            for m in re.finditer(r"pub(?:\([^)]*\))?\s+use\s+([^;]+);", self.code[f]):
                for path in expand_use(m.group(1)):
                    segs = [s.split(" as ")[0].strip() for s in path.split("::")]
                    base = mod if f.name in ("mod.rs", "lib.rs") else mod[:-1]
                    if segs[0] == "self":
                        segs = segs[1:]
                    elif segs[0] == "crate":
                        base, segs = (), segs[1:]
                    while segs and segs[0] == "super":
                        base, segs = base[:-1], segs[1:]
                    if len(segs) < 2 or segs[0] in ("std", "pyo3_ffi", "manygil_core"):
                        continue
                    target = self.resolve_module(base + tuple(segs[:-1]))
                    if target is not None:
                        name = path.split("::")[-1].split(" as ")[-1].strip()
                        table[name] = target
            self.reexports[mod] = table

    def resolve_module(self, segs: tuple[str, ...]) -> tuple[str, ...] | None:
        """The longest prefix of `segs` that is a file's module."""
        for k in range(len(segs), -1, -1):
            if segs[:k] in self.by_mod:
                return segs[:k]
        return None

    def target(self, mod: tuple[str, ...], segs: list[str]) -> tuple[str, ...] | None:
        """The module (file) that an absolute path `crate::segs` names an item of."""
        segs = [s for s in segs if s]
        found = self.resolve_module(tuple(segs))
        if found is None:
            return None
        rest = segs[len(found) :]
        # Follow re-exports: crate::ffi::Attached -> ffi/owned.rs.
        seen = 0
        while rest and rest[0] in self.reexports.get(found, {}) and seen < 8:
            nxt = self.reexports[found][rest[0]]
            if nxt == found:
                break
            found, seen = nxt, seen + 1
        return found

    def edges(self, f: Path) -> dict[tuple[str, ...], list[int]]:
        """The files `f` names items of, each with the lines that name them."""
        mod = tuple(module_path(f))
        is_dir_mod = f.name in ("mod.rs", "lib.rs")
        # A plain file's `super` is its folder; a mod.rs's `self` is its folder.
        here = mod if is_dir_mod else mod
        parent = mod[:-1]
        code = self.code[f]
        children = set(re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code, re.M))
        out: dict[tuple[str, ...], list[int]] = {}

        def add(segs: list[str], pos: int, base: tuple[str, ...]) -> None:
            t = self.target(mod, list(base) + segs)
            if t is None or t == mod:
                return
            out.setdefault(t, []).append(code.count("\n", 0, pos) + 1)

        # Paths in `use` statements (with brace groups), then inline paths.
        uses = list(re.finditer(r"\buse\s+([^;]+);", code))
        spans = [(m.start(), m.end()) for m in uses]
        for m in uses:
            reexport = re.search(r"pub(?:\([^)]*\))?\s+$", code[max(0, m.start() - 20) : m.start()])
            for path in expand_use(m.group(1)):
                segs = [s.split(" as ")[0].strip() for s in path.split("::")]
                if reexport and segs[0] in children and is_dir_mod:
                    continue  # a re-export; followed where it is used
                self.add_path(segs, m.start(), here, parent, children, add)
        for m in re.finditer(r"(?<![\w:$])((?:crate|super|self|\w+)(?:::\w+)+)", code):
            if any(a <= m.start() < b for a, b in spans):
                continue
            segs = m.group(1).split("::")
            if segs[0] not in ("crate", "super", "self") and segs[0] not in children:
                continue
            self.add_path(segs, m.start(), here, parent, children, add)
        for m in re.finditer(r"\$crate((?:::\w+)+)", code):
            add(m.group(1).split("::")[1:], m.start(), ())
        return out

    def add_path(self, segs, pos, here, parent, children, add) -> None:
        if segs[0] == "crate":
            add(segs[1:], pos, ())
        elif segs[0] == "super":
            base = parent
            segs = segs[1:]
            while segs and segs[0] == "super":
                base, segs = base[:-1], segs[1:]
            add(segs, pos, base)
        elif segs[0] == "self":
            add(segs[1:], pos, here)
        elif segs[0] in children:
            add(segs, pos, here)


def expand_use(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+", " ", tree).strip()

    def split_top(s: str) -> list[str]:
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        parts.append(cur)
        return [p.strip() for p in parts if p.strip()]

    def go(prefix: str, s: str) -> list[str]:
        i = s.find("{")
        if i < 0:
            return [prefix + s]
        head = s[:i]
        inner = s[i + 1 : s.rfind("}")]
        res = []
        for part in split_top(inner):
            if part == "self":
                res.append((prefix + head).rstrip(":"))
            else:
                res.extend(go(prefix + head, part))
        return res

    return [p.replace(" ", "") if " as " not in p else p for p in go("", tree)]


def layer_order() -> list[str]:
    """The folders in the order lib.rs's doc lists them."""
    doc = (SRC / "lib.rs").read_text()
    return re.findall(r"^//! - `(\w+)`:", doc, re.M)


def cycles(graph: dict[tuple, set]) -> list[list[tuple]]:
    """The strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def name(mod: tuple[str, ...], crate: Crate) -> str:
    return str(crate.by_mod[mod].relative_to(SRC))


def main() -> int:
    crate = Crate()
    order = layer_order()
    rank = {n: i for i, n in enumerate(order)}
    problems: list[str] = []
    graph: dict[tuple, set] = {}
    for f in crate.files:
        mod = tuple(module_path(f))
        edges = crate.edges(f)
        graph[mod] = {
            t
            for t in edges
            if "--strict" in sys.argv
            or not (crate.by_mod[t].name == "mod.rs" and len(t) < len(mod) and mod[: len(t)] == t)
        }
        if "--graph" in sys.argv:
            print(name(mod, crate), "->", ", ".join(sorted(name(t, crate) for t in edges)))
        if not mod:
            continue
        if mod[0] not in rank:
            problems.append(f"layers: folder {mod[0]}/ is not listed in lib.rs's module doc")
            continue
        for t, lines in edges.items():
            if t and t[0] in rank and rank[t[0]] > rank[mod[0]]:
                problems.append(
                    f"layers: {name(mod, crate)}:{lines[0]} uses {name(t, crate)} "
                    f"({t[0]}/ is above {mod[0]}/ in lib.rs's list)"
                )
    for comp in cycles(graph):
        problems.append("file cycle: " + " -> ".join(name(m, crate) for m in comp))

    unsafe_uses: list[str] = []
    raw_call = re.compile(r"(?<![\w.])(?<!fn )(_?Py[A-Z]\w*)\s*\(")
    for f in crate.files:
        rel = f.relative_to(SRC)
        if rel.parts[0] == "ffi":
            continue
        lines = crate.code[f].split("\n")
        for no, line in enumerate(lines, 1):
            if "pyo3_ffi" in line:
                problems.append(f"gate: {rel}:{no} names pyo3_ffi")
            if re.search(r"\bffi(?:::\w+)*::\*", line):
                problems.append(f"gate: {rel}:{no} glob-imports from ffi (import by name)")
            for m in raw_call.finditer(line):
                problems.append(f"gate: {rel}:{no} calls the C-API ({m.group(1)})")
        for no, kind in unsafe_outside_slots(crate.code[f]):
            unsafe_uses.append(
                f'gate: {rel}:{no} unsafe {kind} outside ffi/ (not an extern "C" slot)'
            )
    if "--list-unsafe" in sys.argv:
        print("\n".join(unsafe_uses))
    if len(unsafe_uses) > UNSAFE_BUDGET:
        problems.extend(unsafe_uses)
        problems.append(
            f"gate: {len(unsafe_uses)} unsafe uses outside ffi/, more than UNSAFE_BUDGET={UNSAFE_BUDGET}"
        )
    elif len(unsafe_uses) < UNSAFE_BUDGET:
        print(
            f"check_layers: {len(unsafe_uses)} unsafe uses outside ffi/: lower UNSAFE_BUDGET to it"
        )

    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(
        f"check_layers: {len(crate.files)} files, layers {' < '.join(order)}, no file cycle, "
        f"no C-API call outside ffi/, {len(unsafe_uses)} unsafe uses outside ffi/ slots: ok"
    )
    return 0


def unsafe_outside_slots(code: str) -> list[tuple[int, str]]:
    """`unsafe` uses that are neither an `unsafe extern "C" fn` nor inside one's body."""
    out = []
    # Bodies of `extern "C" fn` items (string literals are blanked to "" by strip()).
    slot_bodies = []
    for m in re.finditer(r'(?:unsafe\s+)?extern\s+""\s+fn\b', code):
        i = code.find("{", m.end())
        semi = code.find(";", m.end())
        if i < 0 or (0 <= semi < i):
            continue
        depth, j = 0, i
        while j < len(code):
            if code[j] == "{":
                depth += 1
            elif code[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        slot_bodies.append((m.start(), j))
    for m in re.finditer(r"\bunsafe\b", code):
        after = code[m.end() : m.end() + 30].lstrip()
        if after.startswith('extern ""') or after.startswith("extern"):
            continue
        if any(a <= m.start() <= b for a, b in slot_bodies):
            continue
        kind = "block" if after.startswith("{") else ("fn" if after.startswith("fn") else "item")
        out.append((code.count("\n", 0, m.start()) + 1, kind))
    return out


if __name__ == "__main__":
    sys.exit(main())
