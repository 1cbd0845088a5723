"""Stage 01 rules: canonical lines -> clean orders, and a data-quality table saying what went where.

Every rule is an Ibis expression (backend-neutral); the only data that leaves the engine is
the one-row-per-order result and a handful of counts. Definitions and precedence are in
docs/methodology.md ("Data preparation").

Line rules are applied in this order; a line removed by one rule is counted under that rule
only: missing customer id, unparseable date, unreadable amount, excluded customer, dated on
or after as_of, exact duplicate, zero amount; then returns are netted or dropped. Orders are
built from the kept lines; then the order rules: before the window, non-positive net amount,
extreme amount (flagged, never dropped).

The optional money columns of a line (``discount``, and ``cost`` or ``margin``) travel with
its amount: a line with an unreadable one is an unreadable amount, a return's discount and
cost count negative and net into the same order as its amount, and orders sum them
(``margin`` is turned into ``cost = amount - margin`` first).
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from analysis_utils.config import Period, RunParams
from analysis_utils.engine import connect, engine_errors, exact_sum
from analysis_utils.errors import DataError
from analysis_utils.io import InputFiles, period_inputs, read_transactions

UNKNOWN_CUSTOMER = "unknown"
CARRIED_COLUMNS = ("channel", "store")
SUMMED_MONEY_COLUMNS = ("discount", "cost")  # optional line money summed into orders, after amount
MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this = its standard deviation

LINE_RULES = {
    "missing_customer": "missing customer id",
    "unparseable_date": "date missing or not in data.date_format",
    "unreadable_amount": "amount missing or not a number",
    "excluded_customer": "internal or test customer (prep.exclude_customers)",
    "after_as_of": "dated on or after the period's as_of",
    "duplicate": "exact duplicate of another line",
    "zero_amount": "zero amount (gift or free item)",
}
RETURN_RULES = {
    "return_netted": "return or cancellation netted against the customer's earlier order",
    "return_unmatched": "return or cancellation with no earlier order to net against",
    "return_dropped": "return or cancellation dropped (prep.returns.policy = drop)",
}
ORDER_RULES = {
    "before_window": "order dated before the period's window start",
    "nonpositive_order": "order with zero or negative net amount after returns",
    "extreme_amount": "order amount extreme (robust z-score on log amount)",
}


EARLIER_COLUMNS = ("customer_id", "order_date", "amount")
BASKET_SCHEMA = pa.schema([(name, pa.string()) for name in ("customer_id", "order_id", "category")])
"""Columns of stage 01's ``baskets.parquet`` (:func:`basket_rows`)."""


@dataclass(frozen=True)
class PrepResult:
    """What stage 01 hands on: the period's orders, what each rule did, and customer history.

    ``history`` has one row per customer with an order before ``as_of`` anywhere in the file:
    ``first_order_date`` (their earliest order) and ``previous_window_orders`` (orders in the
    window of equal length just before this period's; NULL when the period has no window).
    ``inputs`` are the files read, when stage 01 read them itself (:func:`prepare`).
    ``earlier`` holds the orders dropped for being dated before the window (customer_id,
    order_date, amount; positive orders only), so that stage 05's models can see each customer's
    whole history in the export (left truncation); empty without a window. ``baskets`` are the
    period's baskets for stage 06's cross-sell (:func:`basket_rows`; no rows without a category).
    """

    orders: pa.Table
    quality: pd.DataFrame
    history: pa.Table
    inputs: InputFiles | None = None  # the files read (set by :func:`prepare`)
    earlier: pa.Table | None = None  # orders before the window (EARLIER_COLUMNS), for the models' history
    baskets: pa.Table | None = None  # distinct (customer_id, order_id, category) kept (BASKET_SCHEMA)


