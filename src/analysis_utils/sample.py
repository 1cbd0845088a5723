"""Seeded synthetic retail transaction log with planted customer types.

The bundled sample client: a two-year line-level export of a gift and homeware retailer, shaped
like a client's file rather than our canonical schema (semicolon separated, day-first dates, text
ids with leading zeros) so that the column mapping and cleaning steps are exercised. The planted
customer type of every real customer is written next to it and serves as ground truth.

Files written by :func:`write_sample`
-------------------------------------
``transactions.csv``
    ``Invoice;Customer;Date;SKU;Category;Qty;Price;Channel``. ``Date`` is ``%d/%m/%Y %H:%M``,
    ``Price`` is the unit price in pounds with two decimals, ``Qty`` is in units (negative on
    returns). An invoice's lines share customer, timestamp and channel.
``customer_types.csv``
    ``customer_id,planted_type``: one row per real customer (no test customer, no empty ids).
``customers.csv``, ``events.csv``, ``campaigns.csv``
    The client's optional sources, consistent with the planted types (see
    :mod:`analysis_utils.sample_sources`), drawn from a generator of their own after the transactions.
``sample.json``
    The spec, ``GENERATOR_VERSION`` and the sha256 of ``transactions.csv``.

Behaviour
---------
Every customer follows the :data:`TYPE_PROFILES` entry of their type: number of orders over the
whole span (log-uniform, so frequencies are heavy tailed), when the first and last orders fall (in
days before ``end``; windows are clipped to the data span), lines per order and units per line.
Order days follow a seasonal curve (November-December peak, summer dip); unit prices are
lognormal per SKU, units per line lognormal per line. ``one_time_big_spender`` orders are scaled
to 10-50 times the median order amount. Types are tuned to land in their RFM segment in the
final year (:data:`EXPECTED_SEGMENT`); lost customers' single order is 290-360 days before ``end``.
``churned`` customers buy 3-12 times in the first year only (last order 370-480 days before
``end``): the final year's churned customers are exactly them.

Messy rows (``spec.messy``)
---------------------------
Counts for the default spec (50,269 generated lines, 52,878 lines in the file, 0.3 s):

==================================  =====  ================================================
kind                                lines  how to find it
==================================  =====  ================================================
empty Customer (guest orders)         754  ``Customer`` empty; copies of real lines
unparseable Date                      302  ``31/02/2024 10:00``, ``not a date``, empty, ...
exact duplicate lines                 503  identical in every column to an earlier line
cancellations of earlier invoices     754  ``C<invoice>`` by the same customer, Qty < 0
returns without an original            15  ``C`` + number below the first invoice
zero-price gift lines                 251  ``Price`` 0.00 added to an existing invoice
lines dated on or after ``end``        30  copies of real lines moved into ``[end, end+30d)``
internal test customer ``999999``       7  6 small orders in the last year
extreme orders (>= 100x median)         2  invoices of ordinary customers, Qty scaled up
==================================  =====  ================================================

Rate-based kinds are ``round(rate * generated lines)`` with the rates in
:data:`MESSY_LINE_RATES`; see :func:`messy_line_counts`. The test customer and the extreme orders
are part of the generated lines; every other kind is added on top of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis_utils import paths
from analysis_utils.errors import ConfigError
from analysis_utils.sample_sources import generate_sources

SOURCE_FILES = ("customers", "events", "campaigns")  # the optional sources written beside the transactions

GENERATOR_VERSION = 5  # 1: first draft; 2: tuned profiles; 3: types match the RFM segment grid; 4: churned;
# 5: customer table, events and campaigns (analysis_utils.sample_sources; transactions unchanged)

LINE_COLUMNS = ("Invoice", "Customer", "Date", "SKU", "Category", "Qty", "Price", "Channel")
CSV_SEPARATOR = ";"
DATE_FORMAT = "%d/%m/%Y %H:%M"
TEST_CUSTOMER_ID = "999999"
CUSTOMER_ID_WIDTH = 6
FIRST_INVOICE_NUMBER = 100_001
CATEGORY_MEDIAN_PRICES = {  # pounds per unit
    "Home Decor": 8.0,
    "Kitchen": 6.0,
    "Stationery": 2.5,
    "Toys": 7.0,
    "Garden": 9.0,
    "Gifts": 5.0,
    "Textiles": 10.0,
    "Seasonal": 4.0,
}
SKUS_PER_CATEGORY = 30
ONLINE_SHARE = 0.55  # share of customers who mostly buy online
PREFERRED_CHANNEL_SHARE = 0.85  # share of a customer's orders placed on their preferred channel
BIG_SPENDER_MULTIPLES = (10.0, 48.0)  # order amount / median order amount
BAD_DATES = ("31/02/2024 10:00", "not a date", "", "2024-13-45 10:00", "29/02/2023 12:30")

MESSY_LINE_RATES = {  # added lines per generated line
    "missing_customer": 0.015,
    "bad_date": 0.006,
    "duplicate": 0.010,
    "cancellation": 0.015,
    "zero_price": 0.005,
}
N_ORPHAN_RETURNS = 15
N_LINES_AFTER_END = 30
N_EXTREME_ORDERS = 2
EXTREME_ORDER_MULTIPLE = 100.0  # extreme order amount / median order amount (at least)
MAX_RETURN_DELAY_DAYS = 20
FILE_MODE = 0o644  # mkstemp creates 0o600; the sample is meant to be shared


@dataclass(frozen=True)
class SampleSpec:
    """What to generate.

    Parameters
    ----------
    seed : int
        Seed of the only random generator used.
    n_customers : int
        Number of real customers (the test customer comes on top when ``messy``).
    start : str
        First day of data, inclusive (ISO date).
    end : str
        End of data, exclusive (ISO date); the last ``as_of`` of the analysis.
    messy : bool
        Add the dirty rows listed in the module docstring.
    """

    seed: int = 42
    n_customers: int = 3000
    start: str = "2023-01-01"
    end: str = "2025-01-01"
    messy: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.n_customers < 10 ** (CUSTOMER_ID_WIDTH - 1):
            raise ConfigError(f"n_customers must be in 1..99999, got {self.n_customers}")
        try:
            start, end = pd.Timestamp(self.start), pd.Timestamp(self.end)
        except ValueError as exc:
            raise ConfigError(f"sample start/end must be ISO dates: {exc}") from exc
        if end <= start:
            raise ConfigError(f"sample end {self.end} must be after start {self.start}")


DEFAULT_SPEC = SampleSpec()


@dataclass(frozen=True)
class TypeProfile:
    """Purchase behaviour of one planted customer type.

    Parameters
    ----------
    share : float
        Share of real customers of this type.
    orders : tuple[int, int]
        Inclusive range of orders over the whole span (drawn log-uniformly).
    first_days_ago, last_days_ago : tuple[int, int]
        Inclusive ranges, in days before ``end``, of the first and last order.
        A single-order customer's only order falls in ``first_days_ago``.
    lines_per_order : float
        Mean number of lines (distinct SKUs) per order.
    units_per_line : float
        Median units per line.
    price_scale : float
        Multiplier of the catalogue's unit prices for this type (below 1: cheaper picks).
    """

    share: float
    orders: tuple[int, int]
    first_days_ago: tuple[int, int]
    last_days_ago: tuple[int, int]
    lines_per_order: float
    units_per_line: float
    price_scale: float = 1.0


TYPE_PROFILES: dict[str, TypeProfile] = {
    # Tuned so that, in the final year (as_of = end, 366-day window), each type's behaviour matches
    # the definition of its segment in params/segments.yaml under the tie-aware quintile edges
    # that this very mix produces (see EXPECTED_SEGMENT and tests/test_ground_truth_sample.py).
    # Shares of the types active in the final year keep the proportions they were tuned with
    # (x 0.921); "churned" customers, 7.9 %, buy in the first year only.
    "champions": TypeProfile(0.092, (20, 40), (540, 730), (1, 12), 2.4, 3.2),
    "loyal": TypeProfile(0.092, (10, 22), (450, 730), (42, 72), 2.0, 2.4),
    "potential_loyalist": TypeProfile(0.11, (2, 2), (45, 150), (1, 30), 1.1, 1.0, 0.45),
    "new": TypeProfile(0.065, (1, 1), (1, 9), (1, 9), 1.0, 1.0, 0.3),
    "promising": TypeProfile(0.074, (1, 1), (16, 32), (16, 32), 1.0, 1.0, 0.3),
    "need_attention": TypeProfile(0.055, (3, 5), (200, 330), (50, 75), 1.5, 1.2),
    "about_to_sleep": TypeProfile(0.046, (1, 1), (40, 85), (40, 85), 1.4, 1.3),
    "at_risk": TypeProfile(0.083, (10, 22), (450, 730), (100, 230), 2.0, 2.6),
    "cant_lose": TypeProfile(0.037, (30, 50), (420, 520), (280, 320), 2.2, 3.8),
    "hibernating": TypeProfile(0.092, (1, 2), (130, 230), (110, 220), 1.2, 1.0),
    "lost": TypeProfile(0.129, (1, 1), (290, 360), (290, 360), 1.3, 1.2),
    "one_time_big_spender": TypeProfile(0.046, (1, 1), (1, 365), (1, 365), 12.0, 2.0),
    "churned": TypeProfile(0.079, (3, 12), (420, 730), (370, 480), 1.8, 1.8),
}
LAPSED_REPEAT_TYPES = ("at_risk", "cant_lose")
"""Types that bought repeatedly in the final year and then stopped (last order 100-320 days
before ``end``): a model of whether customers are still active should rank them lowest."""
LAPSING_TYPES = (*LAPSED_REPEAT_TYPES, "need_attention", "hibernating")
"""All types whose purchases are fading in the final year, including those with 1-5 orders."""
ACTIVE_REPEAT_TYPES = ("champions", "loyal", "potential_loyalist")
"""Types buying steadily up to the end."""
TEST_CUSTOMER_PROFILE = TypeProfile(0.0, (6, 6), (200, 330), (5, 60), 1.5, 1.0)
TEST_CUSTOMER_TYPE = "internal_test"
BIG_SPENDER_TYPE = "one_time_big_spender"


# --- public API ----------------------------------------------------------------------------------


def generate(spec: SampleSpec = DEFAULT_SPEC) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate the transaction lines and the planted type of every real customer.

    Pure: the same spec gives identical frames; the only randomness is
    ``numpy.random.default_rng(spec.seed)``.

    Returns
    -------
    lines : pandas.DataFrame
        Columns :data:`LINE_COLUMNS`, as they appear in ``transactions.csv``: text except ``Qty``
        (int, units) and ``Price`` (float, pounds per unit); empty fields are missing values.
    truth : pandas.DataFrame
        ``customer_id`` (text, zero padded) and ``planted_type``, sorted by id.
    """
    rng = np.random.default_rng(spec.seed)
    start, end = pd.Timestamp(spec.start), pd.Timestamp(spec.end)
    customers = _customers(spec, rng)
    catalogue = _catalogue(rng)
    orders = _orders(customers, start, end, rng)
    base = _order_lines(orders, catalogue, rng)
    base = _scale_big_spender_orders(base, rng)
    if spec.messy:
        base = _scale_extreme_orders(base, end, rng)
        lines = pd.concat([base, *_messy_additions(base, catalogue, start, end, rng)])
    else:
        lines = base
    real = customers[customers["customer_type"] != TEST_CUSTOMER_TYPE]
    truth = real.rename(columns={"customer": "customer_id", "customer_type": "planted_type"})
    return _export(lines), truth.sort_values("customer_id").reset_index(drop=True)


