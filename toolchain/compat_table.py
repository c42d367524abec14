"""docs/compatibility.md: which of the most-downloaded PyPI packages import in own-GIL
interpreters. Run by toolchain/compat.sh (``make compat``), in two steps:

``compat_table.py collect --packages FILE --installs TSV --out JSON`` (run by the venv's
own Python, where the packages are installed): maps each listed distribution to its
import names (:func:`manygil.check.distribution_modules`), runs ``python -m manygil check
--json`` on all of them and writes one JSON document: the date, the Python version, each
package (rank, pin, installed version, import names, install outcome) and check's rows.

``compat_table.py render JSON [--out FILE]``: the Markdown page, from that document alone
(deterministic: rows sorted by package name, the only date the one collected).
"""

from __future__ import annotations

import argparse
import json
import re
import sys

#: A package's status is its worst import name's, in this order.
ORDER = ("refused", "error", "degraded", "ok")
STATUSES = ("ok", "degraded", "refused", "error", "not installable")

#: The pure-Python way out, by canonical distribution name, where one exists (each tried
#: in a worker on 3.14, or read in the package's source; shown on a row that is not ok).
WAYS_OUT = {
    "sqlalchemy": "build it without its Cython extensions: `DISABLE_SQLALCHEMY_CEXT=1 pip "
    "install --no-binary sqlalchemy sqlalchemy` (then it imports and works in workers)",
    "charset-normalizer": "its pure-Python wheel: `pip install --no-binary "
    "charset-normalizer charset-normalizer` (the sdist builds without mypyc)",
    "tomli": "the stdlib's `tomllib` (3.11+), or `pip install --no-binary tomli tomli` "
    "(the sdist builds without mypyc)",
    "pyyaml": "already falls back: `yaml.SafeLoader`/`yaml.safe_load` (pure Python) work; "
    "`yaml.CSafeLoader` does not exist in workers",
    "psycopg": "`psycopg` without `psycopg[binary]` (or `PSYCOPG_IMPL=python`): its "
    "pure-Python implementation",
    "protobuf": "already falls back to the pure-Python implementation "
    "(`PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python` says so up front)",
    "aiohttp": "already falls back to pure Python (`AIOHTTP_NO_EXTENSIONS=1` skips the "
    "compiled parts up front)",
    "yarl": "already falls back to pure Python (`YARL_NO_EXTENSIONS=1`)",
    "frozenlist": "already falls back to pure Python (`FROZENLIST_NO_EXTENSIONS=1`)",
    "propcache": "already falls back to pure Python (`PROPCACHE_NO_EXTENSIONS=1`)",
    "pyjwt": "in an environment without `cryptography`, PyJWT imports and signs with the HMAC "
    "algorithms (HS256...); RSA and EC keys need cryptography",
}


def canonical(name: str) -> str:
    """A distribution name as the packaging standards compare them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_packages(path: str) -> tuple[list[str], list[tuple[str, str]]]:
    """``(comment lines, [(name, requirement)])`` of a pinned list such as
    toolchain/top-packages.txt, in its order."""
    comments, packages = [], []
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if line.startswith("#"):
                comments.append(line.lstrip("# ").rstrip())
            elif line:
                m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
                if m is None:
                    raise SystemExit(f"{path}: not a requirement: {line!r}")
                packages.append((m.group(0), line))
    return comments, packages


def read_installs(path: str) -> dict[str, tuple[str, str]]:
    """``{canonical name: (outcome, reason)}`` from compat.sh's installs.tsv."""
    found = {}
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        if header[:4] != ["name", "pin", "install", "reason"]:
            raise SystemExit(f"{path}: not an installs table (header {header!r})")
        for line in f:
            name, _pin, outcome, reason = (line.rstrip("\n").split("\t") + [""] * 4)[:4]
            found[canonical(name)] = (outcome, reason)
    return found


