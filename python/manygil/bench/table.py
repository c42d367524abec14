"""The terminal table: rows are aspects, columns are backends (see docs/bench.md)."""

import statistics

from manygil.bench.report import REFERENCES, advantage, best, best_for, speedups

_TIME_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


def _num(value):
    a = abs(value)
    if a >= 100:
        return f"{value:,.0f}"
    if a >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt(value, unit=""):
    """Format a number for the table: about three significant digits and a readable unit.

    Times ("s", "ms", "us") are rescaled to s/ms/µs/ns; "tasks/s" uses k/M suffixes;
    "MiB" below 0.05 in size shows as "~0 MiB"; "×" is a plain factor.
    """
    if value is None:
        return "—"
    if unit in _TIME_SCALE:
        seconds = value * _TIME_SCALE[unit]
        for name, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
            if abs(seconds) >= scale:
                return f"{_num(seconds / scale)} {name}"
        return f"{_num(seconds / 1e-9)} ns"
    if unit == "tasks/s":
        for suffix, scale in (("M", 1e6), ("k", 1e3)):
            if value >= scale:
                return f"{_num(value / scale)}{suffix}/s"
        return f"{_num(value)}/s"
    if unit == "MiB":
        return "~0 MiB" if abs(value) < 0.05 else f"{_num(value)} MiB"
    if unit == "×":
        return f"{_num(value)}×"
    return f"{_num(value)} {unit}".strip()


def ratio_text(value, ref, better):
    """'2.1× better' / '3.0× worse' / '≈ same' for ``value`` against ``ref``, or ''."""
    r = advantage(value, ref, better)
    if r is None:
        return ""
    if 0.95 <= r <= 1.05:
        return "≈ same"
    return f"{_num(r)}× better" if r > 1 else f"{_num(1 / r)}× worse"


# (label, metric id or "speedup")
ROWS = [
    ("parallelism: CPU speedup vs serial", "speedup"),
    ("per-task overhead: round trip", "micro.roundtrip"),
    ("  same, a function of __main__", "micro.roundtrip_script"),
    ("tiny tasks/s through map(chunksize)", "micro.map"),
    ("data exchange: {mib} MiB as bytes", "micro.transfer"),
    ("data exchange: {mib} MiB SharedBuffer", "micro.transfer_shared"),
    ("start-up: until all workers run", "pool.startup"),
    ("memory per idle worker (RSS)", "pool.rss"),
    ("memory per idle worker (PSS)", "pool.pss"),
]


def _cell_text(run, mid, backend, notes):
    cell = run.cells[mid][backend]
    if cell.status == "ok":
        return None
    if cell.status == "unavailable":
        return "not available"
    if cell.status == "skipped":
        return "—"
    note = f"{backend}: {cell.status}: {cell.reason}"
    if note not in notes:
        notes.append(note)
    return f"{cell.status} [{notes.index(note) + 1}]"


def _rounded(value, unit):
    # memory deltas under 0.05 MiB are noise: no ratio against them
    if value is not None and unit == "MiB" and abs(value) < 0.05:
        return None
    return value


def _metric_rows(run, label, mid, notes):
    names = [b.name for b in run.backends]
    if mid == "speedup":
        values, better, source, unit = speedups(run), "higher", "micro.cpu", "×"
    else:
        m = run.metrics[mid]
        values = {n: best(run, mid, n) for n in names}
        better, source, unit = m.better, mid, m.unit
    main = []
    for n in names:
        text = _cell_text(run, source, n, notes)
        main.append(text if text is not None else fmt(values[n], unit))
    rows = [(label, main)]
    if not any(v is not None for v in values.values()):
        return rows
    if mid != "speedup" and run.config.repeat > 1:
        med = []
        for n in names:
            cell = run.cells[mid][n]
            ok = cell.status == "ok" and cell.values
            med.append(fmt(statistics.median(cell.values), unit) if ok else "")
        rows.append(("  median of repeats", med))
    for ref in REFERENCES:
        if ref in names and _rounded(values.get(ref), unit) is not None:
            texts = [
                "(ref)" if n == ref else ratio_text(_rounded(values[n], unit), values[ref], better)
                for n in names
            ]
            rows.append((f"  vs {ref}", texts))
    return rows


def _best_line(run, mid, name):
    winner = best_for(run, mid)
    if winner is None:
        return None
    m = run.metrics[mid]
    value = best(run, mid, winner)
    parts = []
    for ref in REFERENCES:
        text = ratio_text(value, best(run, mid, ref), m.better) if ref != winner else ""
        if text:
            parts.append(f"{text} {'as' if text == '≈ same' else 'than'} {ref}")
    close = [
        b.name
        for b in run.backends
        if b.name != winner and (advantage(value, best(run, mid, b.name), m.better) or 9) <= 1.05
    ]
    line = f"best for {name}: {winner} ({', '.join([fmt(value, m.unit)] + parts)})"
    return line + (f"; within 5%: {', '.join(close)}" if close else "")


def table(run, machine):
    """Return the comparison table as text (rows: aspects; columns: backends)."""
    cfg = run.config
    names = [b.name for b in run.backends]
    mib = run.scenarios["micro"].params["transfer_mib"] if "micro" in run.scenarios else 16
    notes = []
    summary = []
    for label, mid in ROWS:
        source = "micro.cpu" if mid == "speedup" else mid
        if source in run.metrics and (mid != "speedup" or "serial" in names):
            summary += _metric_rows(run, label.format(mib=mib), mid, notes)
    sections = [("how they compare", summary)]
    for name, sc in run.scenarios.items():
        if name == "micro":
            continue
        rows = []
        for m in sc.metrics:
            rows += _metric_rows(run, "wall time", m.id, notes)
            line = _best_line(run, m.id, name)
            if line:
                rows.append((line, None))
        sections.append((sc.title, rows))

    cells = [t for _, rows in sections for _, texts in rows if texts for t in texts]
    label_w = max([len(lab) for _, rows in sections for lab, t in rows if t] + [20])
    col_w = max([len(n) for n in names] + [len(t) for t in cells] + [10]) + 2
    width = label_w + col_w * len(names)
    gil = "GIL enabled" if machine["gil_enabled"] else "free-threaded"
    lines = [
        f"manygil bench · {cfg.mode} · {cfg.workers} workers · best of {cfg.repeat} repeats · "
        f"{machine['implementation']} {machine['python_version']} ({gil}) · "
        f"{machine['system']} {machine['machine']} · {machine['process_cpu_count']} usable CPUs",
        "",
        " " * label_w + "".join(n.rjust(col_w) for n in names),
    ]
    for title, rows in sections:
        if rows:
            lines.append(f"-- {title} ".ljust(width, "-"))
        for label, texts in rows:
            if texts is None:
                lines.append("  " + label)
            else:
                lines.append(
                    (label.ljust(label_w) + "".join(t.rjust(col_w) for t in texts)).rstrip()
                )
    lines += ["", "Values: best of the repeats. 'vs X': how this column compares with column X."]
    for b in run.backends:
        if b.unavailable():
            lines.append(f"{b.name}: {b.unavailable()}")
    lines += [f"[{i}] {note}" for i, note in enumerate(notes, 1)]
    lines += [f"FAILED: {failure}" for failure in run.failures]
    return "\n".join(lines)
