"""Figures with one house style. Plot functions draw what they are given: they compute no
statistics and save no files; each takes ``data``, keyword-only options, ``ax=None``, and
returns the Axes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, PercentFormatter

PALETTE = "crest"
ACCENT = "#1f5f8b"
MUTED = "#a9bccb"  # partly covered or less certain values


# Colours that mean "better / worse than the average customer" wherever a figure judges: blue is
# better, red is worse, whatever the unit (few days since the last order is better: recency's
# colour is turned round).
BETTER_WORSE = "RdBu"
LOWER_IS_BETTER = ("recency_days", "days_since_last_order")
FIGURE_MIME_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
MAX_LEGEND_ENTRIES = 8  # legend entries named in a figure's description


def set_theme() -> None:
    """Apply the house style: white grid, readable fonts, figures sized for a laptop report.

    In a notebook it also makes every matplotlib figure carry a description (output metadata
    ``alt``, from :func:`figure_description`) that the HTML reports use as the image's
    alternative text.
    """
    sns.set_theme(style="whitegrid", context="notebook", palette=PALETTE)
    plt.rcParams.update({"figure.figsize": (8, 3.6), "figure.dpi": 100, "savefig.dpi": 100})
    _describe_figures_in_notebook()


def figure_description(fig: Figure) -> str | None:
    """What a figure shows, in words, for a reader who cannot see it (None: it states nothing).

    Built from what the figure itself states: its overall title, then for each panel its title,
    what is plotted against what (axis labels) and the legend's entries, then the colour scales.
    """
    parts = []
    suptitle = fig._suptitle.get_text().strip() if fig._suptitle is not None else ""
    if suptitle:
        parts.append(suptitle.rstrip(".") + ".")
    for ax in fig.axes:
        if not ax.get_visible() or hasattr(ax, "_colorbar"):
            continue
        title = " ".join(ax.get_title(loc) for loc in ("left", "center", "right") if ax.get_title(loc))
        xlabel, ylabel = ax.get_xlabel().strip(), ax.get_ylabel().strip()
        plotted = f"{ylabel} by {xlabel}" if xlabel and ylabel else xlabel or ylabel
        rows, columns = ("" if ylabel else _tick_names(ax, "y")), ("" if xlabel else _tick_names(ax, "x"))
        plotted = "; ".join(
            filter(None, [plotted, rows and f"rows {rows}", columns and f"columns {columns}"])
        )
        text = f"{title.strip()}: {plotted}" if title.strip() and plotted else title.strip() or plotted
        legend = ax.get_legend()
        entries = [t.get_text() for t in legend.get_texts() if t.get_text()] if legend is not None else []
        if entries:
            named = ", ".join(entries[:MAX_LEGEND_ENTRIES]) + (
                ", ..." if len(entries) > MAX_LEGEND_ENTRIES else ""
            )
            heading = legend.get_title().get_text()
            text += f" ({heading + ': ' if heading else ''}{named})"
        if text:
            parts.append(text[0].upper() + text[1:] + ".")
    scales = [ax.get_ylabel() or ax.get_xlabel() for ax in fig.axes if hasattr(ax, "_colorbar")]
    parts.extend(f"Colour scale: {label}." for label in scales if label)
    return " ".join(parts) or None


def _tick_names(ax: Axes, axis: str) -> str:
    """An unlabelled axis's tick labels when they are names (a heatmap's rows), else ""."""
    ticks = [t.get_text().strip() for t in (ax.get_xticklabels() if axis == "x" else ax.get_yticklabels())]
    names = [t for t in ticks if t and any(c.isalpha() for c in t)]
    return ", ".join(names) if names and len(names) <= MAX_LEGEND_ENTRIES else ""


def _with_description(formatter: Callable[[Figure], Any]) -> Callable[[Figure], Any]:
    """A notebook figure formatter that also returns the figure's description as metadata."""

    @functools.wraps(formatter)
    def format_figure(fig: Figure) -> Any:
        data = formatter(fig)
        description = figure_description(fig) if data is not None else None
        return (data, {"alt": description}) if description else data

    format_figure.describes_figures = True  # type: ignore[attr-defined]
    return format_figure


