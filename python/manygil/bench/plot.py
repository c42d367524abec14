"""Bar charts of a run (--plot), drawn with matplotlib when it is installed."""

from manygil.bench.report import best
from manygil.bench.table import fmt

COLORS = ("#8c8c8c", "#4c72b0", "#dd8452", "#55a868", "#c44e52")
MATPLOTLIB_MISSING = "plot skipped: matplotlib is not installed (pip install matplotlib)"


def plot(run, path):
    """Write bar charts (one per metric, bars per backend) to ``path`` as PNG.

    Returns ``None`` on success or a message when matplotlib is missing; other errors
    (e.g. an unwritable path) raise :class:`OSError`.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return MATPLOTLIB_MISSING
    order = sorted(run.metrics, key=lambda mid: mid.startswith(("micro.", "pool.")))
    mids = [mid for mid in order if any(c.values for c in run.cells[mid].values())]
    colors = dict(
        zip(("serial", "threads", "processes", "interpreters", "manygil"), COLORS, strict=True)
    )
    cols = min(3, max(1, len(mids)))
    rows = (len(mids) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    for ax, mid in zip(axes.flat, mids, strict=False):
        m = run.metrics[mid]
        names = [b.name for b in run.backends if best(run, mid, b.name) is not None]
        values = [best(run, mid, n) for n in names]
        bars = ax.bar(names, values, color=[colors.get(n, "#777777") for n in names])
        ax.bar_label(bars, labels=[fmt(v, m.unit) for v in values], fontsize=8)
        ax.margins(y=0.15)
        ax.set_title(f"{m.label} ({m.unit}, {m.better} is better)", fontsize=9)
        ax.tick_params(axis="x", labelsize=8, rotation=20)
    for ax in list(axes.flat)[len(mids) :]:
        ax.axis("off")
    fig.suptitle(f"manygil bench ({run.config.mode}, {run.config.workers} workers)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None
