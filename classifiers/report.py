"""The recall loop's curve: one PNG with a panel of quality figures and one of volumes per round."""
from __future__ import annotations

from pathlib import Path

from pipeline.core import storage


def plot_rounds(rounds: list[dict], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["round"] for r in rounds]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))

    def series(get):
        return [get(r) for r in rounds]

    curves = {
        "truth precision": series(lambda r: (r.get("truth") or {}).get("precision")),
        "truth recall": series(lambda r: (r.get("truth") or {}).get("recall")),
        "held-out AUC": series(lambda r: r["classifier"].get("auc")),
        "held-out recall": series(lambda r: r["classifier"].get("recall")),
        "overlap with previous round": series(lambda r: r.get("overlap_prev")),
    }
    for name, ys in curves.items():
        pts = [(x, y) for x, y in zip(xs, ys) if y is not None]
        if pts:
            ax1.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    ax1.set_xlabel("round")
    ax1.set_ylim(0, 1.02)
    ax1.set_title("quality")
    ax1.legend(fontsize=8, loc="lower right")
    ax1.set_xticks(xs)

    ax2.bar([x - 0.2 for x in xs], series(lambda r: r["pages_recalled"]), width=0.4, label="pages recalled")
    ax2.bar([x + 0.2 for x in xs], series(lambda r: r["positives"]), width=0.4, label="seed positives")
    ax2.set_xlabel("round")
    ax2.set_title("volume")
    ax2.set_xticks(xs)
    ax2.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    storage.write_bytes(str(path), buf.getvalue())


def format_rounds(rounds: list[dict]) -> str:
    """A plain-text table of the rounds, as the CLI and the benchmark print it."""
    head = (f"{'round':>5} {'pages':>6} {'tokens':>9} {'new dom':>7} {'seed+':>6} {'overlap':>7} "
            f"{'ho P':>6} {'ho R':>6} {'ho AUC':>6} {'truth P':>7} {'truth R':>7}")
    lines = [head]

    def f(x, w, p=3):
        return f"{x:>{w}.{p}f}" if isinstance(x, float) else f"{('-' if x is None else x)!s:>{w}}"

    for r in rounds:
        c, t = r["classifier"], r.get("truth") or {}
        lines.append(f"{r['round']:>5} {r['pages_recalled']:>6} {r['tokens_recalled']:>9} {r['new_domains']:>7} "
                     f"{r['seed_growth']:>6} {f(r['overlap_prev'], 7)} {f(c.get('precision'), 6)} "
                     f"{f(c.get('recall'), 6)} {f(c.get('auc'), 6)} {f(t.get('precision'), 7)} {f(t.get('recall'), 7)}")
    return "\n".join(lines)