def prepare_orders(
    lines: ir.Table, prep: dict[str, Any], data: dict[str, Any], period: Period, source: str
) -> PrepResult:
    """Apply every rule to canonical lines and build the orders of ``period``.

    Parameters
    ----------
    lines
        Canonical lines (see :func:`analysis_utils.io.canonical_lines`).
    prep
        The ``prep`` section of the parameters.
    data
        The ``data`` section (column mapping and date format, named in error messages).
    period
        The period: lines on or after ``as_of`` and orders before ``window_start`` are out.
    source
        Name of the input (file path) used in error messages.

    Returns
    -------
    PrepResult
        ``orders`` sorted by customer_id, order_id, and the data-quality table.

    Raises
    ------
    DataError
        When the file has no lines, too many unparseable dates or amounts, or nothing is left.
    """
    line_rules = _line_rule_descriptions(lines.columns)
    with engine_errors(source), contextlib.ExitStack() as cached:
        prep = {**prep, "drop_duplicates": duplicates_are_dropped(lines, prep["drop_duplicates"])}
        annotated = annotate_line_rules(lines, prep, period)
        if prep["drop_duplicates"]:
            annotated = annotated.mutate(line_hash=line_hash(annotated))
        annotated = cached.enter_context(annotated.cache())
        line_counts = _counts_by(annotated, "rule", zero_rows=True).assign(action="dropped")
        _check_line_counts(line_counts, prep, data, period, f"{source}: ", annotated)
        kept, removed = _drop_duplicates_and_zero_amounts(annotated, line_counts, prep, cached)
        line_counts = _move_from_kept(line_counts.drop(columns="zero_rows"), removed)
        # a return matches the same purchase whether that purchase is duplicated or not, so returns
        # are matched among the lines before duplicates go: fewer columns read, no duplicate check
        survivors = annotated.filter(annotated.rule.isnull())
        if prep["drop_zero_amount"]:
            survivors = survivors.filter(survivors.amount != 0)
        purchases, returns, return_counts = _apply_return_policy(kept, survivors, prep, cached)
        orders = build_orders(purchases.union(returns))
        orders = cached.enter_context(_with_order_rule(orders, prep, period).cache())
        history = customer_history(orders, period).order_by("customer_id").to_pyarrow()
        before = orders.filter((orders.rule == "before_window") & (orders.amount > 0))
        earlier = before.select(*EARLIER_COLUMNS).order_by(["customer_id", "order_date"]).to_pyarrow()
        orders, order_counts = _apply_order_rules(orders, prep)
        table = orders.order_by(["customer_id", "order_id"]).to_pyarrow()
        baskets = basket_rows(annotated, period)
    if table.num_rows == 0:
        removed = _what_removed(line_counts, return_counts, order_counts, line_rules)
        raise DataError(f"{source}: no orders left in period {period.name!r} after cleaning: {removed}")
    quality = quality_table(line_counts, return_counts, order_counts, table, line_rules)
    return PrepResult(orders=table, quality=quality, history=history, earlier=earlier, baskets=baskets)


def basket_rows(annotated: ir.Table, period: Period) -> pa.Table:
    """Distinct (customer_id, order_id, category) of the period's kept purchase lines, sorted: the
    baskets of stage 06's cross-sell (analysis_utils.basket), no rows when the lines have no category.

    ``annotated`` are the lines with their line rule (:func:`annotate_line_rules`). Kept: no line rule
    removes the line, it is no return, its amount is positive, its date is in the window and it has a
    category. Lines without an order id get one per customer and day, as orders do.
    """
    if "category" not in annotated.columns:
        return BASKET_SCHEMA.empty_table()
    keep = (
        annotated.rule.isnull() & ~annotated.is_return & (annotated.amount > 0) & annotated.category.notnull()
    )
    if period.window_start is not None:
        keep &= annotated.order_date >= period.window_start
    kept = with_order_ids(annotated.filter(keep))
    rows = kept.select("customer_id", "order_id", "category").distinct()
    return rows.order_by(["customer_id", "order_id", "category"]).to_pyarrow().cast(BASKET_SCHEMA)


def duplicates_are_dropped(lines: ir.Table, setting: bool | str) -> bool:
    """Whether line rule 6 (exact duplicate) applies: ``prep.drop_duplicates`` true or false, or
    ``auto``: only when some line carries an order id or a time of day (an order date that is not
    midnight). Without either, two identical lines are two identical purchases on one day (a log of
    customer, date, quantity and amount), not a line exported twice."""
    if isinstance(setting, bool):
        return setting
    timed = lines.order_date != lines.order_date.truncate("D")
    found = lines.aggregate(
        ids=lines.order_id.notnull().any(), timed=timed.fill_null(False).any()
    ).to_pyarrow()
    return bool(found["ids"][0].as_py() or found["timed"][0].as_py())


