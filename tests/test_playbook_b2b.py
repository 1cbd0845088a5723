"""The business-account playbook loads like the consumer one and covers every segment and quadrant."""

from __future__ import annotations

import pytest

from analysis_utils import paths
from analysis_utils.loader import load_params
from analysis_utils.segments import PLAYBOOK_FIELDS, check_playbook, load_playbook, load_segment_map
from analysis_utils.value_matrix import QUADRANT_ORDER

B2B_PLAYBOOK = "params/playbook_b2b.yaml"


def test_b2b_playbook_covers_every_segment_and_quadrant():
    playbook = load_playbook(B2B_PLAYBOOK)
    segment_map = load_segment_map()
    check_playbook(playbook, segment_map)  # raises naming any segment without an entry
    assert set(playbook.segments) == set(segment_map.segments)
    assert set(playbook.quadrants) == set(QUADRANT_ORDER)
    for section in ("segments", "quadrants"):
        table = playbook.table(section)
        assert table.columns.tolist() == list(PLAYBOOK_FIELDS) and (table != "").all().all()


def test_b2b_playbook_has_the_consumer_playbooks_shape():
    consumer, b2b = load_playbook(), load_playbook(B2B_PLAYBOOK)
    assert set(b2b.segments) == set(consumer.segments) and set(b2b.quadrants) == set(consumer.quadrants)


@pytest.mark.parametrize("consumer_term", ["loyalty points", "free shipping", "points multiplier"])
def test_b2b_playbook_speaks_to_accounts_not_consumers(consumer_term):
    text = (paths.PROJECT_ROOT / B2B_PLAYBOOK).read_text(encoding="utf-8").lower()
    assert consumer_term not in text


def test_the_rfm_playbook_parameter_can_choose_the_b2b_playbook():
    params = load_params("params/clients/sample.yaml", [f"rfm.playbook_file={B2B_PLAYBOOK}"])
    playbook = load_playbook(params.get("rfm.playbook_file"))
    assert "account manager" in playbook.segments["Can't Lose Them"].campaign.lower()
