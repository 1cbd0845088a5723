"""The sample client's optional sources: customer table, engagement events and campaign results.

Drawn after the transactions from a random generator of their own
(``numpy.random.default_rng([seed, SOURCES_STREAM])``), so ``transactions.csv`` stays byte-identical
whatever is drawn here. Every real customer's values follow :data:`TYPE_ENGAGEMENT` for their planted
type: champions and loyal customers log in, refer and respond more, and are older and richer;
``region`` and ``signup_channel`` do not depend on the type (a planted null result).

Files (semicolon separated, like ``transactions.csv``)
-----------------------------------------------------
``customers.csv``  ``CustomerNo;Gender;BirthDate;IncomeBand;Region;SignupChannel;Email``: a row for
    95 % of the real customers (the others are "transactions with no customer row"). ``Email`` is a
    made-up address the sample client does not map: the workbook never reads it.
``events.csv``     ``Customer;Event;When``: loyalty-club logins, referrals, reviews, newsletter reads,
    online purchases over the whole span (``When`` is ``%Y-%m-%d %H:%M:%S``).
``campaigns.csv``  ``Campaign;Customer;Responded;Sent``: each campaign targets a random 35 % of the real
    customers; ``Responded`` is ``Y``/``N``; ``Sent`` is ``%Y-%m-%d``.

Dirty rows (:data:`DIRTY_ROWS`): duplicate customer rows (a copy with the region blanked), impossible
birth dates (1890 and 2031), unknown genders (``?``), a rare region, ids without transactions,
rows without a customer id, unknown event types, event dates that do not parse or fall after the
end, unreadable responses and repeated contacts.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

SOURCES_STREAM = 1  # second seed word: the sources' generator is independent of the transactions'
CUSTOMER_ROW_SHARE = 0.95
CAMPAIGN_REACH = 0.35
CAMPAIGNS = {  # campaign id -> sent date
    "SPRING23": "2023-03-16",
    "XMAS23": "2023-11-23",
    "SPRING24": "2024-03-14",
    "SUMMER24": "2024-06-20",
    "XMAS24": "2024-11-21",
}
EVENT_LABELS = {  # event type of ranking.events -> the sample client's label
    "club_login": "Club login",
    "referral": "Referral",
    "review": "Review",
    "newsletter_read": "Newsletter read",
    "online_purchase": "Online purchase",
}
GENDERS = (("F", 0.52), ("M", 0.45), ("X", 0.03))
REGIONS = ("North", "South", "East", "West", "London")
SIGNUP_CHANNELS = ("store", "web", "app")
DIRTY_ROWS = {
    "duplicate_customer": 30,
    "impossible_birth_date": 10,
    "unknown_gender": 12,
    "rare_region": 3,
    "ids_without_transactions": 40,
    "missing_customer": 5,
    "unknown_event_type": 20,
    "bad_event_date": 10,
    "event_after_end": 15,
    "unreadable_response": 8,
    "repeated_contact": 15,
}


class Engagement(NamedTuple):
    """What a planted type looks like beyond its purchases.

    ``mean_age`` in years; ``rich_share`` the share in income band ``high`` (a tenth of it ``top``);
    ``*_per_year`` mean events per year; ``response`` the probability of responding to a campaign.
    """

    mean_age: float
    rich_share: float
    club_login_per_year: float
    referral_per_year: float
    review_per_year: float
    newsletter_read_per_year: float
    online_purchase_per_year: float
    response: float


TYPE_ENGAGEMENT = {
    "champions": Engagement(48, 0.45, 24, 1.5, 3.0, 20, 10, 0.30),
    "loyal": Engagement(45, 0.35, 14, 0.8, 2.0, 15, 6, 0.22),
    "potential_loyalist": Engagement(36, 0.20, 6, 0.3, 1.0, 8, 2, 0.12),
    "new": Engagement(30, 0.15, 3, 0.1, 0.3, 4, 1, 0.10),
    "promising": Engagement(31, 0.15, 3, 0.1, 0.3, 4, 1, 0.09),
    "need_attention": Engagement(42, 0.20, 4, 0.2, 0.5, 6, 1, 0.08),
    "about_to_sleep": Engagement(40, 0.15, 2, 0.1, 0.3, 4, 0.5, 0.06),
    "at_risk": Engagement(47, 0.30, 3, 0.2, 0.5, 6, 1, 0.07),
    "cant_lose": Engagement(52, 0.40, 2, 0.3, 0.5, 5, 1, 0.08),
    "hibernating": Engagement(40, 0.15, 1, 0.05, 0.1, 2, 0.3, 0.04),
    "lost": Engagement(38, 0.15, 0.5, 0.02, 0.1, 1, 0.2, 0.02),
    "one_time_big_spender": Engagement(50, 0.50, 1, 0.1, 0.3, 2, 0.5, 0.05),
    "churned": Engagement(41, 0.20, 0.5, 0.05, 0.1, 2, 0.2, 0.03),
}


def generate_sources(truth: pd.DataFrame, seed: int, start: str, end: str) -> dict[str, pd.DataFrame]:
    """The three source frames for the real customers of ``truth`` (customer_id, planted_type).

    Pure: the same inputs give identical frames. Keys: ``customers``, ``events``, ``campaigns``;
    columns as written to the files (text, empty = missing).
    """
    rng = np.random.default_rng([seed, SOURCES_STREAM])
    start_day, end_day = pd.Timestamp(start), pd.Timestamp(end)
    profile = pd.DataFrame([TYPE_ENGAGEMENT[t] for t in truth["planted_type"]], index=truth.index)
    strangers = np.char.add(
        "9", np.char.zfill(np.arange(DIRTY_ROWS["ids_without_transactions"]).astype(str), 5)
    )
    return {
        "customers": _customer_rows(truth, profile, strangers, end_day, rng),
        "events": _event_rows(truth, profile, strangers, start_day, end_day, rng),
        "campaigns": _campaign_rows(truth, profile, strangers, rng),
    }


def _customer_rows(
    truth: pd.DataFrame,
    profile: pd.DataFrame,
    strangers: np.ndarray,
    end: pd.Timestamp,
    rng: np.random.Generator,
) -> pd.DataFrame:
    n = len(truth)
    age = np.clip(rng.normal(profile["mean_age"], 12.0), 18, 90)
    born = end - pd.to_timedelta(np.round(age * 365.25).astype(int), unit="D")
    rich = rng.uniform(size=n) < profile["rich_share"].to_numpy()
    top = rich & (rng.uniform(size=n) < 0.1)
    middle = ~rich & (rng.uniform(size=n) < 0.5)
    income = np.select([top, rich, middle], ["top", "high", "middle"], "low")
    gender_names, gender_shares = zip(*GENDERS, strict=True)
    rows = pd.DataFrame(
        {
            "CustomerNo": truth["customer_id"].to_numpy(),
            "Gender": rng.choice(gender_names, n, p=gender_shares),
            "BirthDate": born.strftime("%Y-%m-%d"),
            "IncomeBand": income,
            "Region": rng.choice(REGIONS, n),
            "SignupChannel": rng.choice(SIGNUP_CHANNELS, n),
        }
    )
    rows = rows[rng.uniform(size=n) < CUSTOMER_ROW_SHARE].reset_index(drop=True)
    strangers_rows = _some(rows, len(strangers), rng)
    strangers_rows = strangers_rows.assign(CustomerNo=strangers[: len(strangers_rows)])
    duplicates = _some(rows, DIRTY_ROWS["duplicate_customer"], rng).assign(Region="")
    rows = _spoil(rows, "BirthDate", ["1890-05-01", "2031-01-01"], DIRTY_ROWS["impossible_birth_date"], rng)
    rows = _spoil(rows, "Gender", ["?"], DIRTY_ROWS["unknown_gender"], rng)
    rows = _spoil(rows, "Region", ["Atlantis"], DIRTY_ROWS["rare_region"], rng)
    missing = _some(rows, DIRTY_ROWS["missing_customer"], rng).assign(CustomerNo="")
    rows = pd.concat([rows, strangers_rows, duplicates, missing], ignore_index=True)
    rows = rows.iloc[rng.permutation(len(rows))].reset_index(drop=True)
    return rows.assign(
        Email=np.where(rows["CustomerNo"] == "", "", "c" + rows["CustomerNo"] + "@example.com")
    )


def _some(rows: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """A copy of ``n`` random rows (all of them when there are fewer)."""
    return rows.sample(min(n, len(rows)), random_state=rng)


def _spoil(
    rows: pd.DataFrame, column: str, values: list[str], n: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Replace ``column`` in ``n`` random rows (at most all of them) by one of ``values``."""
    n = min(n, len(rows))
    chosen = rng.choice(len(rows), n, replace=False)
    spoiled = rows.copy()
    spoiled.loc[chosen, column] = rng.choice(values, n)
    return spoiled