def collect(packages_path: str, installs_path: str, jobs: int, timeout: float) -> dict:
    """Run in the environment the packages are installed in: the document :func:`render`
    takes."""
    import datetime
    import importlib.metadata
    import platform
    import subprocess

    from manygil.check import distribution_modules

    comments, packages = read_packages(packages_path)
    installs = read_installs(installs_path)
    rows = []
    for rank, (name, pin) in enumerate(packages, 1):
        outcome, reason = installs.get(canonical(name), ("failed", "not attempted"))
        row = {"name": name, "rank": rank, "pin": pin, "install": outcome, "reason": reason}
        if outcome == "ok":
            try:
                dist = importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                row.update(install="failed", reason="pip succeeded, but it is not installed")
            else:
                row.update(version=dist.version, modules=distribution_modules(dist))
        rows.append(row)
    modules = sorted({m for row in rows for m in row.get("modules", ())})
    cmd = [sys.executable, "-m", "manygil", "check", "--json", "--progress"]
    cmd += ["--jobs", str(jobs), "--timeout", f"{timeout:g}", *modules]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"python -m manygil check failed with exit status {proc.returncode}")
    results = [r for r in json.loads(proc.stdout) if r.get("module")]
    return {
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "source": comments,
        "packages": rows,
        "results": results,
    }


# --- rendering --------------------------------------------------------------------------------


#: Which distribution an extension module belongs to, by name prefix: a row that loses it
#: also gets that distribution's way out (requests loses charset_normalizer's parts).
EXTENSION_OWNERS = {
    "charset_normalizer": "charset-normalizer",
    "google._upb": "protobuf",
    "yarl": "yarl",
    "frozenlist": "frozenlist",
    "propcache": "propcache",
    "aiohttp": "aiohttp",
    "yaml": "pyyaml",
    "sqlalchemy": "sqlalchemy",
    "psycopg_binary": "psycopg",
    "psycopg_c": "psycopg",
}


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def compact(names: list[str], most: int = 3) -> str:
    """Module names for a cell: more than ``most`` siblings are shown as ``parent.*`` and
    how many (googleapis-common-protos installs 70 ``google.*._pb2`` modules)."""
    siblings: dict[str, int] = {}
    for n in names:
        parent = n.rpartition(".")[0]
        siblings[parent] = siblings.get(parent, 0) + 1
    out: list[str] = []
    for n in sorted(names):
        parent = n.rpartition(".")[0]
        if parent and siblings[parent] > most:
            label = f"`{parent}.*` ({siblings[parent]})"
        else:
            label = f"`{n}`"
        if label not in out:
            out.append(label)
    return ", ".join(out)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _first_line(text: str | None, width: int = 160) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def _module_detail(r: dict) -> str:
    if r["status"] == "refused":
        return f"`{r['extension']}` refused"
    if r["status"] == "degraded":
        text = f"imports without {', '.join(f'`{n}`' for n in r['refused'])} (refused)"
        return f"{text}: {r['lost']}" if r.get("lost") else text
    if r["status"] == "error":
        return _first_line(r.get("error"))
    return ""


def _status(statuses: set[str]) -> str:
    """A package's status from its import names': theirs when they agree; ``degraded``
    when some import and others are refused or fail; else the worst."""
    if len(statuses) == 1:
        return next(iter(statuses))
    if statuses & {"ok", "degraded"}:
        return "degraded"
    return min(statuses, key=ORDER.index)


def _ways_out(name: str, rs: list[dict]) -> str:
    own = canonical(name)
    owners = [own]
    for r in rs:
        for ext in [r.get("extension") or "", *(r.get("refused") or ())]:
            for prefix, dist in EXTENSION_OWNERS.items():
                if _within(ext, prefix) and dist not in owners:
                    owners.append(dist)
    texts = []
    for dist in owners:
        text = WAYS_OUT.get(dist)
        if text:
            texts.append(text if dist == own else f"{dist}: {text}")
    return "; ".join(texts)


def package_row(pkg: dict, results: dict[str, dict]) -> dict:
    """One table row: ``status``, ``detail`` and ``way_out`` for a collected package, from
    check's results by module name."""
    if pkg["install"] != "ok":
        reason = pkg.get("reason") or "pip install failed"
        return {**pkg, "status": "not installable", "detail": reason, "way_out": ""}
    modules = pkg.get("modules") or []
    if not modules:
        return {
            **pkg,
            "status": "error",
            "detail": "no importable module found among its files",
            "way_out": "",
        }
    missing = {"status": "error", "error": "not checked"}
    rs = [results.get(m) or {**missing, "module": m} for m in modules]
    status = _status({r["status"] for r in rs})
    # Import names that share a detail are named together.
    groups: dict[str, list[str]] = {}
    for r in rs:
        text = _module_detail(r)
        if text:
            groups.setdefault(text, []).append(r["module"])
    # The largest group, if most import names share it, comes last as "the others".
    most = max(groups.items(), key=lambda g: len(g[1]), default=None)
    if most is not None and len(groups) > 1 and 2 * len(most[1]) > len(rs):
        del groups[most[0]]
        others = len(rs) - sum(len(found) for found in groups.values())
    else:
        most = None
    details = [
        text if len(found) == len(rs) else f"{compact(found)}: {text}"
        for text, found in groups.items()
    ]
    if most is not None:
        details.append(f"the other {others}: {most[0]}")
    return {
        **pkg,
        "status": status,
        "detail": "; ".join(details),
        "way_out": _ways_out(pkg["name"], rs) if status != "ok" else "",
    }


