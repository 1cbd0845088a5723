"""Stage 03: K-means customer clusters that a consultant can defend.

Features (log1p, then standardised) live in one scikit-learn Pipeline saved with the run, so
another period can be placed in the same clusters. k is chosen over a range by a documented
rule (the knee of the inertia curve) or fixed by a parameter; silhouette (on a seeded sample),
Calinski-Harabasz and Davies-Bouldin are reported beside it. Clusters are numbered by value
(0 = highest mean monetary) so labels do not depend on K-means' arbitrary order, and named
from their profile. Definitions: docs/methodology.md, section 5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted

from analysis_utils.errors import DataError

LEVEL_CUTOFF = 0.5  # standardised centroid above +0.5 is "high", below -0.5 "low"
TOP_CUTOFF = 1.5  # monetary centroid above +1.5 standard deviations is "top"
# Recency is judged against the other clusters: a cluster in the most recent third of the range
# the clusters' centres span is "recent", in the least recent third "lapsed", provided it is also
# at least RECENCY_MARGIN standard deviations to that side of the average customer.
RECENCY_MARGIN = 0.25
MOSTLY = 0.5  # the dominant segment holds at least this share of the cluster: "mostly", else "many"
ACTIVITY_NAMES = {
    ("recent", "frequent"): "loyal",
    ("recent", "mid"): "active",
    ("recent", "rare"): "newcomers",
    ("mid", "frequent"): "fading regulars",
    ("mid", "mid"): "occasional",
    ("mid", "rare"): "one-timers",
    ("lapsed", "frequent"): "lapsed regulars",
    ("lapsed", "mid"): "drifting",
    ("lapsed", "rare"): "lapsed one-timers",
}
# "rare" buyers whose typical customer ordered more than once are not one-timers
LIGHT_BUYER_NAMES = {"recent": "recent light buyers", "mid": "light buyers", "lapsed": "lapsed light buyers"}
VALUE_NAMES = {"top": "Top-value", "high": "High-value", "mid": "Mid-value", "low": "Low-value"}


def feature_pipeline(log_transform: bool = True) -> Pipeline:
    """log(1 + x) (optional) then standardisation to mean 0, standard deviation 1."""
    steps = (
        [("log1p", FunctionTransformer(np.log1p, feature_names_out="one-to-one"))] if log_transform else []
    )
    return Pipeline([*steps, ("scale", StandardScaler())])


def knee_point(ks: Sequence[int], inertia: Sequence[float]) -> int:
    """k at the knee of a decreasing inertia curve (Kneedle, Satopaa et al. 2011).

    Both axes are scaled to [0, 1]; the knee is the k whose point lies farthest below the
    straight line from the first point to the last, i.e. the largest
    ``(1 - inertia_scaled) - k_scaled``. Ties go to the smaller k.
    """
    k = np.asarray(ks, dtype=float)
    y = np.asarray(inertia, dtype=float)
    k_scaled = (k - k.min()) / (k.max() - k.min())
    spread = y.max() - y.min()
    y_scaled = (y - y.min()) / spread if spread > 0 else np.zeros_like(y)
    return int(ks[int(np.argmax((1 - y_scaled) - k_scaled))])


def fit_kmeans(features: np.ndarray, k: int, n_init: int, seed: int) -> KMeans:
    """Lloyd K-means with k-means++ seeding; the best of ``n_init`` restarts."""
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed, algorithm="lloyd").fit(features)


def k_selection(
    features: np.ndarray, k_range: Sequence[int], n_init: int, seed: int, silhouette_sample: int
) -> pd.DataFrame:
    """One row per k: inertia, silhouette (on a seeded sample), Calinski-Harabasz, Davies-Bouldin.

    The silhouette is quadratic in the number of customers, so it is computed on at most
    ``silhouette_sample`` customers drawn with ``seed`` (the same customers for every k).
    """
    rng = np.random.default_rng(seed)
    n = len(features)
    sample = rng.choice(n, size=min(silhouette_sample, n), replace=False) if n > silhouette_sample else None
    rows = []
    for k in range(k_range[0], min(k_range[1], n - 1) + 1):
        model = fit_kmeans(features, k, n_init, seed)
        rows.append(
            {
                "k": k,
                "inertia": float(model.inertia_),
                "silhouette": float(
                    silhouette_score(features, model.labels_, sample_size=None)
                    if sample is None
                    else silhouette_score(features[sample], model.labels_[sample])
                ),
                "calinski_harabasz": float(calinski_harabasz_score(features, model.labels_)),
                "davies_bouldin": float(davies_bouldin_score(features, model.labels_)),
            }
        )
    return pd.DataFrame(rows)


def choose_k(selection: pd.DataFrame, fixed_k: int = 0) -> tuple[int, str]:
    """The k to use and, in words, why: the fixed parameter, else the knee of the inertia curve."""
    if fixed_k:
        return fixed_k, f"k = {fixed_k} is fixed by the parameter clustering.k"
    knee = knee_point(selection["k"].tolist(), selection["inertia"].tolist())
    best_silhouette = int(selection.loc[selection["silhouette"].idxmax(), "k"])
    tried = f"{selection['k'].min()}..{selection['k'].max()}"
    return knee, (
        f"k = {knee} is the knee of the inertia curve over k = {tried} (the point farthest below the "
        f"chord of the scaled curve); the silhouette peaks at k = {best_silhouette}"
    )


class CustomerClusters(BaseEstimator):
    """K-means on customer features, with the feature pipeline and the choice of k inside.

    Parameters
    ----------
    features
        Customer columns to cluster (``clustering.features``).
    log_transform
        log(1 + x) each feature before standardising (``clustering.log_transform``).
    k
        Fixed number of clusters; 0 = choose by :func:`choose_k` over ``k_range``.
    k_range
        (smallest, largest) k tried.
    n_init, random_state, silhouette_sample
        K-means restarts, seed, silhouette sample size.

    Attributes
    ----------
    pipeline_ : Pipeline
        The fitted feature transform (apply it to another period with :meth:`predict`).
    selection_ : DataFrame
        The k-selection table of :func:`k_selection`.
    k_, k_reason_ : int, str
        The k used and why.
    kmeans_ : KMeans
        The final model.
    order_ : ndarray
        K-means label -> published cluster number (0 = highest mean monetary).
    """

    def __init__(
        self,
        features: Sequence[str] = ("recency_days", "frequency", "monetary"),
        log_transform: bool = True,
        k: int = 0,
        k_range: Sequence[int] = (2, 10),
        n_init: int = 3,
        random_state: int = 42,
        silhouette_sample: int = 5000,
    ) -> None:
        self.features = features
        self.log_transform = log_transform
        self.k = k
        self.k_range = k_range
        self.n_init = n_init
        self.random_state = random_state
        self.silhouette_sample = silhouette_sample

    def fit(self, customers: pd.DataFrame, y: None = None) -> CustomerClusters:
        """Transform features, build the k-selection table, choose k, fit the final model."""
        values = _feature_values(customers, self.features)
        if len(values) < 3:
            raise DataError(f"clustering needs at least 3 customers, got {len(values)}")
        self.pipeline_ = feature_pipeline(self.log_transform).fit(values)
        features = self.pipeline_.transform(values)
        self.selection_ = k_selection(
            features, self.k_range, self.n_init, self.random_state, self.silhouette_sample
        )
        self.k_, self.k_reason_ = choose_k(self.selection_, self.k)
        self.kmeans_ = fit_kmeans(features, self.k_, self.n_init, self.random_state)
        monetary = customers["monetary"].to_numpy()
        mean_value = pd.Series(monetary).groupby(self.kmeans_.labels_).mean()
        ranking = mean_value.sort_values(ascending=False, kind="stable").index.to_numpy()
        self.order_ = np.empty(self.k_, dtype=int)
        self.order_[ranking] = np.arange(self.k_)
        return self

    def transform_features(self, customers: pd.DataFrame) -> np.ndarray:
        """The standardised features of ``customers`` (the space K-means works in)."""
        check_is_fitted(self, "kmeans_")
        return self.pipeline_.transform(_feature_values(customers, self.features))

    def predict(self, customers: pd.DataFrame) -> np.ndarray:
        """Cluster number (0 = highest mean monetary in the fitted period) of each customer."""
        return self.order_[self.kmeans_.predict(self.transform_features(customers))]

    def centroids(self) -> pd.DataFrame:
        """Standardised centroids, one row per cluster number, one column per feature."""
        check_is_fitted(self, "kmeans_")
        centres = np.empty_like(self.kmeans_.cluster_centers_)
        centres[self.order_] = self.kmeans_.cluster_centers_
        return pd.DataFrame(centres, columns=list(self.features)).rename_axis("cluster")


def _feature_values(customers: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    missing = [f for f in features if f not in customers.columns]
    if missing:
        raise DataError(f"customer table has no column {', '.join(missing)} (clustering.features)")
    values = customers[list(features)].astype("float64")
    if values.isna().any().any():
        raise DataError("clustering features have missing values; cluster the scored customers only")
    return values


def stability(customers: pd.DataFrame, model: CustomerClusters, runs: int, seed: int) -> pd.DataFrame:
    """Adjusted Rand index between the model's labels and refits with other seeds or on bootstrap samples.

    ``seed`` runs refit on all customers with seeds ``seed + 1 .. seed + runs``; ``bootstrap`` runs
    fit on a resample (with replacement, seeded) and label every customer. k stays the model's.
    """
    reference = model.predict(customers)
    features = model.transform_features(customers)
    rng = np.random.default_rng(seed)
    rows = []
    for run in range(1, runs + 1):
        refit = fit_kmeans(features, model.k_, model.n_init, seed + run)
        rows.append({"kind": "seed", "run": run, "ari": adjusted_rand_score(reference, refit.labels_)})
        resample = rng.integers(0, len(features), len(features))
        boot = fit_kmeans(features[resample], model.k_, model.n_init, seed + run)
        rows.append(
            {"kind": "bootstrap", "run": run, "ari": adjusted_rand_score(reference, boot.predict(features))}
        )
    return pd.DataFrame(rows)


def profile(customers: pd.DataFrame, labels: Sequence[Any], column: str = "cluster") -> pd.DataFrame:
    """Clusters in money, not z-scores: size, shares, median and mean R, F, M and AOV (original units)."""
    frame = customers.assign(**{column: np.asarray(labels)})
    grouped = frame.groupby(column, sort=True)
    table = grouped.agg(
        customers=("customer_id", "size"),
        revenue=("monetary", "sum"),
        median_recency_days=("recency_days", "median"),
        mean_recency_days=("recency_days", "mean"),
        median_frequency=("frequency", "median"),
        mean_frequency=("frequency", "mean"),
        median_monetary=("monetary", "median"),
        mean_monetary=("monetary", "mean"),
        median_aov=("aov", "median"),
        mean_aov=("aov", "mean"),
    )
    table.insert(1, "share_customers", table["customers"] / table["customers"].sum())
    table.insert(3, "share_revenue", table["revenue"] / table["revenue"].sum())
    return table.reset_index()


def _level(z: float, high: str, mid: str, low: str) -> str:
    return high if z > LEVEL_CUTOFF else low if z < -LEVEL_CUTOFF else mid


def recency_levels(recency: pd.Series) -> pd.Series:
    """Per cluster "recent", "mid" or "lapsed", from the standardised recency (days) of the centres.

    Judged against the other clusters: a centre in the lowest third of the range the centres span
    (fewest days) is "recent", in the highest third "lapsed", and in either case only when it is
    also more than :data:`RECENCY_MARGIN` standard deviations from the average customer on that
    side; anything else is "mid". So a cluster much less recent than the others is never called
    active only because it stays within half a standard deviation of the average.
    """
    z = recency.astype("float64")
    spread = z.max() - z.min()
    position = (z - z.min()) / spread if spread > 0 else pd.Series(0.5, index=z.index)
    recent = (position < 1 / 3) & (z < -RECENCY_MARGIN)
    lapsed = (position > 2 / 3) & (z > RECENCY_MARGIN)
    return pd.Series(np.select([recent, lapsed], ["recent", "lapsed"], "mid"), index=z.index)


def name_clusters(
    centroids: pd.DataFrame, overlap: pd.DataFrame, typical_orders: Mapping[int, float] | None = None
) -> dict[int, str]:
    """A readable, unique name per cluster from its standardised centroid and its RFM segments.

    Value from monetary (Top-/High-/Mid-/Low-value); activity from recency (judged against the
    other clusters: :func:`recency_levels`) and frequency, for example recent + frequent =
    "loyal", mid + frequent = "fading regulars", lapsed + rare = "lapsed one-timers"; then the
    RFM segment most of its customers belong to: "(mostly Champions)" when it holds at least half
    of them, else "(many At Risk)". ``overlap``: cluster (rows) x segment (columns) customers.
    ``typical_orders``: the median orders per cluster; a rare-buying cluster whose median customer
    ordered more than once is called "light buyers" rather than "one-timers" or "newcomers".
    """
    names: dict[int, str] = {}
    if "recency_days" in centroids.columns:
        recency = recency_levels(centroids["recency_days"])
    else:
        recency = pd.Series("mid", index=centroids.index)
    for cluster, centre in centroids.iterrows():
        frequency = _level(centre.get("frequency", 0.0), "frequent", "mid", "rare")
        monetary = centre.get("monetary", 0.0)
        value = VALUE_NAMES["top" if monetary > TOP_CUTOFF else _level(monetary, "high", "mid", "low")]
        activity = ACTIVITY_NAMES[(recency[cluster], frequency)]
        if frequency == "rare" and typical_orders is not None and typical_orders.get(cluster, 1) > 1:
            activity = LIGHT_BUYER_NAMES[recency[cluster]]
        name = f"{value} {activity}"
        if cluster in overlap.index and overlap.loc[cluster].sum() > 0:
            counts = overlap.loc[cluster]
            share = counts.max() / counts.sum()
            name += f" ({'mostly' if share >= MOSTLY else 'many'} {counts.idxmax()})"
        names[int(cluster)] = _unique(name, names.values())
    return names


FEATURE_WORDS = {
    "recency_days": "days since last order",
    "frequency": "orders",
    "monetary": "spend",
    "aov": "order value",
    "tenure_days": "days since first order",
}


def describe_features(features: Sequence[str], customers: int) -> str:
    """Markdown for the client: what the customers are compared on, in words."""
    words = [FEATURE_WORDS.get(f, f.replace("_", " ")) for f in features]
    listed = ", ".join(words[:-1]) + f" and {words[-1]}" if len(words) > 1 else words[0]
    return (
        f"The **{customers:,} customers** with a positive net spend are grouped by {listed} in the period"
        " (customers with no net spend are left out)."
    )


def describe_choice(model: CustomerClusters) -> str:
    """Markdown for the client: how many groups there are and why that many, without statistics."""
    check_is_fitted(model, "kmeans_")
    k = model.k_
    if model.k:
        return f"Customers are split into **{k} groups**, a number set for this analysis."
    low, high = int(model.selection_["k"].min()), int(model.selection_["k"].max())
    return (
        f"Customers fall into **{k} groups**. Every number of groups from {low} to {high} was tried: "
        f"up to {k}, each further group makes the groups clearly more alike inside; beyond {k}, a further"
        " group adds little, so more groups would split customers who behave much the same."
    )


def describe_stability(checks: pd.DataFrame, stable: bool) -> str:
    """Markdown for the client: how stable the groups are (``checks``: :func:`stability`)."""
    if checks.empty:
        return "The stability of the groups was not checked."
    mean, low = float(checks["ari"].mean()), float(checks["ari"].min())
    refits = (
        f"fitting them again {len(checks):,} times, from other random starting points and on resampled"
        f" customers, gives groupings that agree with this one by {mean:.0%} on average ({low:.0%} at"
        " worst; 100% = identical, 0% = no better than chance)"
    )
    if stable:
        return f"The groups are stable: {refits}."
    return f"**The groups are not stable**: {refits}. Treat them as indicative only."


def _unique(name: str, taken: Any) -> str:
    taken = set(taken)
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name} #{number}", number + 1
    return candidate


def pca_view(features: np.ndarray, labels: np.ndarray, max_points: int, seed: int) -> pd.DataFrame:
    """Customers on the first two principal components of the standardised features (seeded sample)."""
    components = PCA(n_components=2, random_state=seed).fit(features)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(features), size=min(max_points, len(features)), replace=False)
    points = components.transform(features[chosen])
    return pd.DataFrame({"pc1": points[:, 0], "pc2": points[:, 1], "cluster": labels[chosen]})


@dataclass(frozen=True)
class ClusterResult:
    """Stage 03's outcome: the fitted model, each customer's cluster and name, and the evidence."""

    model: CustomerClusters
    clusters: pd.DataFrame
    names: dict[int, str]
    stability: pd.DataFrame
    stable: bool


def run_clustering(scored: pd.DataFrame, settings: Mapping[str, Any]) -> ClusterResult:
    """Fit, check stability and name the clusters of the scored customers (``clustering`` parameters).

    ``clusters`` has customer_id, cluster (0 = highest mean monetary) and cluster_name, sorted
    by customer_id; ``stable`` is False when the mean adjusted Rand index of the refits is
    below ``clustering.min_stability``.
    """
    model = CustomerClusters(
        features=tuple(settings["features"]),
        log_transform=settings["log_transform"],
        k=settings["k"],
        k_range=tuple(settings["k_range"]),
        n_init=settings["n_init"],
        random_state=settings["seed"],
        silhouette_sample=settings["silhouette_sample"],
    ).fit(scored)
    labels = model.predict(scored)
    typical_orders = scored["frequency"].groupby(labels).median().to_dict()
    names = name_clusters(model.centroids(), pd.crosstab(labels, scored["segment"]), typical_orders)
    checks = stability(scored, model, settings["stability_runs"], settings["seed"])
    clusters = pd.DataFrame(
        {
            "customer_id": scored["customer_id"].to_numpy(),
            "cluster": labels,
            "cluster_name": [names[c] for c in labels],
        }
    ).sort_values("customer_id", ignore_index=True)
    return ClusterResult(
        model, clusters, names, checks, bool(checks["ari"].mean() >= settings["min_stability"])
    )