def _event_rows(
    truth: pd.DataFrame,
    profile: pd.DataFrame,
    strangers: np.ndarray,
    start: pd.Timestamp,
    end: pd.Timestamp,
    rng: np.random.Generator,
) -> pd.DataFrame:
    years = (end - start).days / 365.25
    parts = []
    for event_type, label in EVENT_LABELS.items():
        counts = rng.poisson(profile[f"{event_type}_per_year"].to_numpy() * years)
        parts.append(
            pd.DataFrame({"Customer": np.repeat(truth["customer_id"].to_numpy(), counts), "Event": label})
        )
    stranger_events = pd.DataFrame(
        {"Customer": rng.choice(strangers, 25), "Event": EVENT_LABELS["club_login"]}
    )
    events = pd.concat([*parts, stranger_events], ignore_index=True)
    seconds = rng.integers(0, (end - start).days * 86_400, len(events))
    when = start + pd.to_timedelta(seconds, unit="s")
    events = events.assign(When=when.strftime("%Y-%m-%d %H:%M:%S"))
    events = _spoil(events, "Event", ["App open"], DIRTY_ROWS["unknown_event_type"], rng)
    events = _spoil(events, "When", ["not a date"], DIRTY_ROWS["bad_event_date"], rng)
    late = end + pd.to_timedelta(rng.integers(0, 40 * 86_400, DIRTY_ROWS["event_after_end"]), unit="s")
    events = _spoil(
        events, "When", list(late.strftime("%Y-%m-%d %H:%M:%S")), DIRTY_ROWS["event_after_end"], rng
    )
    events = _spoil(events, "Customer", [""], DIRTY_ROWS["missing_customer"], rng)
    return events.sort_values(["When", "Customer", "Event"], kind="stable", ignore_index=True)


