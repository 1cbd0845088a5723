"""A short glossary for the end of a client report: the terms the stage reports use, in plain words.

``glossary_html(terms)`` renders a definition list (styled by report.REPORT_CSS, class
``glossary``); ``TERMS`` holds the definitions of the terms of reports 01-04, to pick from or
extend: ``glossary_html({k: TERMS[k] for k in ("RFM", "Recency")} | {"Churn": "..."})``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

TERMS: dict[str, str] = {
    "RFM": "Recency, frequency and monetary value: how recently, how often and how much a customer bought"
    " in the period. Each is scored from 1 (worst) to 5 (best).",
    "Recency": "Days from a customer's last order to the end of the period; fewer days is better.",
    "Frequency": "The number of orders a customer placed in the period.",
    "Monetary value": "A customer's total net spend in the period (after returns).",
    "Average order value (AOV)": "A customer's spend divided by their number of orders.",
    "Segment": "A named group of RFM scores (for example Champions or At Risk), each with a recommended"
    " offer and campaign.",
    "Cluster": "A group of customers who behave alike, found from the data rather than set by rules.",
    "Value matrix": "Customers split into four quadrants by order value and number of orders.",
    "Typical": "The middle customer of a group (the median): half the customers are above, half below.",
    "Share of revenue": "The part of all customers' spend in the period that a group brings.",
    "Net amount": "Sales minus the returns and cancellations netted against them.",
    "Churn rate": "The share of the customers of the window before the period who did not buy in it.",
    "Churn risk": "How likely a customer is not to buy again, by the one rule stated in the churn-risk"
    " section; every number, list and file of the report uses that rule.",
    "Revenue at risk": "What the customers at high churn risk spent in the period.",
    "Chance still active": "The purchase model's probability that a customer has not left.",
    "Customer lifetime value (CLV)": "The value of the purchases a customer is expected to make over the"
    " coming months, discounted to today.",
    "Cohort": "The customers whose first order fell in the same month (or quarter).",
    "Lift": "How many times as often two categories are bought together as if they were unrelated (above 1:"
    " more often).",
}
CLIENT_REPORT_TERMS = (
    "RFM",
    "Segment",
    "Cluster",
    "Value matrix",
    "Average order value (AOV)",
    "Churn rate",
    "Churn risk",
    "Revenue at risk",
    "Chance still active",
    "Customer lifetime value (CLV)",
    "Cohort",
    "Lift",
    "Typical",
)
"""The terms the client report (notebook 09) explains at its end."""


def glossary_html(terms: Mapping[str, str]) -> str:
    """A definition list of ``terms`` (term -> meaning, plain text), in the order given."""
    items = "".join(
        f"<dt>{html.escape(term)}</dt><dd>{html.escape(meaning)}</dd>" for term, meaning in terms.items()
    )
    return f"<dl class='glossary'>{items}</dl>"