def _what_removed(
    line_counts: pd.DataFrame,
    return_counts: pd.DataFrame,
    order_counts: pd.DataFrame,
    line_rules: dict[str, str],
) -> str:
    """Which rules removed what, for the "no orders left" error: ``all 4 lines: missing customer id``
    when one rule took every line, else ``of 4 lines: 2 ...; 2 ...`` then the orders dropped."""
    total = int(line_counts["rows"].sum())
    parts = []
    for counts, rules, unit in (
        (line_counts, line_rules, "lines"),
        (return_counts, RETURN_RULES, "lines"),
        (order_counts, ORDER_RULES, "orders"),
    ):
        dropped = counts[counts["action"] == "dropped"].dropna(subset=["rule"])
        by_rule = dropped.groupby("rule")["rows"].sum()
        parts += [
            (int(by_rule[rule]), unit, description)
            for rule, description in rules.items()
            if rule in by_rule.index and int(by_rule[rule]) > 0
        ]
    if len(parts) == 1 and parts[0][:2] == (total, "lines"):
        return f"all {total:,} lines: {parts[0][2]}"
    listed = "; ".join(f"{rows:,} {unit}: {description}" for rows, unit, description in parts)
    return f"of {total:,} lines read, {listed or 'none was removed'}"


def customer_history(orders: ir.Table, period: Period) -> ir.Table:
    """Per customer, from every order built before ``as_of`` (window or not): first order date,
    and the number of orders in the previous window ``[window_start - window_days, window_start)``."""
    previous = ibis.null("int64")
    if period.window_start is not None:
        previous_start = period.window_start - (period.as_of - period.window_start)
        in_previous = (orders.order_date >= previous_start) & (orders.order_date < period.window_start)
        previous = in_previous.cast("int64").sum()
    return orders.group_by("customer_id").aggregate(
        first_order_date=orders.order_date.min(), previous_window_orders=previous
    )


def annotate_line_rules(lines: ir.Table, prep: dict[str, Any], period: Period) -> ir.Table:
    """Add ``rule``: the first of line rules 1-5 that removes the line, NULL for a line that stays.

    Rules 1-5 look at one line at a time; rules 6 (exact duplicate) and 7 (zero amount) compare
    lines and are applied afterwards to the lines left (:func:`drop_exact_duplicates`).

    Adds ``is_return`` too: a negative amount, or an order id with ``prep.returns.order_prefix``.
    A cancellation line's amount is made negative whatever its sign in the file.

    Optional money columns: ``margin`` becomes ``cost = amount - margin`` (both as in the file,
    before any sign change); a return line's ``discount`` and ``cost`` are made negative whatever
    their sign in the file (the goods and the discount on them are given back). A line whose
    discount or cost (or margin) is NULL is an unreadable amount, like a NULL amount.
    """
    if "margin" in lines.columns:
        lines = lines.mutate(cost=lines.amount - lines.margin).drop("margin")
    prefix = prep["returns"]["order_prefix"]
    prefixed = lines.order_id.startswith(prefix).fill_null(False) if prefix else ibis.literal(False)
    is_return = (lines.amount < 0).fill_null(False) | prefixed
    money = [name for name in SUMMED_MONEY_COLUMNS if name in lines.columns]
    lines = lines.mutate(
        is_return=is_return,
        amount=ibis.ifelse(prefixed, -lines.amount.abs(), lines.amount),
        **{name: ibis.ifelse(is_return, -lines[name].abs(), lines[name]) for name in money},
    )
    unreadable = lines.amount.isnull()
    for name in money:
        unreadable |= lines[name].isnull()
    if not prep["drop_missing_customer"]:
        lines = lines.mutate(customer_id=lines.customer_id.fill_null(UNKNOWN_CUSTOMER))
    excluded = prep["exclude_customers"]
    conditions = [
        ("missing_customer", lines.customer_id.isnull()),
        ("unparseable_date", lines.order_date.isnull()),
        ("unreadable_amount", unreadable),
        ("excluded_customer", lines.customer_id.isin(excluded) if excluded else None),
        ("after_as_of", lines.order_date >= period.as_of if prep["drop_after_as_of"] else None),
    ]
    cases = [(condition, rule) for rule, condition in conditions if condition is not None]
    return lines.mutate(rule=ibis.cases(*cases, else_=ibis.null("string")))