def _describe_figure_formatters(*_args: Any) -> None:
    """Wrap (once) the notebook's figure formatters so that every figure carries its description."""
    shell = _ipython()
    for mime_type in FIGURE_MIME_TYPES if shell is not None else ():
        formatter = shell.display_formatter.formatters.get(mime_type)
        try:
            current = formatter.lookup_by_type(Figure) if formatter is not None else None
        except KeyError:
            continue
        if current is not None and not getattr(current, "describes_figures", False):
            formatter.for_type(Figure, _with_description(current))


def _describe_figures_in_notebook() -> None:
    """Describe figures from now on. The inline backend registers its formatters when the first
    figure is drawn and shows a cell's figures after the cell: the wrapping is checked after
    every cell, first in line."""
    shell = _ipython()
    if shell is None:
        return
    _describe_figure_formatters()
    callbacks = shell.events.callbacks["post_execute"]
    if _describe_figure_formatters in callbacks:
        callbacks.remove(_describe_figure_formatters)
    callbacks.insert(0, _describe_figure_formatters)


def _ipython() -> Any:
    """The running IPython shell, or None outside one."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the notebook stack
        return None
    return get_ipython()


def _axes(ax: Axes | None) -> Axes:
    return ax if ax is not None else plt.subplots()[1]


def _thousands(value: float, _position: int) -> str:
    return f"{value:,.0f}"


def monthly_revenue(data: pd.DataFrame, *, currency: str, ax: Axes | None = None) -> Axes:
    """Bars of net revenue per calendar month. ``data``: columns month, revenue, and optionally
    partial (bool): partly covered months are drawn pale, with a legend saying so."""
    ax = _axes(ax)
    labels = pd.to_datetime(data["month"]).dt.strftime("%Y-%m")
    partial = data["partial"].to_numpy(dtype=bool) if "partial" in data.columns else None
    colors = [MUTED if p else ACCENT for p in partial] if partial is not None else ACCENT
    ax.bar(labels, data["revenue"], color=colors)
    if partial is not None and partial.any():
        ax.legend(handles=[Patch(color=MUTED, label="month only partly covered")], loc="upper left")
    ax.set(xlabel="month", ylabel=f"net revenue ({currency})", title="Net revenue per month")
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.tick_params(axis="x", labelrotation=90)
    return ax


def order_amounts(data: pd.DataFrame, *, currency: str, ax: Axes | None = None) -> Axes:
    """Histogram of order amounts on a log scale. ``data``: columns upper (bin edge), orders."""
    ax = _axes(ax)
    ax.bar(data["lower"], data["orders"], width=data["upper"] - data["lower"], align="edge", color=ACCENT)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_plain))
    ax.set(xlabel=f"order amount ({currency}, log scale)", ylabel="orders", title="Order amounts")
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    return ax


def _plain(value: float, _position: int) -> str:
    """A log axis's tick as a plain number (1, 10, 1,000; 0.1) rather than a power of ten."""
    return f"{value:,.0f}" if value >= 1 else f"{value:.2g}"


def score_heatmap(
    data: pd.DataFrame, *, title: str, value_format: str, colorbar: str, ax: Axes | None = None
) -> Axes:
    """Heatmap of an R score (rows) x F score (columns) table, each cell annotated."""
    ax = _axes(ax)
    sns.heatmap(data, annot=True, fmt=value_format, cmap=PALETTE, cbar_kws={"label": colorbar}, ax=ax)
    ax.set(xlabel="F score (orders)", ylabel="R score (recency)", title=title)
    return ax


def segment_shares(
    data: pd.DataFrame,
    *,
    group: str = "segment",
    title: str = "Segment size and revenue",
    ax: Axes | None = None,
) -> Axes:
    """Share of customers beside share of revenue per group (``data``: segment_summary, a cluster
    profile or a quadrant summary, with ``group``, ``share_customers`` and ``share_revenue``)."""
    ax = _axes(ax)
    long = (
        data.astype({group: str})
        .melt(
            id_vars=group,
            value_vars=["share_customers", "share_revenue"],
            var_name="share",
            value_name="value",
        )
        .replace({"share": {"share_customers": "customers", "share_revenue": "revenue"}})
    )
    sns.barplot(long, y=group, x="value", hue="share", palette=[ACCENT, "#9cc3d5"], ax=ax)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set(xlabel="share of all customers / of revenue", ylabel="", title=title)
    return ax


