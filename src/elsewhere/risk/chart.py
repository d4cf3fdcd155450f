"""PNG chart of a simulation: exposure granted per job and cumulative loss, per strategy."""

from __future__ import annotations

from pathlib import Path

from elsewhere.errors import InputError
from elsewhere.risk.simulate import Row

COLOURS = {"count": "#d62728", "guard": "#1f77b4", "guard+cusum": "#2ca02c"}
MARKERS = {"count": (".", 3.5), "guard": ("o", 4.5), "guard+cusum": (".", 2.5)}
LABELS = {
    "count": "count-based sizing",
    "guard": "guard (value-relative evidence, caps)",
    "guard+cusum": "guard + CUSUM quarantine",
}


def require_matplotlib() -> None:
    """matplotlib is the optional `charts` extra: say so in one line, before any work."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError(
            "--png",
            "",
            "needs matplotlib, which is not installed (pip install 'elsewhere[charts]')",
        ) from None


def render_png(rows: list[Row], path: Path, title: str, currency: str) -> None:
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strategies = list(dict.fromkeys(r.strategy for r in rows))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True, dpi=110)
    first = [r for r in rows if r.strategy == strategies[0]]
    steps = [r.step for r in first]
    top.step(
        steps,
        [r.request for r in first],
        where="mid",
        color="#bbbbbb",
        linewidth=0.8,
        label="requested",
    )
    for n, strategy in enumerate(strategies):
        mine = [r for r in rows if r.strategy == strategy]
        colour = COLOURS.get(strategy, "black")
        marker, size = MARKERS.get(strategy, (".", 3.5))
        top.plot(
            steps,
            [r.granted for r in mine],
            marker,
            markersize=size,
            color=colour,
            fillstyle="none" if marker == "o" else "full",
            label=LABELS.get(strategy, strategy),
        )
        final = mine[-1]
        totals = (
            f"granted {final.cumulative_granted:,.0f}, lost {final.cumulative_loss:,.0f} {currency}"
        )
        bottom.plot(
            steps,
            [r.cumulative_loss for r in mine],
            color=colour,
            linewidth=2.0,
            label=f"{LABELS.get(strategy, strategy)}: {totals}",
        )
        bottom.annotate(
            f"{final.cumulative_loss:,.0f} {currency}",
            (final.step, final.cumulative_loss),
            xytext=(-4, 4 + 12 * (len(strategies) - 1 - n)),
            textcoords="offset points",
            ha="right",
            fontsize=9,
            color=colour,
        )
    alarms: dict[int, list[str]] = {}
    for r in rows:
        if r.alarm:
            alarms.setdefault(r.step, []).append(r.strategy)
    for step, names in alarms.items():
        acts = "guard+cusum" in names
        for axis in (top, bottom):
            axis.axvline(step, color="#2ca02c" if acts else "#777777", linestyle=":", lw=1.2)
        note = f"CUSUM alarm at job {step}" + ("; guard+cusum quarantines" if acts else "")
        bottom.annotate(
            note,
            (step, 0.6),
            xycoords=("data", "axes fraction"),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=8,
            va="top",
        )
    top.set_yscale("log")
    top.set_ylabel(f"exposure granted per job ({currency}, log)")
    top.legend(loc="upper left", fontsize=8)
    top.grid(True, which="major", alpha=0.3)
    bottom.set_ylabel(f"cumulative loss ({currency})")
    bottom.set_ylim(bottom=0, top=max(1.0, max(r.cumulative_loss for r in rows) * 1.08))
    bottom.set_xlabel("job")
    bottom.legend(loc="upper left", fontsize=8)
    bottom.grid(True, alpha=0.3)
    fig.suptitle(title.replace("$", r"\$"), fontsize=11)  # "$10" is not mathtext
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as error:
        raise InputError("chart", str(path), error.strerror or str(error)) from None
    finally:
        plt.close(fig)