def line_hash(lines: ir.Table) -> ir.IntegerValue:
    """A hash of every data column of a line (``is_return``, ``rule`` and ``line_hash`` aside):
    equal lines have equal hashes; unequal lines share one rarely (64 bits on DuckDB, 32 on Spark)."""
    columns = [c for c in lines.columns if c not in {"is_return", "rule", "line_hash"}]
    return ibis.struct({name: lines[name] for name in columns}).hash()


def _drop_duplicates_and_zero_amounts(
    annotated: ir.Table, line_counts: pd.DataFrame, prep: dict[str, Any], cached: contextlib.ExitStack
) -> tuple[ir.Table, pd.DataFrame]:
    """Line rules 6 and 7 on the lines rules 1-5 kept: one copy of each exact duplicate stays, then
    zero amounts go. ``line_counts`` are rules 1-5's counts with ``zero_rows``. Returns the kept
    lines (without ``rule``) and the two rules' counts."""
    kept = annotated.filter(annotated.rule.isnull()).drop("rule")
    counts = []
    if prep["drop_duplicates"]:
        kept, duplicates = drop_exact_duplicates(kept, cached)
        counts.append(duplicates.assign(rule="duplicate"))
    if prep["drop_zero_amount"]:
        zero_rows = int(line_counts.loc[line_counts["rule"].isnull(), "zero_rows"].sum())
        if prep["drop_duplicates"]:  # a zero line's extra copies were counted as duplicates
            zero_rows -= int(duplicates["zero_rows"].iloc[0])
        counts.append(pd.DataFrame({"rule": ["zero_amount"], "rows": [zero_rows], "amount": [0.0]}))
        kept = kept.filter(kept.amount != 0)
    columns = ["rule", "rows", "amount"]
    return kept, pd.concat([c[columns] for c in counts]) if counts else pd.DataFrame(columns=columns)


def drop_exact_duplicates(lines: ir.Table, cached: contextlib.ExitStack) -> tuple[ir.Table, pd.DataFrame]:
    """Keep one copy of each group of lines equal in every data column; count the other copies.

    Exact, in two steps that keep the work on the engine linear: lines whose ``line_hash``
    (:func:`line_hash`) occurs once are unique and stay as they are; only the few lines that share a
    hash are compared column by column (grouped), and each distinct line among them stays once.
    Returns the kept lines (without ``line_hash``) and a one-row frame: ``rows`` and ``amount``
    (currency) of the copies dropped, and ``zero_rows``, how many of them have a zero amount.
    """
    repeated = lines.group_by("line_hash").aggregate(copies=lines.count())
    repeated = cached.enter_context(repeated.filter(repeated.copies > 1).select("line_hash").cache())
    columns = [c for c in lines.columns if c != "line_hash"]
    shared = lines.semi_join(repeated, "line_hash")
    distinct = shared.group_by(columns).aggregate(copies=shared.count())
    distinct = cached.enter_context(distinct.cache())
    extra = (distinct.copies - 1).cast("int64")
    counts = distinct.aggregate(
        rows=extra.sum(),
        amount=exact_sum(distinct.amount * extra),
        zero_rows=ibis.ifelse(distinct.amount == 0, extra, 0).sum(),
    ).to_pandas()
    unique = lines.anti_join(repeated, "line_hash").select(columns)
    counts = counts.fillna(0).astype({"rows": "int64", "zero_rows": "int64"})
    return unique.union(distinct.select(columns).cast(unique.schema())), counts