def metric_distribution(
    values: pd.Series, *, edges: list[float], label: str, log: bool = False, ax: Axes | None = None
) -> Axes:
    """Histogram of one RFM metric with the score bin edges drawn as dashed lines."""
    ax = _axes(ax)
    sns.histplot(x=values, bins=40, log_scale=log, color=ACCENT, ax=ax)
    if log:
        ax.xaxis.set_major_formatter(FuncFormatter(_plain))
    for edge in edges:
        ax.axvline(edge, color="#c0392b", linestyle="--", linewidth=1)
    ax.set(xlabel=label, ylabel="customers")
    return ax


def pareto_curve(
    data: pd.DataFrame, *, top_share: float, revenue_share: float, ax: Axes | None = None
) -> Axes:
    """Cumulative share of revenue against share of customers, best customers first."""
    ax = _axes(ax)
    ax.plot(data["share_customers"], data["share_revenue"], color=ACCENT)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.axvline(top_share, color="#c0392b", linestyle="--", linewidth=1)
    ax.annotate(
        f"top {top_share:.0%}: {revenue_share:.0%} of revenue",
        (top_share, revenue_share),
        xytext=(8, -14),
        textcoords="offset points",
    )
    percent = FuncFormatter(lambda v, _: f"{v:.0%}")
    ax.xaxis.set_major_formatter(percent)
    ax.yaxis.set_major_formatter(percent)
    ax.set(xlabel="share of customers (best first)", ylabel="share of revenue", title="Revenue concentration")
    return ax


def k_selection(data: pd.DataFrame, *, chosen_k: int, axes: list[Axes] | None = None) -> list[Axes]:
    """Four panels over k: inertia, silhouette, Calinski-Harabasz, Davies-Bouldin; chosen k marked."""
    if axes is None:
        axes = list(plt.subplots(1, 4, figsize=(14, 3.2))[1])
    panels = [
        ("inertia", "inertia (lower is tighter)"),
        ("silhouette", "silhouette (higher is better)"),
        ("calinski_harabasz", "Calinski-Harabasz (higher)"),
        ("davies_bouldin", "Davies-Bouldin (lower)"),
    ]
    for ax, (column, title) in zip(axes, panels, strict=True):
        ax.plot(data["k"], data[column], marker="o", color=ACCENT)
        ax.axvline(chosen_k, color="#c0392b", linestyle="--", linewidth=1)
        ax.set(xlabel="k", title=title)
    return axes


def centroid_heatmap(
    data: pd.DataFrame,
    *,
    typical: pd.DataFrame | None = None,
    labels: Mapping[str, str] | None = None,
    currency: str = "",
    lower_is_better: Sequence[str] = LOWER_IS_BETTER,
    ax: Axes | None = None,
) -> Axes:
    """Cluster centres (clusters x features) coloured by how much better or worse than the average
    customer each cluster does on each feature: blue better, red worse, for every feature alike
    (fewer days since the last order is better, so recency's colour is turned round).

    ``data``: standardised centres (0 = the average customer). ``typical``: optional table indexed
    like ``data`` with a ``median_<feature>`` column per feature (clustering.profile); the cells
    then show those values in their units, else the centres in standard deviations. ``labels``:
    the features in words (clustering.FEATURE_WORDS; default: the column names).
    """
    labels = labels or {}
    ax = ax if ax is not None else plt.subplots(figsize=(8, max(2.6, 0.6 * len(data) + 1.2)))[1]
    sign = np.array([-1.0 if column in lower_is_better else 1.0 for column in data.columns])
    better = data.astype("float64") * sign
    limit = max(float(np.nanmax(np.abs(better.to_numpy()))), 0.5)
    if typical is not None and all(f"median_{c}" in typical.columns for c in data.columns):
        cells = [
            [_in_units(c, typical.loc[name, f"median_{c}"], currency) for c in data.columns]
            for name in data.index
        ]
        annotations, fmt = np.array(cells, dtype=object), ""
    else:
        annotations, fmt = data.to_numpy(), "+.2f"
    sns.heatmap(
        better.set_axis([labels.get(c, c.replace("_", " ")) for c in data.columns], axis=1),
        annot=annotations,
        fmt=fmt,
        cmap=BETTER_WORSE,
        vmin=-limit,
        vmax=limit,
        cbar_kws={"label": "against the average customer", "ticks": [-limit, 0, limit]},
        ax=ax,
    )
    ax.collections[0].colorbar.set_ticklabels(["worse", "average", "better"])
    ax.set(xlabel="", ylabel="", title="Cluster profiles: blue better, red worse than the average customer")
    ax.tick_params(axis="x", labelrotation=0)
    ax.tick_params(axis="y", labelrotation=0)
    return ax