def write_sample(out_dir: Path, spec: SampleSpec = DEFAULT_SPEC) -> dict[str, Path]:
    """Generate the sample and write it atomically to ``out_dir``.

    Writes ``transactions.csv``, ``customer_types.csv``, the optional sources (``customers.csv``,
    ``events.csv``, ``campaigns.csv``) and, last, ``sample.json``.

    Returns
    -------
    dict[str, pathlib.Path]
        Paths under the keys ``"transactions"``, ``"customer_types"``, ``"customers"``, ``"events"``,
        ``"campaigns"`` and ``"metadata"``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines, truth = generate(spec)
    transactions = lines.to_csv(
        sep=CSV_SEPARATOR, index=False, float_format="%.2f", lineterminator="\n"
    ).encode("utf-8")
    paths = _sample_paths(out_dir)
    _write_atomically(paths["transactions"], transactions)
    _write_atomically(paths["customer_types"], truth.to_csv(index=False).encode("utf-8"))
    for name, frame in generate_sources(truth, spec.seed, spec.start, spec.end).items():
        _write_atomically(
            paths[name], frame.to_csv(sep=CSV_SEPARATOR, index=False, lineterminator="\n").encode("utf-8")
        )
    metadata = _metadata(spec, hashlib.sha256(transactions).hexdigest())
    _write_atomically(paths["metadata"], (json.dumps(metadata, indent=2) + "\n").encode("utf-8"))
    return paths


def ensure_sample(out_dir: Path, spec: SampleSpec = DEFAULT_SPEC) -> Path:
    """Write the sample unless ``out_dir`` already holds it for this spec and version.

    Cheap when up to date: reads ``sample.json`` and hashes ``transactions.csv``, generates
    nothing. Returns the path of ``transactions.csv``.
    """
    paths = _sample_paths(Path(out_dir))
    if not _is_up_to_date(paths, spec):
        write_sample(Path(out_dir), spec)
    return paths["transactions"]


def messy_line_counts(n_generated_lines: int) -> dict[str, int]:
    """Number of added lines of each rate-based messy kind.

    Parameters
    ----------
    n_generated_lines : int
        Lines generated before the messy additions (real and test customers).
    """
    return {kind: round(rate * n_generated_lines) for kind, rate in MESSY_LINE_RATES.items()}


# --- files ---------------------------------------------------------------------------------------


def _sample_paths(out_dir: Path) -> dict[str, Path]:
    return {
        "transactions": out_dir / "transactions.csv",
        "customer_types": out_dir / paths.TRUTH_FILE_NAME,
        **{name: out_dir / f"{name}.csv" for name in SOURCE_FILES},
        "metadata": out_dir / "sample.json",
    }


def _metadata(spec: SampleSpec, transactions_sha256: str) -> dict[str, object]:
    return {
        "generator_version": GENERATOR_VERSION,
        "spec": asdict(spec),
        "transactions_sha256": transactions_sha256,
    }


def _is_up_to_date(paths: dict[str, Path], spec: SampleSpec) -> bool:
    """True if all files exist and ``sample.json`` matches the spec, version and CSV hash."""
    if not all(path.is_file() for path in paths.values()):
        return False
    try:
        recorded = json.loads(paths["metadata"].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    actual_sha256 = hashlib.sha256(paths["transactions"].read_bytes()).hexdigest()
    return recorded == _metadata(spec, actual_sha256)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``path`` and move it into place."""
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as temp_file:
            temp_file.write(data)
        os.chmod(temp_name, FILE_MODE)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