def _move_from_kept(line_counts: pd.DataFrame, removed: pd.DataFrame) -> pd.DataFrame:
    """Line counts with the rows and amount of the later rules (``removed``) taken off the kept lines
    (the NULL-rule row) and listed under their own rules, so every line is counted once."""
    kept = line_counts["rule"].isnull()
    line_counts.loc[kept, "rows"] -= removed["rows"].sum()
    line_counts.loc[kept, "amount"] -= removed["amount"].sum()
    return pd.concat([line_counts, removed.assign(action="dropped")], ignore_index=True)


def _counts_by(table: ir.Table, key: str, zero_rows: bool = False) -> pd.DataFrame:
    """Lines and amount per value of ``key`` (NULL key = kept), as a small pandas frame; with
    ``zero_rows``, also how many of them have a zero amount."""
    extra = {"zero_rows": (table.amount == 0).cast("int64").sum()} if zero_rows else {}
    counts = table.group_by(key).aggregate(rows=table.count(), amount=exact_sum(table.amount), **extra)
    counts = counts.order_by(counts[key].asc(nulls_first=True))  # a fixed order for the sums taken of it
    return counts.to_pandas().fillna({"amount": 0.0} | dict.fromkeys(extra, 0))


def _check_line_counts(
    counts: pd.DataFrame,
    prep: dict[str, Any],
    data: dict[str, Any],
    period: Period,
    where: str,
    lines: ir.Table,
) -> None:
    """Stop with a one-line DataError when the input cannot give a trustworthy result."""
    total = int(counts["rows"].sum())
    if total == 0:
        raise DataError(f"{where}no data lines")
    by_rule = {rule: int(n) for rule, n in zip(counts["rule"], counts["rows"], strict=True)}
    columns = data["columns"]
    limits = [
        (
            "missing_customer",
            "max_missing_customer_share",
            lambda: f"column {columns.get('customer_id', 'customer_id')!r}",
            "have no customer id",
        ),
        (
            "unparseable_date",
            "max_unparseable_date_share",
            lambda: f"column {columns['order_date']!r}",
            f"do not parse with data.date_format {data['date_format']!r}",
        ),
        (
            "unreadable_amount",
            "max_unparseable_amount_share",
            lambda: _unreadable_columns(lines, columns),
            "are missing or not numbers",
        ),
    ]
    for rule, limit, named, what in limits:
        bad = by_rule.get(rule, 0)
        allowed = prep[limit] if rule != "unparseable_date" or prep["drop_unparseable_dates"] else 0
        if bad > allowed * total:
            raise DataError(
                f"{where}{named()}: {bad:,} of {total:,} lines ({bad / total:.1%}) {what};"
                f" limit prep.{limit} = {allowed}"
            )
    unusable = sum(by_rule.get(rule, 0) for rule in ("missing_customer", "unparseable_date"))
    if by_rule.get("after_as_of", 0) == total - unusable > 0:
        first = lines.filter(lines.rule == "after_as_of").order_date.min().to_pyarrow().as_py()
        raise DataError(
            f"{where}period {period.name!r} ends (as_of {period.as_of:%Y-%m-%d}) before the first"
            f" order in the file ({first:%Y-%m-%d})"
        )


def _unreadable_columns(lines: ir.Table, columns: dict[str, str]) -> str:
    """``column 'X'`` or ``columns 'X', 'Y'``: the mapped columns whose values made lines unreadable.

    Without a discount or cost column only the amount can be at fault and nothing is computed.
    """
    amount_label = columns.get("amount") or f"{columns.get('quantity')} x {columns.get('unit_price')}"
    money = [name for name in SUMMED_MONEY_COLUMNS if name in lines.columns]
    if not money:
        return f"column {amount_label!r}"
    unreadable = lines.filter(lines.rule == "unreadable_amount")
    at_fault = {"amount": unreadable.amount.isnull()}
    for name in money:
        at_fault[name] = unreadable[name].isnull()
    if "margin" in columns:  # cost = amount - margin: a NULL cost with an amount is the margin's
        at_fault["cost"] &= unreadable.amount.notnull()
    counts = unreadable.aggregate(**{n: c.cast("int64").sum() for n, c in at_fault.items()}).to_pandas()
    labels = {"amount": amount_label} | {n: columns.get(n) or columns.get("margin") for n in money}
    named = [labels[n] for n in at_fault if (counts[n].fillna(0) > 0).any()] or [amount_label]
    listed = ", ".join(repr(label) for label in named)
    return f"column {listed}" if len(named) == 1 else f"columns {listed}"