def _in_units(feature: str, value: float, currency: str) -> str:
    """A typical value with its unit, for a heatmap cell."""
    if feature in ("recency_days", "tenure_days", "days_since_last_order"):
        return f"{value:,.0f} days"
    if feature == "frequency":
        if value == 1:
            return "1 order"
        return f"{value:,.0f} orders" if value == round(value) else f"{value:,.1f} orders"
    if feature in ("monetary", "aov"):
        return f"{value:,.0f} {currency}".strip()
    return f"{value:,.1f}"


def cluster_scatter(data: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Customers on two principal components, coloured by cluster name (``data``: pc1, pc2, name)."""
    ax = _axes(ax)
    sns.scatterplot(data, x="pc1", y="pc2", hue="name", s=10, alpha=0.6, linewidth=0, ax=ax)
    ax.set(
        xlabel="first principal component", ylabel="second principal component", title="Customers by cluster"
    )
    ax.legend(loc="best", fontsize="small", markerscale=2)
    return ax


def value_matrix(
    data: pd.DataFrame, *, aov_split: float, frequency_split: float, currency: str, ax: Axes | None = None
) -> Axes:
    """Customers by AOV (x) and orders (y), log axes, coloured by total spend; splits and quadrants shown."""
    ax = _axes(ax)
    points = ax.scatter(
        data["aov"],
        data["frequency"],
        c=data["monetary"],
        cmap=PALETTE,
        s=10,
        alpha=0.6,
        norm=matplotlib.colors.LogNorm(),
        linewidths=0,
    )
    colour_bar = ax.figure.colorbar(points, ax=ax, label=f"total spend ({currency})")
    colour_bar.ax.yaxis.set_major_formatter(FuncFormatter(_plain))
    colour_bar.ax.yaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_plain))
    ax.yaxis.set_major_formatter(FuncFormatter(_plain))
    ax.axvline(aov_split, color="#c0392b", linestyle="--", linewidth=1)
    ax.axhline(frequency_split, color="#c0392b", linestyle="--", linewidth=1)
    labels = {
        "Best": (0.98, 0.97),
        "Spenders": (0.98, 0.03),
        "Frequent": (0.02, 0.97),
        "Uncertain": (0.02, 0.03),
    }
    for name, (x, y) in labels.items():
        ax.text(
            x,
            y,
            name,
            transform=ax.transAxes,
            ha="right" if x > 0.5 else "left",
            va="top" if y > 0.5 else "bottom",
            fontweight="bold",
            color="#1d2b36",
        )
    ax.set(
        xlabel=f"average order value ({currency}, log)",
        ylabel="orders in the period (log)",
        title="Customer value matrix",
    )
    return ax


def kpi_trends(
    data: pd.DataFrame,
    *,
    kpis: list[str],
    labels: dict[str, str] | None = None,
    percent: list[str] | tuple[str, ...] = (),
    title: str = "Key figures by period",
    axes: list[Axes] | None = None,
) -> list[Axes]:
    """Small multiples: one panel of bars per KPI across periods, each y-axis starting at zero.

    ``data``: period plus one column per KPI, periods in order. ``labels``: panel titles by KPI
    (default: the column name); ``percent``: KPIs that are shares (0-1), drawn as percentages.
    Each bar carries its value; a missing value is written "-" and has no bar.
    """
    labels = labels or {}
    if axes is None:
        columns = min(3, len(kpis))
        rows = -(-len(kpis) // columns)
        axes = list(
            plt.subplots(rows, columns, figsize=(4.2 * columns, 2.9 * rows + 0.4), squeeze=False)[1].ravel()
        )
    periods = data["period"].astype(str).tolist()
    for ax, name in zip(axes, kpis, strict=False):
        values = pd.to_numeric(data[name], errors="coerce").astype(float)
        share = name in percent
        bars = ax.bar(periods, values.fillna(0), color=ACCENT, width=0.6)
        written = [
            "-" if v != v else f"{v:.1%}" if share else f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"
            for v in values
        ]
        ax.bar_label(bars, labels=written, padding=2, fontsize=9)
        low, high = min(0.0, values.fillna(0).min()), max(0.0, values.fillna(0).max())
        ax.set_ylim(low * 1.2, high * 1.2 if high > 0 else 1.0)  # zero always in view: no zoomed axes
        ax.yaxis.set_major_formatter(
            PercentFormatter(1.0, decimals=0) if share else FuncFormatter(_thousands)
        )
        ax.set(title=labels.get(name, name.replace("_", " ")), xlabel="")
    for ax in axes[len(kpis) :]:
        ax.set_visible(False)
    figure = axes[0].figure
    figure.suptitle(title, fontsize=13)
    figure.tight_layout()
    return axes


def migration_heatmap(data: pd.DataFrame, *, title: str, ax: Axes | None = None) -> Axes:
    """Row shares of a migration matrix: segment before (rows) to segment after (columns)."""
    ax = ax if ax is not None else plt.subplots(figsize=(10, 5))[1]
    sns.heatmap(data, annot=True, fmt=".0%", cmap=PALETTE, vmin=0, vmax=1, cbar=False, ax=ax)
    ax.set(xlabel="segment after", ylabel="segment before", title=title)
    return ax


def cohort_heatmap(data: pd.DataFrame, *, unit: str = "month", ax: Axes | None = None) -> Axes:
    """Retention shares: cohort of first order (rows) x months or quarters since (columns).

    Blank cells were not observed yet."""
    ax = ax if ax is not None else plt.subplots(figsize=(11, max(3.0, 0.32 * len(data) + 1)))[1]
    code = "M" if unit == "month" else "Q"
    labelled = data.set_axis([str(pd.Period(start, freq=code)) for start in data.index], axis=0)
    sns.heatmap(
        labelled,
        annot=True,
        fmt=".0%",
        cmap=PALETTE,
        vmin=0,
        vmax=1,
        cbar=False,
        ax=ax,
        annot_kws={"size": 7},
    )
    ax.set(
        xlabel=f"{unit}s since first order",
        ylabel=f"{unit} of first order",
        title="Share of each cohort buying",
    )
    return ax


def revenue_at_risk(data: pd.DataFrame, *, currency: str, ax: Axes | None = None) -> Axes:
    """Period revenue per segment split by churn-risk level (``data``: kpi.risk_by_segment)."""
    ax = _axes(ax)
    levels = [column for column in data.columns if column.startswith("revenue_")]
    ordered = data.assign(total=data[levels].sum(axis=1)).sort_values("total")
    left = pd.Series(0.0, index=ordered.index)
    colours = {"revenue_low": "#9cc3d5", "revenue_medium": "#e0a458", "revenue_high": "#c0392b"}
    for level in levels:
        ax.barh(
            ordered["segment"],
            ordered[level],
            left=left,
            color=colours.get(level),
            label=level.removeprefix("revenue_"),
        )
        left = left + ordered[level]
    ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.legend(title="churn risk", loc="lower right")
    ax.set(xlabel=f"revenue in the period ({currency})", ylabel="", title="Revenue by segment and churn risk")
    return ax


def points_by_tier(data: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Stacked bars: mean points of each criterion per tier. ``data``: ranking.tier_table
    (``tier`` and ``mean_points_<criterion>`` columns), best tier first."""
    ax = _axes(ax)
    means = data.set_index("tier").filter(like="mean_points_")
    means.columns = [c.removeprefix("mean_points_").replace("_", " ") for c in means.columns]
    means.iloc[::-1].plot.barh(stacked=True, ax=ax, colormap=PALETTE, width=0.7)
    ax.set(xlabel="mean points per customer", ylabel="", title="What earns each tier its points")
    ax.legend(title="criterion", bbox_to_anchor=(1.01, 1), loc="upper left", fontsize="small")
    return ax


def index_heatmap(data: pd.DataFrame, *, title: str, ax: Axes | None = None) -> Axes:
    """Heatmap of a profile index (groups down, categories across; 100 = as the whole base).
    Missing cells (suppressed small groups) stay blank."""
    ax = _axes(ax)
    sns.heatmap(
        data, annot=True, fmt=".0f", cmap="vlag", center=100, cbar_kws={"label": "index (base = 100)"}, ax=ax
    )
    ax.set(xlabel="", ylabel="", title=title)
    return ax


def response_rates(data: pd.DataFrame, *, overall: float, title: str, ax: Axes | None = None) -> Axes:
    """Response rate per group with its confidence interval, and the overall rate as a line.
    ``data``: campaigns.response_by (group, response_rate, ci_low, ci_high)."""
    ax = _axes(ax)
    groups = data["group"].astype(str)
    rate = data["response_rate"]
    errors = [(rate - data["ci_low"]).clip(lower=0), (data["ci_high"] - rate).clip(lower=0)]
    ax.errorbar(data["response_rate"], groups, xerr=errors, fmt="o", color=ACCENT, capsize=3)
    ax.axvline(overall, color="#c0392b", linestyle="--", linewidth=1, label=f"overall {overall:.1%}")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set(xlabel="response rate (confidence interval)", ylabel="", title=title)
    ax.legend(loc="lower right")
    return ax


def holdout_check(
    by_frequency: pd.DataFrame, tracking: pd.DataFrame, *, time_unit: str, axes: list[Axes] | None = None
) -> list[Axes]:
    """The model's out-of-sample check in one figure: mean holdout purchases, actual and predicted,
    by calibration repeat purchases (``by_frequency``: clv.HoldoutCheck.by_frequency), and
    cumulative repeat purchases per time unit across calibration and holdout (``tracking``)."""
    if axes is None:
        axes = list(plt.subplots(1, 2, figsize=(11, 3.8))[1])
    left, right = axes
    positions = range(len(by_frequency))
    left.plot(positions, by_frequency["actual"], marker="o", color=ACCENT, label="actual")
    left.plot(
        positions, by_frequency["predicted"], marker="s", linestyle="--", color="#e0a458", label="predicted"
    )
    left.set_xticks(list(positions), by_frequency["calibration_repeat_purchases"])
    left.set(
        xlabel="repeat purchases before the split date",
        ylabel="mean purchases after the split date",
        title="Purchases after the split, by purchases before it",
    )
    left.legend()
    right.plot(tracking["unit"], tracking["actual"], color=ACCENT, label="actual")
    right.plot(tracking["unit"], tracking["predicted"], linestyle="--", color="#e0a458", label="predicted")
    split = tracking.loc[~tracking["holdout"], "unit"].max()
    right.axvline(split, color="grey", linestyle=":", label="split date")
    right.yaxis.set_major_formatter(FuncFormatter(_thousands))
    right.set(
        xlabel=f"{time_unit} since the first purchase the model sees",
        ylabel="cumulative repeat purchases",
        title="Repeat purchases over time",
    )
    right.legend(loc="upper left")
    return axes


def future_value_by_segment(data: pd.DataFrame, *, currency: str, ax: Axes | None = None) -> Axes:
    """Bars of expected future value (CLV) per segment (``data``: segment, clv), largest at the top."""
    ax = _axes(ax)
    ordered = data.sort_values("clv")
    ax.barh(ordered["segment"], ordered["clv"], color=ACCENT)
    ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set(xlabel=f"expected value over the horizon ({currency})", ylabel="", title="Future value by segment")
    return ax