def counts(rows: list[dict]) -> dict[str, int]:
    return {s: sum(r["status"] == s for r in rows) for s in STATUSES}


def render(doc: dict) -> str:
    """docs/compatibility.md from a :func:`collect` document."""
    results = {r["module"]: r for r in doc["results"]}
    rows = sorted(
        (package_row(p, results) for p in doc["packages"]),
        key=lambda r: (canonical(r["name"]), r["rank"]),
    )
    n = counts(rows)
    total = len(rows)
    summary = ", ".join(f"{n[s]} {s}" for s in STATUSES)
    version = doc["python"]
    short = ".".join(version.split(".")[:2])
    out = [
        f"# Compatibility of the {total} most-downloaded PyPI packages",
        "",
        "<!-- Generated by `make compat` (toolchain/compat.sh, toolchain/compat_table.py):",
        "     do not edit by hand. -->",
        "",
        f"Whether each package imports in an own-GIL interpreter (a manygil worker), as "
        f"`python -m manygil check` reports on its import names: CPython {version}, "
        f"{doc['platform']}, {doc['date']}.",
        "",
        f"**Of {total} packages: {summary}.**",
        "",
        "- **ok**: every import name imports, and so does every extension module of the package.",
        "- **degraded**: it imports, but some of its extension modules are refused: the "
        "package runs without them (pure Python, or a feature missing); or, for a package "
        "with several import names, some of them import and others do not.",
        "- **refused**: importing it fails, because an extension module it needs does not "
        'support per-interpreter GIL; run such tasks with `Pool(fallback="process")`.',
        "- **error**: the import failed for another reason (or hung, crashed, exited).",
        "- **not installable**: `pip install` failed here (no wheel for this Python and no "
        "build, or too slow).",
        "",
        "See [extensions.md](extensions.md#checking-your-dependencies) for what each status "
        "means and how to check your own requirements (`python -m manygil check -r "
        "requirements.txt`). Where a package has a pure-Python way out (or falls back by "
        'itself), the last column says how; `Pool(fallback="process")` runs the others\' '
        "tasks in process workers.",
        "",
        f"Regenerate with `make compat` (Python {short}; `make compat VERSION=3.15` for "
        "another). It installs every package separately into a throwaway venv under "
        "target/compat/, so it needs the network; the list and its pins are in "
        "toolchain/top-packages.txt:",
        "",
    ]
    out += [f"> {line}" if line else ">" for line in doc["source"]]
    out += [
        "",
        "| package | rank | version | import names | status | refused or lost | "
        "pure-Python way out |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            r["name"],
            str(r["rank"]),
            r.get("version", "") or "",
            compact(r.get("modules") or []),
            r["status"],
            r["detail"],
            r["way_out"],
        ]
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="toolchain/compat_table.py", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="check the installed packages, write the JSON")
    c.add_argument("--packages", required=True, help="the pinned list (top-packages.txt)")
    c.add_argument("--installs", required=True, help="compat.sh's installs.tsv")
    c.add_argument("--out", required=True, help="the JSON document to write")
    c.add_argument("--jobs", type=int, default=2, help="checking processes at once")
    c.add_argument("--timeout", type=float, default=120.0, help="seconds one import may take")
    r = sub.add_parser("render", help="the Markdown page from a collected JSON document")
    r.add_argument("json", help="what collect wrote")
    r.add_argument("--out", help="write here instead of standard output")
    args = p.parse_args(argv)
    if args.command == "collect":
        doc = collect(args.packages, args.installs, args.jobs, args.timeout)
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.write("\n")
        return 0
    with open(args.json) as f:
        text = render(json.load(f))
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
