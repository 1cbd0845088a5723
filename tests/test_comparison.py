"""Period comparison: which periods are compared, the client's tables and sentences, and the same
counts as the client report of each period."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import matplotlib
import nbformat
import pandas as pd
import pytest

from analysis_utils import comparison, context, migration, paths, plots
from analysis_utils.comparison import PeriodTables
from analysis_utils.config import Period
from analysis_utils.loader import load_params
from analysis_utils.report import HIDDEN_FROM_CLIENT

matplotlib.use("Agg")


def period(name: str, as_of: str, window_days: int | None = None) -> Period:
    return Period(name, dt.datetime.fromisoformat(as_of), window_days)


Y2011 = period("2011", "2011-12-10", 365)
ALL = period("all", "2011-12-10")
FIRST_HALF = period("Dec2010-May2011", "2011-06-01", 182)
SECOND_HALF = period("Jun2011-Dec2011", "2011-12-10", 192)


def test_overlapping_periods_are_not_compared_and_the_page_says_why():
    plan = comparison.plan([Y2011, ALL])
    assert plan.pairs == () and plan.periods == []
    assert plan.sentences() == (
        "Fewer than two periods can be compared, so this page shows no comparison. "
        "2011 and all overlap (both include 2010-12-10 to 2011-12-09), so they are not compared."
    )


def test_consecutive_periods_are_compared_and_overlapping_ones_skipped():
    plan = comparison.plan([FIRST_HALF, SECOND_HALF, ALL])
    assert plan.names == [("Dec2010-May2011", "Jun2011-Dec2011")]
    assert plan.sentences() == (
        "This page compares Dec2010-May2011 with Jun2011-Dec2011: "
        "each period with the period just before it. "
        "Dec2010-May2011 and all overlap (both include 2010-12-01 to 2011-05-31), so they are not compared. "
        "Jun2011-Dec2011 and all overlap (both include 2011-06-01 to 2011-12-09), so they are not compared."
    )


def test_each_period_is_compared_with_the_one_just_before_it_whatever_the_declared_order():
    years = [period(str(y), f"{y + 1}-01-01", 366 if y == 2024 else 365) for y in (2024, 2022, 2023)]
    plan = comparison.plan(years)
    assert plan.names == [("2022", "2023"), ("2023", "2024")]
    assert [p.name for p in plan.periods] == ["2022", "2023", "2024"]
    assert plan.sentences().startswith("This page compares 2022 with 2023 and 2023 with 2024:")


def test_a_single_period_has_nothing_to_compare():
    assert comparison.plan([Y2011]).sentences() == (
        "Only one period is analysed (2011), so there is nothing to compare it with."
    )


def test_kpi_table_is_tall_labelled_and_has_no_raw_missing_values():
    trends = pd.DataFrame(
        [
            {
                "period": "H1",
                "active_customers": 1200,
                "churn_rate": None,
                "repurchase_rate": 0.30,
                "revenue": 54321.5,
                "aov": 48.1,
                "average_discount_rate": None,
            },
            {
                "period": "H2",
                "active_customers": 1500,
                "churn_rate": 0.2,
                "repurchase_rate": 0.32,
                "revenue": 60000.0,
                "aov": 50.0,
                "average_discount_rate": None,
            },
        ]
    )
    styled = comparison.kpi_table(trends, [("H1", "H2")], "GBP")
    table = styled.data
    assert table.columns.tolist() == ["Measure", "H1", "H2", "Change from H1"]  # periods as columns
    assert table["Measure"].tolist() == [
        "Customers who bought",
        "Churn rate",
        "Repurchase rate (2+ orders)",
        "Revenue (GBP)",
        "Average order value (GBP)",
    ]  # no discount at all: the row is left out
    rows = table.set_index("Measure")
    assert rows.loc["Customers who bought"].tolist() == ["1,200", "1,500", "+25.0%"]
    assert rows.loc["Churn rate"].tolist() == ["-", "20.0%", "-"]
    assert rows.loc["Repurchase rate (2+ orders)", "Change from H1"] == "+2.0 pts"
    assert rows.loc["Revenue (GBP)"].tolist() == ["54,322", "60,000", "+10.5%"]
    html = styled.to_html()
    assert "nan" not in html.lower() and "None" not in html and "_" not in table["Measure"].str.cat()


def tables(name: str, as_of: str, window: int, customers: dict, first_orders: dict) -> PeriodTables:
    """A period whose customers (id -> orders) bought for 10 per order; history of first orders."""
    frame = pd.DataFrame(
        {
            "customer_id": list(customers),
            "frequency": list(customers.values()),
            "monetary": [10.0 * n for n in customers.values()],
        }
    )
    history = pd.DataFrame(
        {
            "customer_id": list(first_orders),
            "first_order_date": pd.to_datetime(list(first_orders.values())),
            "previous_window_orders": 0,
        }
    )
    orders = pd.DataFrame({"order_date": pd.to_datetime([as_of]) - pd.Timedelta(days=1), "amount": [1.0]})
    return PeriodTables(period(name, as_of, window), frame, history, orders)


def test_arrivals_split_into_first_time_buyers_and_customers_back_after_a_break():
    q1 = tables("Q1", "2024-04-01", 91, {"a": 2, "b": 1}, {"a": "2024-01-05", "b": "2024-02-01"})
    first = {"a": "2024-01-05", "b": "2024-02-01", "c": "2024-07-05", "d": "2024-05-10"}
    q3 = tables("Q3", "2024-10-01", 92, {"b": 1, "c": 1, "d": 3}, first)  # d bought in May only
    before = pd.DataFrame({"customer_id": ["a", "b"], "segment": ["Loyal", "New"]})
    after = pd.DataFrame({"customer_id": ["b", "c", "d"], "segment": ["New", "New", "Loyal"]})
    matrix = migration.migration_matrix(before, after)
    assert comparison.migration_sentence(matrix, q1, q3) == (
        "Of the 2 customers who bought in Q1, 1 (50%) stayed in their segment in Q3, 0 (0%) moved to "
        "another segment and 1 (50%) did not buy again in Q3. 2 customers arrived who had not bought in "
        "Q1 (1 of them first-time buyers, 1 back after a break); the largest group of them is in Loyal (1)."
    )
    summary = comparison.migration_table(matrix, "Q1", "Q3").data
    assert summary.columns.tolist() == [
        "Segment in Q1",
        "Customers",
        "Same segment in Q3",
        "Moved to another segment",
        "Did not buy in Q3",
        "Most who moved went to",
    ]
    assert summary.set_index("Segment in Q1").loc["Loyal"].tolist() == [1, 0, 0, 1, "-"]


def test_small_multiples_start_every_y_axis_at_zero():
    data = pd.DataFrame({"period": ["H1", "H2"], "revenue": [1000.0, 1017.0], "churn_rate": [None, 0.2]})
    axes = plots.kpi_trends(
        data, kpis=["revenue", "churn_rate"], labels={"revenue": "Revenue (GBP)"}, percent=["churn_rate"]
    )
    try:
        assert [ax.get_ylim()[0] for ax in axes] == [0.0, 0.0]  # +1.7% does not look like a climb
        assert axes[0].get_ylim()[1] >= 1017.0 and axes[0].get_title() == "Revenue (GBP)"
        assert axes[0].figure.get_suptitle() == "Key figures by period"
        assert [t.get_text() for t in axes[1].texts] == ["-", "20.0%"]  # missing: "-", no bar
    finally:
        matplotlib.pyplot.close(axes[0].figure)


def test_notebook_shows_the_client_no_code_dumps_parameter_names_or_file_names():
    notebook = nbformat.read(paths.NOTEBOOKS_DIR / "90_period_comparison.ipynb", as_version=4)
    for cell in notebook.cells:
        tags = set(cell.metadata.get("tags", []))
        client_sees = not tags & HIDDEN_FROM_CLIENT
        if cell.cell_type == "code":
            assert "def " not in cell.source
            if "# NBVAL_CHECK_OUTPUT" in cell.source:
                assert "analyst-only" in tags
            else:
                assert not cell.outputs
            if client_sees:
                assert "print(" not in cell.source
        elif client_sees:
            assert "`" not in cell.source and ".parquet" not in cell.source
            assert "comparison." not in cell.source and "docs/" not in cell.source


@pytest.fixture(scope="module")
def sample_pages(sample_run: Path) -> dict:
    """What each page of the sample's run computes from the published stage 01-02 artifacts."""
    params = load_params("params/clients/sample.yaml")
    # The client report of 2024 (notebook 09): its own tables and the previous period's; its
    # headline customers are the KPI active_customers (executive.headline_numbers).
    current = comparison.read_period(params.period("2024"), sample_run / "2024")
    previous = comparison.read_period(params.period("2023"), sample_run / "2023")
    report_moves = comparison.migration_between(params, previous, current)
    # The comparison (notebook 90): the published tables of the periods it compares.
    plan = comparison.plan(params.periods)
    compared, reference = context.compared_tables(params, plan.periods, sample_run)
    assert reference is None  # the first period is among them
    trends = comparison.kpi_trends(compared).set_index("period")
    moves = comparison.migrations(compared, params, plan.names)
    return {
        "current": current.kpis(),
        "previous": previous.kpis(),
        "report_moves": report_moves,
        "tables": compared,
        "trends": trends,
        "moves": moves[("2023", "2024")],
    }


