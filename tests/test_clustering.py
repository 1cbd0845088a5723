"""Stage 03: k chosen on data whose answer is known, stability, profiles in money, names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from analysis_utils import clustering
from analysis_utils.errors import DataError

SETTINGS = {
    "features": ["recency_days", "frequency", "monetary"],
    "log_transform": True,
    "k": 0,
    "k_range": [2, 8],
    "n_init": 3,
    "seed": 7,
    "silhouette_sample": 500,
    "stability_runs": 2,
    "min_stability": 0.8,
}


def blobs(n_per_group: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Four well-separated customer groups (in log space) and their true group."""
    rng = np.random.default_rng(seed)
    centres = [(5, 20, 3000), (300, 1, 20), (10, 2, 60), (200, 10, 800)]  # days, orders, currency
    frames, truth = [], []
    for group, (recency, frequency, monetary) in enumerate(centres):
        jitter = rng.lognormal(0, 0.08, size=(n_per_group, 3))
        frames.append(
            pd.DataFrame(
                {
                    "recency_days": np.round(recency * jitter[:, 0]),
                    "frequency": np.maximum(1, np.round(frequency * jitter[:, 1])),
                    "monetary": monetary * jitter[:, 2],
                }
            )
        )
        truth += [group] * n_per_group
    customers = pd.concat(frames, ignore_index=True)
    customers.insert(0, "customer_id", [f"{i:05d}" for i in range(len(customers))])
    customers["aov"] = customers["monetary"] / customers["frequency"]
    return customers, np.asarray(truth)


def test_knee_of_a_sharp_elbow_is_found():
    assert clustering.knee_point([1, 2, 3, 4, 5, 6], [100, 30, 10, 8, 7, 6]) == 3
    assert clustering.knee_point([2, 3, 4], [5, 5, 5]) == 2  # flat curve: smallest k


def test_well_separated_blobs_give_the_true_k_and_groups():
    customers, truth = blobs()
    model = clustering.CustomerClusters(k_range=(2, 8), random_state=7, silhouette_sample=500).fit(customers)
    assert model.k_ == 4
    assert "knee of the inertia curve" in model.k_reason_
    assert adjusted_rand_score(truth, model.predict(customers)) == pytest.approx(1.0)
    assert set(model.selection_.columns) == {
        "k",
        "inertia",
        "silhouette",
        "calinski_harabasz",
        "davies_bouldin",
    }
    assert model.selection_["k"].tolist() == list(range(2, 9))
    best = model.selection_.set_index("k")
    assert best["silhouette"].idxmax() == 4 and best["davies_bouldin"].idxmin() == 4


def test_fixed_k_overrides_the_rule():
    customers, _ = blobs()
    model = clustering.CustomerClusters(k=3, k_range=(2, 5)).fit(customers)
    assert model.k_ == 3 and "fixed by the parameter clustering.k" in model.k_reason_


def test_clusters_are_numbered_by_mean_monetary_and_same_seed_gives_same_labels():
    customers, _ = blobs()
    first = clustering.CustomerClusters(k=4, random_state=1).fit(customers)
    again = clustering.CustomerClusters(k=4, random_state=1).fit(customers.sample(frac=1, random_state=3))
    labels = first.predict(customers)
    means = customers.groupby(labels)["monetary"].mean()
    assert means.is_monotonic_decreasing
    np.testing.assert_array_equal(labels, again.predict(customers))


def test_model_applies_the_same_transform_to_another_period():
    customers, _ = blobs()
    model = clustering.CustomerClusters(k=4).fit(customers)
    later = customers.assign(recency_days=customers["recency_days"] + 1)
    assert adjusted_rand_score(model.predict(customers), model.predict(later)) > 0.95


def test_stability_of_separated_blobs_is_perfect():
    customers, _ = blobs()
    result = clustering.run_clustering(customers.assign(segment="x"), SETTINGS)
    assert result.stable
    assert result.stability["kind"].value_counts().to_dict() == {"seed": 2, "bootstrap": 2}
    assert result.stability["ari"].min() == pytest.approx(1.0)