# --- customers, catalogue and orders -------------------------------------------------------------


def _type_counts(n_customers: int) -> dict[str, int]:
    """Customers per type: shares times ``n_customers``, remainders to the largest fractions."""
    exact = np.array([p.share for p in TYPE_PROFILES.values()]) * n_customers
    counts = np.floor(exact).astype(int)
    by_remainder = np.argsort(-(exact - counts), kind="stable")
    counts[by_remainder[: n_customers - counts.sum()]] += 1
    return dict(zip(TYPE_PROFILES, counts.tolist(), strict=True))


def _customers(spec: SampleSpec, rng: np.random.Generator) -> pd.DataFrame:
    """Zero-padded text ids with their type, in a random order; plus the test customer if messy."""
    types = np.repeat(list(TYPE_PROFILES), list(_type_counts(spec.n_customers).values()))
    numbers = rng.choice(np.arange(1, 10 * spec.n_customers + 1), spec.n_customers, replace=False)
    ids = np.char.zfill(numbers.astype(str), CUSTOMER_ID_WIDTH)
    customers = pd.DataFrame({"customer": ids, "customer_type": rng.permutation(types)})
    if spec.messy:
        test = pd.DataFrame({"customer": [TEST_CUSTOMER_ID], "customer_type": [TEST_CUSTOMER_TYPE]})
        customers = pd.concat([customers, test], ignore_index=True)
    return customers