def test_the_client_report_and_the_comparison_show_the_same_counts(sample_pages):
    current, previous = sample_pages["current"], sample_pages["previous"]
    trends, moves = sample_pages["trends"], sample_pages["moves"]
    report_counts = comparison.move_counts(sample_pages["report_moves"])
    counts = comparison.move_counts(moves)
    customers_2023 = previous["active_customers"]
    new_2024 = current["new_customers"]
    # Customers of 2023: the report's headline, its migration, the comparison's KPIs and migration.
    assert customers_2023 == trends.at["2023", "active_customers"] == report_counts.before == counts.before
    assert customers_2023 == current["previous_customers"]  # 2023 is 2024's window before
    # New customers of 2024, and those gone (churned), likewise.
    assert new_2024 == trends.at["2024", "new_customers"] == report_counts.new == counts.new
    assert current["churned_customers"] == trends.at["2024", "churned_customers"] == counts.gone
    assert current["active_customers"] == trends.at["2024", "active_customers"]
    pd.testing.assert_frame_equal(sample_pages["report_moves"], moves)
    # And the sentences of both pages carry those numbers.
    text = comparison.migration_sentence(moves, *sample_pages["tables"])  # both pages write this sentence
    assert f"Of the {customers_2023:,} customers who bought in 2023" in text
    assert f"{new_2024:,} customers arrived who had not bought in 2023;" in text
