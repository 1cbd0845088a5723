"""Tests of the synthetic sample client: determinism, planted types, messy rows, caching."""

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis_utils import sample
from analysis_utils.errors import ConfigError
from analysis_utils.sample import (
    BAD_DATES,
    DATE_FORMAT,
    LINE_COLUMNS,
    N_EXTREME_ORDERS,
    N_LINES_AFTER_END,
    N_ORPHAN_RETURNS,
    TEST_CUSTOMER_ID,
    TEST_CUSTOMER_PROFILE,
    TYPE_PROFILES,
    SampleSpec,
    ensure_sample,
    messy_line_counts,
    write_sample,
)

SMALL_SPEC = SampleSpec(n_customers=300)
END = pd.Timestamp(SampleSpec().end)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_lines(path: Path) -> pd.DataFrame:
    """The transactions file as a client reader sees it: all text, empty fields missing."""
    lines = pd.read_csv(path, sep=";", dtype=str)
    return lines.assign(
        timestamp=pd.to_datetime(lines["Date"], format=DATE_FORMAT, errors="coerce"),
        qty=lines["Qty"].astype(int),
        price=lines["Price"].astype(float),
    )


def clean_purchases(lines: pd.DataFrame) -> pd.DataFrame:
    """Lines of real customers' valid purchases before the end, with their amount in pounds."""
    keep = (
        lines["Customer"].notna()
        & lines["timestamp"].notna()
        & (lines["timestamp"] < END)
        & ~lines["Invoice"].str.startswith("C")
        & (lines["price"] > 0)
        & (lines["Customer"] != TEST_CUSTOMER_ID)
        & ~lines.duplicated()
    )
    return lines[keep].assign(amount=lambda d: d["qty"] * d["price"])


def order_amounts(purchases: pd.DataFrame) -> pd.DataFrame:
    return purchases.groupby("Invoice").agg(
        customer=("Customer", "first"), timestamp=("timestamp", "first"), amount=("amount", "sum")
    )