def test_profile_reports_money_in_original_units():
    customers = pd.DataFrame(
        {
            "customer_id": list("abcd"),
            "recency_days": [1, 3, 100, 200],
            "frequency": [4, 6, 1, 1],
            "monetary": [40.0, 60.0, 5.0, 15.0],
            "aov": [10.0, 10.0, 5.0, 15.0],
        }
    )
    table = clustering.profile(customers, [0, 0, 1, 1]).set_index("cluster")
    assert table.loc[0, ["customers", "revenue", "median_recency_days", "mean_frequency"]].tolist() == [
        2,
        100.0,
        2.0,
        5.0,
    ]
    assert table.loc[1, "share_revenue"] == pytest.approx(20 / 120)
    assert table["share_customers"].tolist() == [0.5, 0.5]


def test_names_come_from_the_centre_and_the_dominant_segment():
    centres = pd.DataFrame(
        {
            "recency_days": [-1.0, 1.2, 0.0, -1.0],
            "frequency": [1.1, -0.9, 0.0, 1.6],
            "monetary": [0.9, -1.0, 0.0, 1.8],
        }
    ).rename_axis("cluster")
    overlap = pd.DataFrame(
        {"Champions": [50, 0, 3, 20], "Lost": [0, 40, 3, 0], "Need Attention": [1, 2, 10, 0]}
    )
    names = clustering.name_clusters(centres, overlap)
    assert names == {
        0: "High-value loyal (mostly Champions)",
        1: "Low-value lapsed one-timers (mostly Lost)",
        2: "Mid-value occasional (mostly Need Attention)",
        3: "Top-value loyal (mostly Champions)",
    }


def test_duplicate_names_get_a_number():
    centres = pd.DataFrame({"recency_days": [0.0, 0.1], "frequency": [0.0, 0.1], "monetary": [0.0, 0.1]})
    overlap = pd.DataFrame({"Loyal": [5, 5]})
    assert clustering.name_clusters(centres, overlap)[1] == "Mid-value occasional (mostly Loyal) #2"


def test_recency_is_judged_against_the_other_clusters():
    """The sample's 2024 centres: the cluster at +0.47 stays within half a standard deviation of the
    average customer, but sits near the least recent end of the clusters (mostly At Risk): not
    "regulars" but "lapsed regulars"."""
    centres = pd.DataFrame(
        {
            "recency_days": [-1.42, 0.47, 0.90, -0.96],
            "frequency": [1.84, 0.66, -0.75, -0.64],
            "monetary": [1.46, 0.91, -0.59, -0.96],
        }
    ).rename_axis("cluster")
    overlap = pd.DataFrame(
        {
            "Champions": [277, 0, 0, 0],
            "At Risk": [0, 328, 94, 0],
            "Loyal": [0, 318, 0, 97],
            "Need Attention": [0, 107, 0, 0],
            "Lost": [0, 0, 382, 0],
        }
    )
    levels = clustering.recency_levels(centres["recency_days"])
    assert levels.tolist() == ["recent", "lapsed", "lapsed", "recent"]
    names = clustering.name_clusters(centres, overlap, typical_orders={0: 17, 1: 7, 2: 1, 3: 1})
    assert names == {
        0: "High-value loyal (mostly Champions)",
        1: "High-value lapsed regulars (many At Risk)",
        2: "Low-value lapsed one-timers (mostly Lost)",
        3: "Low-value newcomers (mostly Loyal)",
    }


def test_small_differences_in_recency_stay_mid_and_rare_repeat_buyers_are_light_buyers():
    centres = pd.DataFrame({"recency_days": [0.1, 0.2], "frequency": [-1.0, 1.0], "monetary": [0.0, 0.0]})
    overlap = pd.DataFrame({"Lost": [5, 0], "Loyal": [0, 5]})
    assert clustering.name_clusters(centres, overlap, typical_orders={0: 4, 1: 9}) == {
        0: "Mid-value light buyers (mostly Lost)",
        1: "Mid-value fading regulars (mostly Loyal)",
    }


def test_missing_feature_is_named():
    customers, _ = blobs(20)
    with pytest.raises(DataError, match="no column tenure_days"):
        clustering.CustomerClusters(features=("tenure_days",)).fit(customers)


def test_pca_view_is_a_seeded_sample():
    customers, truth = blobs(50)
    features = clustering.feature_pipeline().fit_transform(
        customers[["recency_days", "frequency", "monetary"]]
    )
    view = clustering.pca_view(features, truth, max_points=60, seed=3)
    assert len(view) == 60 and list(view.columns) == ["pc1", "pc2", "cluster"]
    pd.testing.assert_frame_equal(view, clustering.pca_view(features, truth, max_points=60, seed=3))