def _catalogue(rng: np.random.Generator) -> pd.DataFrame:
    """SKUs with category, lognormal unit price (pounds) and Zipf-like popularity (sums to 1)."""
    categories = np.repeat(list(CATEGORY_MEDIAN_PRICES), SKUS_PER_CATEGORY)
    medians = np.array([CATEGORY_MEDIAN_PRICES[c] for c in categories])
    prices = np.maximum(medians * rng.lognormal(0.0, 0.6, categories.size), 0.25).round(2)
    popularity = 1.0 / rng.permutation(np.arange(1, categories.size + 1)) ** 0.9
    skus = np.char.add("SKU", np.char.zfill(np.arange(1, categories.size + 1).astype(str), 4))
    return pd.DataFrame(
        {
            "sku": skus,
            "category": categories,
            "price": prices,
            "popularity": popularity / popularity.sum(),
        }
    )


def _seasonal_cdf(start: pd.Timestamp, n_days: int) -> np.ndarray:
    """Cumulative relative order intensity per day; ``cdf[i]`` is the mass before day ``i``.

    Peak around mid-December (x1.9), dip around mid-July (x0.7), a mild upward trend.
    """
    days = pd.date_range(start, periods=n_days, freq="D")
    day_of_year = days.day_of_year.to_numpy()
    christmas_peak = 0.9 * np.exp(-(((day_of_year - 345) / 28.0) ** 2))
    summer_dip = 0.3 * np.exp(-(((day_of_year - 200) / 35.0) ** 2))
    trend = 0.15 * np.arange(n_days) / n_days
    weights = 1.0 + christmas_peak - summer_dip + trend
    return np.concatenate([[0.0], np.cumsum(weights)])