def _line_rule_descriptions(line_columns: list[str]) -> dict[str, str]:
    """:data:`LINE_RULES`, with the optional money columns named in ``unreadable_amount``."""
    money = [name for name in ("discount", "cost", "margin") if name in line_columns]
    if not money:
        return LINE_RULES
    names = ", ".join(["amount", *money[:-1]]) + f" or {money[-1]}"
    return LINE_RULES | {"unreadable_amount": f"{names} missing or not a number"}


def _apply_return_policy(
    kept: ir.Table, match_among: ir.Table, prep: dict[str, Any], cached: contextlib.ExitStack
) -> tuple[ir.Table, ir.Table, pd.DataFrame]:
    """Split kept lines into purchases and returns; net the returns against earlier orders (each
    gets its purchase's ``order_id``, found among the purchases of ``match_among``), or drop them.
    Returns the purchase lines, the netted returns (cached: they are few) and what happened to the
    returns."""
    kept, match_among = with_order_ids(kept), with_order_ids(match_among)
    purchases, returns = kept.filter(~kept.is_return), kept.filter(kept.is_return)
    if prep["returns"]["policy"] == "drop":
        counts = returns.aggregate(rows=returns.count(), amount=exact_sum(returns.amount)).to_pandas()
        return purchases, returns.limit(0), counts.assign(rule="return_dropped", action="dropped")
    # cached on their own: a query reading the kept lines twice would materialise all of them
    returns = cached.enter_context(returns.cache())
    candidates = match_among.filter(~match_among.is_return).select(returns.columns)
    returns = cached.enter_context(match_returns(candidates, returns).cache())
    rule = ibis.ifelse(returns.order_id.isnull(), "return_unmatched", "return_netted")
    counts = _counts_by(returns.mutate(rule=rule), "rule")
    counts = counts.assign(action=counts["rule"].map({"return_netted": "netted"}).fillna("dropped"))
    return purchases, returns.filter(returns.order_id.notnull()), counts


def match_returns(purchases: ir.Table, returns: ir.Table) -> ir.Table:
    """The return lines, each with the ``order_id`` of the customer's latest earlier purchase.

    The match is within the same customer and, when a product column exists, the same product;
    "earlier" includes the same timestamp. A return with no such purchase gets a NULL
    ``order_id``. Only purchases sharing a key with some return take part, so the ordered window
    covers few lines.
    """
    keys = ["customer_id", "product_id"] if "product_id" in returns.columns else ["customer_id"]
    candidates = purchases.semi_join(returns.select(keys).distinct(), keys)
    both = candidates.union(returns.select(candidates.columns))
    match_key = ibis.ifelse(
        both.is_return,
        ibis.null("string"),
        both.order_date.strftime("%Y-%m-%d %H:%M:%S") + "|" + both.order_id,
    )
    window = ibis.window(group_by=keys, order_by=["order_date", "is_return"], rows=(None, 0))
    latest = match_key.max().over(window)
    matched = both.mutate(order_id=latest.substr(20)).filter(lambda t: t.is_return)
    return matched.select(returns.columns)


def with_order_ids(lines: ir.Table) -> ir.Table:
    """The lines with every missing ``order_id`` filled by :func:`customer_day_id`."""
    return lines.mutate(order_id=lines.order_id.fill_null(customer_day_id(lines)))


def customer_day_id(lines: ir.Table) -> ir.StringValue:
    """Order id for sources without one: one per customer and calendar day, ``<customer>|<YYYY-MM-DD>``."""
    return lines.customer_id + "|" + lines.order_date.strftime("%Y-%m-%d")


