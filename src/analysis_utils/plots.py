"""Figures with one house style. Plot functions draw what they are given: they compute no
statistics and save no files; each takes ``data``, keyword-only options, ``ax=None``, and
returns the Axes."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

PALETTE = "crest"
ACCENT = "#1f5f8b"


def set_theme() -> None:
    """Apply the house style: white grid, readable fonts, figures sized for a laptop report."""
    sns.set_theme(style="whitegrid", context="notebook", palette=PALETTE)
    plt.rcParams.update({"figure.figsize": (8, 3.6), "figure.dpi": 100, "savefig.dpi": 100})


def _axes(ax: Axes | None) -> Axes:
    return ax if ax is not None else plt.subplots()[1]


def _thousands(value: float, _position: int) -> str:
    return f"{value:,.0f}"


def monthly_revenue(data: pd.DataFrame, *, currency: str, ax: Axes | None = None) -> Axes:
    """Bars of net revenue per calendar month. ``data``: columns month, revenue."""
    ax = _axes(ax)
    labels = pd.to_datetime(data["month"]).dt.strftime("%Y-%m")
    ax.bar(labels, data["revenue"], color=ACCENT)
    ax.set(xlabel="month", ylabel=f"net revenue ({currency})", title="Net revenue per month")
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.tick_params(axis="x", labelrotation=90)
    return ax


def order_amounts(data: pd.DataFrame, *, currency: str, ax: Axes | None = None) -> Axes:
    """Histogram of order amounts on a log scale. ``data``: columns upper (bin edge), orders."""
    ax = _axes(ax)
    ax.bar(data["lower"], data["orders"], width=data["upper"] - data["lower"], align="edge", color=ACCENT)
    ax.set_xscale("log")
    ax.set(xlabel=f"order amount ({currency}, log scale)", ylabel="orders", title="Order amounts")
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    return ax


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


def centroid_heatmap(data: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Standardised centroids (clusters x features): how far each cluster sits from the average customer."""
    ax = _axes(ax)
    sns.heatmap(
        data, annot=True, fmt=".2f", center=0, cmap="vlag", cbar_kws={"label": "standard deviations"}, ax=ax
    )
    ax.set(xlabel="feature (log scale, standardised)", ylabel="", title="Cluster centres")
    return ax


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
    ax.figure.colorbar(points, ax=ax, label=f"total spend ({currency})")
    ax.set_xscale("log")
    ax.set_yscale("log")
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


def kpi_trends(data: pd.DataFrame, *, kpis: list[str], axes: list[Axes] | None = None) -> list[Axes]:
    """Small multiples: one line per KPI across periods (``data``: period plus one column per KPI)."""
    if axes is None:
        columns = min(3, len(kpis))
        rows = -(-len(kpis) // columns)
        axes = list(
            plt.subplots(rows, columns, figsize=(4.2 * columns, 2.8 * rows), squeeze=False)[1].ravel()
        )
    for ax, name in zip(axes, kpis, strict=False):
        ax.plot(data["period"], data[name], marker="o", color=ACCENT)
        ax.set(title=name.replace("_", " "), xlabel="")
    for ax in axes[len(kpis) :]:
        ax.set_visible(False)
    axes[0].figure.tight_layout()
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
        xlabel="repeat purchases in the calibration period",
        ylabel="mean purchases in the holdout",
        title="Holdout purchases by past frequency",
    )
    left.legend()
    right.plot(tracking["unit"], tracking["actual"], color=ACCENT, label="actual")
    right.plot(tracking["unit"], tracking["predicted"], linestyle="--", color="#e0a458", label="predicted")
    split = tracking.loc[~tracking["holdout"], "unit"].max()
    right.axvline(split, color="grey", linestyle=":", label="end of calibration")
    right.yaxis.set_major_formatter(FuncFormatter(_thousands))
    right.set(
        xlabel=f"{time_unit} since the start of the period",
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