def _seasonal_days(
    cdf: np.ndarray, first_day: np.ndarray, last_day: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One day index per pair, drawn with seasonal weights in ``[first_day, last_day]``."""
    low, high = cdf[first_day], cdf[last_day + 1]
    draws = low + rng.uniform(size=first_day.size) * (high - low)
    days = np.searchsorted(cdf, draws, side="right") - 1
    return np.clip(days, first_day, last_day)


def _window_days(window: tuple[int, int], n_days: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Day-index bounds of a window given in days before the end, clipped to the span."""
    nearest = min(max(window[0], 1), n_days)
    farthest = min(max(window[1], nearest), n_days)
    return np.full(size, n_days - farthest), np.full(size, n_days - nearest)


def _type_orders(
    profile: TypeProfile, n_customers: int, n_days: int, cdf: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Order count per customer and the day index of every order (grouped by customer)."""
    low, high = profile.orders
    log_draws = rng.uniform(np.log(low), np.log(high + 1), n_customers)
    counts = np.clip(np.floor(np.exp(log_draws)).astype(int), low, high)
    first = _seasonal_days(cdf, *_window_days(profile.first_days_ago, n_days, n_customers), rng)
    last_low, last_high = _window_days(profile.last_days_ago, n_days, n_customers)
    last_low = np.minimum(np.maximum(last_low, first), np.maximum(last_high, first))
    last = _seasonal_days(cdf, last_low, np.maximum(last_high, first), rng)
    last = np.where(counts == 1, first, last)
    position = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    first_rep, last_rep = np.repeat(first, counts), np.repeat(last, counts)
    between = _seasonal_days(cdf, first_rep, last_rep, rng)
    is_last = position == np.repeat(counts - 1, counts)
    days = np.where(position == 0, first_rep, np.where(is_last, last_rep, between))
    return counts, days


def _order_times(start: pd.Timestamp, days: np.ndarray, rng: np.random.Generator) -> pd.DatetimeIndex:
    """Timestamps on the given day indices, between 08:00 and 21:59, to the minute."""
    minutes = days * 1440 + rng.integers(8 * 60, 22 * 60, days.size)
    return start + pd.to_timedelta(minutes, unit="min")


def _orders(
    customers: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, rng: np.random.Generator
) -> pd.DataFrame:
    """One row per order: invoice number (chronological), customer, type, timestamp, channel."""
    n_days = (end - start).days
    cdf = _seasonal_cdf(start, n_days)
    profiles = {**TYPE_PROFILES, TEST_CUSTOMER_TYPE: TEST_CUSTOMER_PROFILE}
    online = rng.uniform(size=len(customers)) < ONLINE_SHARE
    parts = []
    for customer_type, profile in profiles.items():
        members = np.flatnonzero(customers["customer_type"].to_numpy() == customer_type)
        counts, days = _type_orders(profile, members.size, n_days, cdf, rng)
        parts.append(pd.DataFrame({"member": np.repeat(members, counts), "day": days}))
    orders = pd.concat(parts, ignore_index=True)
    members = orders["member"].to_numpy()
    on_preferred = rng.uniform(size=members.size) < PREFERRED_CHANNEL_SHARE
    orders["online"] = np.where(on_preferred, online[members], ~online[members])
    orders["timestamp"] = _order_times(start, orders["day"].to_numpy(), rng)
    orders = orders.sort_values(["timestamp", "member"], kind="stable", ignore_index=True)
    return pd.DataFrame(
        {
            "invoice": (FIRST_INVOICE_NUMBER + np.arange(len(orders))).astype(str),
            "customer": customers["customer"].to_numpy()[orders["member"]],
            "customer_type": customers["customer_type"].to_numpy()[orders["member"]],
            "timestamp": orders["timestamp"],
            "channel": np.where(orders["online"], "online", "store"),
        }
    )


def _order_lines(orders: pd.DataFrame, catalogue: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Expand orders into lines with SKU, category, units and unit price; one line per SKU."""
    profiles = {**TYPE_PROFILES, TEST_CUSTOMER_TYPE: TEST_CUSTOMER_PROFILE}
    order_type = orders["customer_type"].to_numpy()
    mean_lines = np.array([profiles[t].lines_per_order for t in order_type])
    n_lines = 1 + rng.poisson(mean_lines - 1.0)
    lines = orders.loc[orders.index.repeat(n_lines)].reset_index(drop=True)
    sku = rng.choice(len(catalogue), len(lines), p=catalogue["popularity"].to_numpy())
    units = np.array([profiles[t].units_per_line for t in lines["customer_type"]])
    lines["sku"] = catalogue["sku"].to_numpy()[sku]
    lines["category"] = catalogue["category"].to_numpy()[sku]
    lines["qty"] = np.maximum(np.rint(units * rng.lognormal(0.0, 0.5, len(lines))), 1).astype(int)
    scale = np.array([profiles[t].price_scale for t in lines["customer_type"]])
    lines["price"] = np.maximum(catalogue["price"].to_numpy()[sku] * scale, 0.25).round(2)
    lines = lines.drop_duplicates(["invoice", "sku"], ignore_index=True)
    lines["date_text"] = pd.Series(pd.NA, index=lines.index, dtype="str")
    lines["seq"] = np.arange(len(lines), dtype=float)
    return lines


def _order_amounts(lines: pd.DataFrame) -> pd.Series:
    """Amount in pounds per invoice (sum of units times unit price)."""
    return (lines["qty"] * lines["price"]).groupby(lines["invoice"], sort=False).sum()


def _median_order_amount(lines: pd.DataFrame) -> float:
    """Median amount in pounds of the ordinary customers' orders."""
    ordinary = ~lines["customer_type"].isin([BIG_SPENDER_TYPE, TEST_CUSTOMER_TYPE])
    return float(_order_amounts(lines[ordinary]).median())


def _scale_invoices(lines: pd.DataFrame, factors: pd.Series) -> pd.DataFrame:
    """Multiply the units of every line of the invoices in ``factors`` (index: invoice)."""
    factor = lines["invoice"].map(factors).fillna(1).to_numpy()
    return lines.assign(qty=(lines["qty"].to_numpy() * factor).astype(int))


def _scale_big_spender_orders(lines: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Scale units so each big spender's order is 10-50x the median order amount."""
    amounts = _order_amounts(lines[lines["customer_type"] == BIG_SPENDER_TYPE])
    targets = rng.uniform(*BIG_SPENDER_MULTIPLES, amounts.size) * _median_order_amount(lines)
    return _scale_invoices(lines, np.maximum(np.rint(targets / amounts), 1))


def _scale_extreme_orders(lines: pd.DataFrame, end: pd.Timestamp, rng: np.random.Generator) -> pd.DataFrame:
    """Scale a few final-year orders of ordinary customers to at least 100x the median amount."""
    ordinary = ~lines["customer_type"].isin([BIG_SPENDER_TYPE, TEST_CUSTOMER_TYPE])
    final_year = lines["timestamp"] >= end - pd.DateOffset(years=1)
    amounts = _order_amounts(lines[ordinary & final_year])
    chosen = amounts.iloc[rng.choice(amounts.size, N_EXTREME_ORDERS, replace=False)]
    factors = np.ceil(EXTREME_ORDER_MULTIPLE * _median_order_amount(lines) / chosen)
    return _scale_invoices(lines, factors)


# --- messy rows ----------------------------------------------------------------------------------


def _messy_additions(
    base: pd.DataFrame,
    catalogue: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    rng: np.random.Generator,
) -> list[pd.DataFrame]:
    """Every kind of added dirty line, drawn from the real customers' generated lines."""
    counts = messy_line_counts(len(base))
    real = base[base["customer_type"] != TEST_CUSTOMER_TYPE]
    returnable = real[real["timestamp"] < end - pd.Timedelta(days=MAX_RETURN_DELAY_DAYS + 1)]
    guests = _copy_into_new_invoices(
        _pick(real, counts["missing_customer"], rng), FIRST_INVOICE_NUMBER + base["invoice"].nunique()
    )
    bad_dates = _copy_into_new_invoices(_pick(real, counts["bad_date"], rng), _next_invoice(guests))
    late = _copy_into_new_invoices(_pick(real, N_LINES_AFTER_END, rng), _next_invoice(bad_dates))
    return [
        guests.assign(customer=pd.Series(pd.NA, index=guests.index, dtype="str")),
        bad_dates.assign(date_text=_per_invoice(bad_dates, np.array(BAD_DATES), rng)),
        _move_after_end(late, end, rng),
        _pick(real, counts["duplicate"], rng).assign(seq=lambda d: d["seq"] + 0.5),
        _cancellations(_pick(returnable, counts["cancellation"], rng), rng),
        _orphan_returns(real, catalogue, start, rng),
        _gift_lines(real, counts["zero_price"], catalogue, rng),
    ]


def _pick(lines: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """A copy of ``n`` distinct lines drawn at random, in their original order."""
    chosen = np.sort(rng.choice(len(lines), n, replace=False))
    return lines.iloc[chosen].copy()


def _per_invoice(lines: pd.DataFrame, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One value drawn from ``values`` per invoice, broadcast to the invoice's lines."""
    codes, uniques = pd.factorize(lines["invoice"])
    return np.asarray(values)[rng.integers(0, len(values), uniques.size)][codes]


def _copy_into_new_invoices(lines: pd.DataFrame, first_number: int) -> pd.DataFrame:
    """Give the copied lines fresh invoice numbers, one per source invoice."""
    codes, _ = pd.factorize(lines["invoice"])
    return lines.assign(invoice=(first_number + codes).astype(str))


def _next_invoice(lines: pd.DataFrame) -> int:
    """The invoice number after the highest one in ``lines``."""
    return int(lines["invoice"].astype(int).max()) + 1


def _move_after_end(lines: pd.DataFrame, end: pd.Timestamp, rng: np.random.Generator) -> pd.DataFrame:
    """Redate each invoice to a random time in the 30 days from ``end`` (after the last as_of)."""
    codes, uniques = pd.factorize(lines["invoice"])
    times = _order_times(end, rng.integers(0, 30, uniques.size), rng)
    return lines.assign(timestamp=times[codes])


def _return_lines(lines: pd.DataFrame, invoices: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Negative-unit copies of ``lines`` under the given invoice numbers, 1-20 days later."""
    returned = lines.assign(invoice=invoices)
    delay_days = _per_invoice(returned, np.arange(1, MAX_RETURN_DELAY_DAYS + 1), rng)
    delay_minutes = _per_invoice(returned, np.arange(0, 12 * 60), rng)
    returned["timestamp"] += pd.to_timedelta(delay_days * 1440 + delay_minutes, unit="min")
    returned["qty"] = -rng.integers(1, returned["qty"].to_numpy() + 1)
    return returned.assign(seq=returned["seq"] + 0.25)


def _cancellations(lines: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Partial returns of the given lines under ``C<original invoice>``."""
    return _return_lines(lines, ("C" + lines["invoice"]).to_numpy(), rng)


def _orphan_returns(
    lines: pd.DataFrame, catalogue: pd.DataFrame, start: pd.Timestamp, rng: np.random.Generator
) -> pd.DataFrame:
    """Returns of random SKUs early in the span, against invoices from before the file starts."""
    early = lines[lines["timestamp"] < start + pd.Timedelta(days=90)]
    returned = _pick(early, N_ORPHAN_RETURNS, rng)
    earlier = np.arange(FIRST_INVOICE_NUMBER - 10_000, FIRST_INVOICE_NUMBER)
    numbers = rng.choice(earlier, N_ORPHAN_RETURNS, replace=False)
    sku = rng.choice(len(catalogue), len(returned))
    returned["sku"] = catalogue["sku"].to_numpy()[sku]
    returned["category"] = catalogue["category"].to_numpy()[sku]
    returned["price"] = catalogue["price"].to_numpy()[sku]
    invoices = np.char.add("C", numbers.astype(str))
    return _return_lines(returned, invoices, rng)


def _gift_lines(
    lines: pd.DataFrame, n: int, catalogue: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """One free unit of a random SKU added to ``n`` distinct existing invoices."""
    first_lines = lines.drop_duplicates("invoice")
    gifts = _pick(first_lines, n, rng)
    sku = rng.choice(len(catalogue), n)
    gifts["sku"] = catalogue["sku"].to_numpy()[sku]
    gifts["category"] = catalogue["category"].to_numpy()[sku]
    gifts["qty"] = 1
    gifts["price"] = 0.0
    return gifts.assign(seq=gifts["seq"] + 0.75)


# --- export --------------------------------------------------------------------------------------


def _export(lines: pd.DataFrame) -> pd.DataFrame:
    """The client-style frame: file order, text dates (or the planted bad ones), file columns."""
    lines = lines.sort_values(["timestamp", "invoice", "seq"], kind="stable", ignore_index=True)
    formatted = lines["timestamp"].dt.strftime(DATE_FORMAT)
    dates = lines["date_text"].where(lines["date_text"].notna(), formatted).replace("", pd.NA)
    return pd.DataFrame(
        {
            "Invoice": lines["invoice"],
            "Customer": lines["customer"],
            "Date": dates,
            "SKU": lines["sku"],
            "Category": lines["category"],
            "Qty": lines["qty"].astype("int64"),
            "Price": lines["price"].round(2),
            "Channel": lines["channel"],
        }
    )


EXPECTED_SEGMENT: dict[str, str | None] = {
    "champions": "Champions",
    "loyal": "Loyal",
    "potential_loyalist": "Potential Loyalist",
    "new": "New",
    "promising": "Promising",
    "need_attention": "Need Attention",
    "about_to_sleep": "About to Sleep",
    "at_risk": "At Risk",
    "cant_lose": "Can't Lose Them",
    "hibernating": "Hibernating",
    "lost": "Lost",
    "one_time_big_spender": None,  # no RFM segment describes it; the value matrix's Spenders does
    "churned": None,  # no order in the final year: not scored there; counted as churned in its KPIs
}
"""Planted type -> the RFM segment (params/segments.yaml) its behaviour is meant to land in."""