def build_orders(lines: ir.Table) -> ir.Table:
    """One row per (customer_id, order_id) from kept lines.

    ``order_date`` is the earliest purchase line of the order (returns carry their own,
    later date and do not move it); ``amount`` is the net sum of line amounts (currency);
    ``items`` the net sum of quantities (NULL without a quantity column); ``lines`` the
    number of lines, returns included. Carried optional columns (channel, store) take the
    smallest value of the order, so the choice never depends on row order. ``discount`` and
    ``cost`` (currency), present only when the lines have them, follow ``amount``: net sums of
    the lines' values, netted returns included, so order margin = amount - cost exactly.
    """
    lines = with_order_ids(lines)
    purchase_date = ibis.ifelse(lines.is_return, ibis.null("timestamp"), lines.order_date)
    aggregates: dict[str, ir.Value] = {
        "order_date": purchase_date.min(),
        "amount": exact_sum(lines.amount),
        **{name: exact_sum(lines[name]) for name in SUMMED_MONEY_COLUMNS if name in lines.columns},
        "items": exact_sum(lines.quantity) if "quantity" in lines.columns else ibis.null("float64"),
        "lines": lines.count(),
    }
    for name in CARRIED_COLUMNS:
        if name in lines.columns:
            aggregates[name] = lines[name].min()
    return lines.group_by(["customer_id", "order_id"]).aggregate(**aggregates)


def _with_order_rule(orders: ir.Table, prep: dict[str, Any], period: Period) -> ir.Table:
    """Add ``rule``: the order rule that drops the order (before the window, non-positive), or NULL."""
    drop_reason = [
        ("before_window", _before_window(orders, prep, period)),
        ("nonpositive_order", orders.amount <= 0 if prep["drop_nonpositive_orders"] else None),
    ]
    cases = [(condition, rule) for rule, condition in drop_reason if condition is not None]
    return orders.mutate(rule=ibis.cases(*cases, else_=ibis.null("string")) if cases else ibis.null("string"))


def _apply_order_rules(orders: ir.Table, prep: dict[str, Any]) -> tuple[ir.Table, pd.DataFrame]:
    """Drop orders by their ``rule``, flag extreme amounts; return the kept orders and the counts."""
    counts = _counts_by(orders, "rule").assign(action="dropped")
    kept = orders.filter(orders.rule.isnull()).drop("rule")
    kept = flag_extreme_orders(kept, prep["extreme"])
    flagged = kept.filter(kept.is_extreme)
    extreme = flagged.aggregate(rows=flagged.count(), amount=exact_sum(flagged.amount)).to_pandas()
    counts = pd.concat([counts, extreme.assign(rule="extreme_amount", action="flagged")])
    if not prep["drop_nonpositive_orders"]:
        nonpositive = kept.filter(kept.amount <= 0)
        found = nonpositive.aggregate(rows=nonpositive.count(), amount=exact_sum(nonpositive.amount))
        counts = pd.concat([counts, found.to_pandas().assign(rule="nonpositive_order", action="kept")])
    return kept, counts


def _before_window(orders: ir.Table, prep: dict[str, Any], period: Period) -> ir.BooleanValue | None:
    if not prep["drop_before_window"] or period.window_start is None:
        return None
    return orders.order_date < period.window_start


def flag_extreme_orders(orders: ir.Table, extreme: dict[str, Any]) -> ir.Table:
    """Add ``is_extreme``: a positive order whose log amount is far above the typical order.

    Robust z-score: ``z = (ln(amount) - median) / (1.4826 * MAD)`` with median and MAD of
    ``ln(amount)`` over the positive orders of the period; flagged when ``z >
    extreme.z_threshold`` (3.5 by default, Iglewicz and Hoaglin). Never flags when the MAD is
    zero or ``extreme.flag`` is false.
    """
    if not extreme["flag"]:
        return orders.mutate(is_extreme=ibis.literal(False))
    positive = orders.filter(orders.amount > 0)
    log_amount = positive.amount.ln()
    median = log_amount.median().to_pyarrow().as_py()  # computed once, then used as constants
    mad = None if median is None else (log_amount - median).abs().median().to_pyarrow().as_py()
    if not mad:  # no positive order, or half of them or more share one amount
        return orders.mutate(is_extreme=ibis.literal(False))
    z = (orders.amount.ln() - median) / (mad * MAD_TO_SIGMA)
    flagged = (orders.amount > 0) & (z > extreme["z_threshold"])
    return orders.mutate(is_extreme=flagged.fill_null(False))