@pytest.fixture(scope="module")
def default_sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_sample(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def lines(default_sample: dict[str, Path]) -> pd.DataFrame:
    return read_lines(default_sample["transactions"])


@pytest.fixture(scope="module")
def truth(default_sample: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(default_sample["customer_types"], dtype=str)


@pytest.fixture(scope="module")
def final_year_rfm(lines: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Per real customer: recency (days), orders and mean order amount (pounds) in the last year."""
    orders = order_amounts(clean_purchases(lines))
    recency = (END - orders.groupby("customer")["timestamp"].max()).dt.days
    final_year = orders[orders["timestamp"] >= END - pd.DateOffset(years=1)]
    per_customer = final_year.groupby("customer")["amount"].agg(["size", "mean"])
    rfm = truth.set_index("customer_id").assign(recency_days=recency)
    rfm["final_year_orders"] = per_customer["size"].reindex(rfm.index, fill_value=0)
    rfm["mean_order_amount"] = per_customer["mean"]
    return rfm


# --- determinism and files -----------------------------------------------------------------------


def test_same_spec_gives_byte_identical_files(tmp_path: Path, default_sample: dict[str, Path]):
    again = write_sample(tmp_path)
    assert sha256(again["transactions"]) == sha256(default_sample["transactions"])
    assert sha256(again["customer_types"]) == sha256(default_sample["customer_types"])


def test_different_seed_gives_different_file(tmp_path: Path):
    first = write_sample(tmp_path / "a", SMALL_SPEC)["transactions"]
    second = write_sample(tmp_path / "b", SampleSpec(seed=7, n_customers=300))["transactions"]
    assert sha256(first) != sha256(second)


def test_file_layout_and_metadata(default_sample: dict[str, Path], lines: pd.DataFrame):
    header = default_sample["transactions"].read_text(encoding="utf-8").splitlines()[0]
    assert header == ";".join(LINE_COLUMNS)
    assert 30_000 <= len(lines) <= 60_000
    assert set(lines["Channel"]) == {"online", "store"}
    assert lines["Price"].str.fullmatch(r"\d+\.\d{2}").all()
    metadata = json.loads(default_sample["metadata"].read_text(encoding="utf-8"))
    assert metadata["generator_version"] == sample.GENERATOR_VERSION
    assert metadata["spec"] == {
        "seed": 42,
        "n_customers": 3000,
        "start": "2023-01-01",
        "end": "2025-01-01",
        "messy": True,
    }
    assert metadata["transactions_sha256"] == sha256(default_sample["transactions"])
    assert all(path.stat().st_mode & 0o044 == 0o044 for path in default_sample.values())


def test_customer_ids_keep_leading_zeros(lines: pd.DataFrame, truth: pd.DataFrame):
    ids = lines["Customer"].dropna()
    assert ids.str.fullmatch(r"\d{6}").all()
    assert truth["customer_id"].str.fullmatch(r"\d{6}").all()
    assert truth["customer_id"].str.startswith("0").all()


def test_dates_parse_day_first_except_planted_bad_ones(lines: pd.DataFrame):
    unparsed = lines.loc[lines["timestamp"].isna(), "Date"]
    assert set(unparsed.fillna("")) == set(BAD_DATES)
    assert lines["timestamp"].min() >= pd.Timestamp("2023-01-01")
    assert (lines["timestamp"].dt.day > 12).any()  # day first, not month first


def test_invoice_lines_share_customer_timestamp_and_channel(lines: pd.DataFrame):
    per_invoice = lines.groupby("Invoice")[["Customer", "Date", "Channel"]].nunique(dropna=False)
    assert (per_invoice <= 1).all().all()


# --- planted types -------------------------------------------------------------------------------


def test_every_planted_type_well_represented(truth: pd.DataFrame):
    shares = truth["planted_type"].value_counts(normalize=True)
    assert set(shares.index) == set(TYPE_PROFILES)
    assert shares.min() >= 0.03
    assert len(truth) == 3000


def test_truth_ids_unique_and_all_buy(lines: pd.DataFrame, truth: pd.DataFrame):
    assert truth["customer_id"].is_unique
    purchasers = set(clean_purchases(lines)["Customer"])
    assert set(truth["customer_id"]) == purchasers
    assert TEST_CUSTOMER_ID not in set(truth["customer_id"])


def test_planted_behaviour_in_final_year(final_year_rfm: pd.DataFrame):
    by_type = final_year_rfm.groupby("planted_type")
    recency = by_type["recency_days"].median()
    orders = by_type["final_year_orders"].median()
    mean_amount = by_type["mean_order_amount"].mean()
    assert recency["champions"] < recency["at_risk"] < recency["lost"]
    assert recency["new"] <= 30
    assert orders["champions"] > orders["loyal"] > orders["hibernating"]
    assert mean_amount["one_time_big_spender"] > 5 * mean_amount["champions"]
    assert (by_type["final_year_orders"].max()[["new", "one_time_big_spender", "lost"]] <= 1).all()
    assert by_type["final_year_orders"].min()["lost"] == 1  # visible in the final year, long ago
    assert (
        recency["lost"]
        > recency["hibernating"]
        > recency["about_to_sleep"]
        > recency["promising"]
        > recency["new"]
    )


def test_big_spender_orders_are_10_to_50_times_the_median(lines: pd.DataFrame, truth: pd.DataFrame):
    orders = order_amounts(clean_purchases(lines))
    big_spenders = truth.loc[truth["planted_type"] == "one_time_big_spender", "customer_id"]
    multiples = orders.loc[orders["customer"].isin(big_spenders), "amount"] / (orders["amount"].median())
    assert multiples.between(8, 55).all()


def test_seasonal_peak_in_december(lines: pd.DataFrame):
    orders = order_amounts(clean_purchases(lines))
    per_month = orders.groupby(orders["timestamp"].dt.month).size()
    assert per_month[12] > 1.5 * per_month[[6, 7, 8]].mean()


# --- messy rows ----------------------------------------------------------------------------------


def test_messy_kinds_present_in_stated_amounts(lines: pd.DataFrame):
    is_return = lines["Invoice"].str.startswith("C")
    purchase_invoices = set(lines.loc[~is_return, "Invoice"])
    is_orphan = is_return & ~lines["Invoice"].str[1:].isin(purchase_invoices)
    found = {
        "missing_customer": lines["Customer"].isna().sum(),
        "bad_date": lines["timestamp"].isna().sum(),
        "duplicate": lines.duplicated(LINE_COLUMNS).sum(),
        "cancellation": (is_return & ~is_orphan).sum(),
        "zero_price": (lines["price"] == 0).sum(),
    }
    after_end = (lines["timestamp"] >= END).sum()
    n_generated = len(lines) - sum(found.values()) - is_orphan.sum() - after_end
    assert found == messy_line_counts(n_generated)
    assert all(0.0049 <= count / n_generated <= 0.03 for count in found.values())  # rates rounded to lines
    assert is_orphan.sum() == N_ORPHAN_RETURNS
    assert after_end == N_LINES_AFTER_END


def test_cancellations_follow_their_invoice(lines: pd.DataFrame):
    returns = lines[lines["Invoice"].str.startswith("C")].assign(original=lambda d: d["Invoice"])
    returns["original"] = returns["Invoice"].str[1:]
    originals = lines[~lines["Invoice"].str.startswith("C")].drop_duplicates("Invoice")
    matched = returns.merge(originals, left_on="original", right_on="Invoice", suffixes=("", "_o"))
    assert (returns["qty"] < 0).all()
    assert len(matched) == len(returns) - N_ORPHAN_RETURNS
    assert (matched["Customer"] == matched["Customer_o"]).all()
    assert (matched["timestamp"] > matched["timestamp_o"]).all()
    assert (returns["timestamp"] < END).all()
    orphan_numbers = returns.loc[~returns["original"].isin(originals["Invoice"]), "original"]
    assert (orphan_numbers.astype(int) < originals["Invoice"].astype(int).min()).all()


def test_test_customer_and_extreme_orders(lines: pd.DataFrame, truth: pd.DataFrame):
    test_orders = lines.loc[lines["Customer"] == TEST_CUSTOMER_ID, "Invoice"].nunique()
    assert test_orders == TEST_CUSTOMER_PROFILE.orders[0]
    orders = order_amounts(clean_purchases(lines))
    big_spenders = truth.loc[truth["planted_type"] == "one_time_big_spender", "customer_id"]
    ordinary = orders[~orders["customer"].isin(big_spenders)]
    assert (ordinary["amount"] >= 75 * orders["amount"].median()).sum() == N_EXTREME_ORDERS


def test_clean_spec_has_no_messy_rows(tmp_path: Path):
    spec = SampleSpec(n_customers=300, messy=False)
    clean = read_lines(write_sample(tmp_path, spec)["transactions"])
    assert len(clean_purchases(clean)) == len(clean)
    truth = pd.read_csv(tmp_path / "customer_types.csv", dtype=str)
    assert set(clean["Customer"]) == set(truth["customer_id"])


# --- caching and validation ----------------------------------------------------------------------


def mtimes(out_dir: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in out_dir.iterdir()}


def test_ensure_sample_skips_generation_when_up_to_date(tmp_path: Path, monkeypatch):
    path = ensure_sample(tmp_path, SMALL_SPEC)
    assert path == tmp_path / "transactions.csv"
    before = mtimes(tmp_path)

    def fail(*args, **kwargs):
        raise AssertionError("generated although up to date")

    monkeypatch.setattr(sample, "generate", fail)
    assert ensure_sample(tmp_path, SMALL_SPEC) == path
    assert mtimes(tmp_path) == before


def test_ensure_sample_rewrites_when_spec_changes(tmp_path: Path):
    path = ensure_sample(tmp_path, SMALL_SPEC)
    old_sha = sha256(path)
    new_spec = SampleSpec(seed=43, n_customers=300)
    ensure_sample(tmp_path, new_spec)
    metadata = json.loads((tmp_path / "sample.json").read_text(encoding="utf-8"))
    assert metadata["spec"]["seed"] == 43
    assert sha256(path) != old_sha
    assert metadata["transactions_sha256"] == sha256(path)


def test_ensure_sample_rewrites_damaged_file(tmp_path: Path):
    path = ensure_sample(tmp_path, SMALL_SPEC)
    good = sha256(path)
    path.write_bytes(path.read_bytes()[:1000])
    ensure_sample(tmp_path, SMALL_SPEC)
    assert sha256(path) == good


def test_concurrent_ensure_sample_leaves_consistent_files(tmp_path: Path):
    with ThreadPoolExecutor(max_workers=4) as pool:
        paths = list(pool.map(lambda _: ensure_sample(tmp_path, SMALL_SPEC), range(4)))
    metadata = json.loads((tmp_path / "sample.json").read_text(encoding="utf-8"))
    assert {str(p) for p in paths} == {str(tmp_path / "transactions.csv")}
    assert metadata["transactions_sha256"] == sha256(paths[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "campaigns.csv",
        "customer_types.csv",
        "customers.csv",
        "events.csv",
        "sample.json",
        "transactions.csv",
    ]


@pytest.mark.parametrize(
    "kwargs",
    [{"start": "2025-01-01", "end": "2024-01-01"}, {"n_customers": 0}, {"end": "someday"}],
)
def test_invalid_spec_is_a_config_error(kwargs: dict[str, object]):
    with pytest.raises(ConfigError):
        SampleSpec(**kwargs)


def test_generate_is_pure():
    first_lines, first_truth = sample.generate(SMALL_SPEC)
    second_lines, second_truth = sample.generate(SMALL_SPEC)
    pd.testing.assert_frame_equal(first_lines, second_lines)
    pd.testing.assert_frame_equal(first_truth, second_truth)
    assert np.issubdtype(first_lines["Qty"].dtype, np.integer)
