"""Figures with one house style. Plot functions draw what they are given: they compute no
statistics and save no files; each takes ``data``, keyword-only options, ``ax=None``, and
returns the Axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures are rendered into notebooks and HTML, never to a screen

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

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