def quality_table(
    line_counts: pd.DataFrame,
    return_counts: pd.DataFrame,
    order_counts: pd.DataFrame,
    orders: pa.Table,
    line_rules: dict[str, str] = LINE_RULES,
) -> pd.DataFrame:
    """The data-quality table: one row per rule with what it did, in lines or orders, and amount.

    Columns: ``rule`` (key), ``description``, ``action`` (dropped, netted, flagged, kept),
    ``unit`` (lines or orders), ``rows`` and ``amount`` (currency; sum of the affected amounts).
    ``line_rules`` gives the line rules' descriptions (default :data:`LINE_RULES`).
    """
    lines_in = int(line_counts["rows"].sum())
    amount_in = float(line_counts["amount"].sum())
    rows = [("input", "lines read from the input files", "read", "lines", lines_in, amount_in)]
    rows += _rule_rows(line_counts, line_rules, "lines")
    rows += _rule_rows(return_counts, RETURN_RULES, "lines")
    rows += _rule_rows(order_counts, ORDER_RULES, "orders")
    order_amounts = orders.column("amount").to_pandas()
    rows.append(
        (
            "orders",
            "orders kept for the period",
            "kept",
            "orders",
            orders.num_rows,
            float(order_amounts.sum()),
        )
    )
    customers = len(set(orders.column("customer_id").to_pylist()))
    rows.append(
        (
            "customers",
            "customers with a kept order",
            "kept",
            "customers",
            customers,
            float(order_amounts.sum()),
        )
    )
    table = pd.DataFrame(rows, columns=["rule", "description", "action", "unit", "rows", "amount"])
    return table.assign(rows=table["rows"].astype("int64"), amount=table["amount"].round(2))


def _rule_rows(counts: pd.DataFrame, rules: dict[str, str], unit: str) -> list[tuple]:
    """Rows of the quality table for the rules that touched something, in the rules' order."""
    found = counts.dropna(subset=["rule"]).set_index("rule")
    return [
        (
            rule,
            description,
            found.loc[rule, "action"],
            unit,
            int(found.loc[rule, "rows"]),
            float(found.loc[rule, "amount"]),
        )
        for rule, description in rules.items()
        if rule in found.index and int(found.loc[rule, "rows"]) > 0
    ]


def prepare(params: RunParams, period: Period) -> PrepResult:
    """Stage 01 end to end for one period: read the client's files (only the date partitions the
    period needs), apply every rule, build orders; the quality table says what was read."""
    inputs = period_inputs(params, period)
    lines = read_transactions(params, connect(params.get("engine"), keep_row_order=False), inputs)
    result = prepare_orders(lines, params.get("prep"), params.get("data"), period, str(params.data_path))
    return dataclasses.replace(result, quality=with_input_files(result.quality, inputs), inputs=inputs)


def with_input_files(quality: pd.DataFrame, inputs: InputFiles) -> pd.DataFrame:
    """The quality table with, after its ``input`` row, what was read: ``files`` (files read of
    those found) and, for date-partitioned input, ``partitions`` (partition folders read of those
    found; the others start on or after as_of). Their ``amount`` is empty (NaN)."""
    rows = [
        ("files", f"files read, of {inputs.found:,} found ({inputs.pruned:,} skipped)", len(inputs.files))
    ]
    if inputs.partitions_found:
        rows.append(
            (
                "partitions",
                f"date partitions read, of {inputs.partitions_found:,} (others start on or after as_of)",
                inputs.partitions_read,
            )
        )
    added = pd.DataFrame(
        [(rule, text, "read", rule, count, float("nan")) for rule, text, count in rows],
        columns=quality.columns,
    )
    position = int(quality.index[quality["rule"] == "input"][0]) + 1
    table = pd.concat([quality.iloc[:position], added, quality.iloc[position:]], ignore_index=True)
    return table.astype({"rows": "int64"})