def _campaign_rows(
    truth: pd.DataFrame, profile: pd.DataFrame, strangers: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    parts = []
    for campaign, sent in CAMPAIGNS.items():
        targeted = rng.uniform(size=len(truth)) < CAMPAIGN_REACH
        responded = rng.uniform(size=int(targeted.sum())) < profile["response"].to_numpy()[targeted]
        parts.append(
            pd.DataFrame(
                {
                    "Campaign": campaign,
                    "Customer": truth["customer_id"].to_numpy()[targeted],
                    "Responded": np.where(responded, "Y", "N"),
                    "Sent": sent,
                }
            )
        )
    contacts = pd.concat(parts, ignore_index=True)
    outsiders = _some(contacts, 20, rng)
    outsiders = outsiders.assign(Customer=rng.choice(strangers, len(outsiders)))
    repeated = _some(contacts, DIRTY_ROWS["repeated_contact"], rng)
    contacts = _spoil(contacts, "Responded", ["maybe"], DIRTY_ROWS["unreadable_response"], rng)
    contacts = _spoil(contacts, "Customer", [""], DIRTY_ROWS["missing_customer"], rng)
    contacts = pd.concat([contacts, outsiders, repeated], ignore_index=True)
    return contacts.sort_values(["Sent", "Campaign", "Customer"], kind="stable", ignore_index=True)
