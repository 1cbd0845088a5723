"""Where a run may write: one rule for client and period folder names, targets inside --out, and
what killed runs left behind (staging folders with raw ids) tidied by the next run."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from analysis_utils import paths, runner
from analysis_utils.errors import ConfigError


@pytest.mark.parametrize(
    "name", ["", ".", "..", ".failed", ".2024", "a/b", "a\\b", "comparison", "Comparison", "a b"]
)
def test_unsafe_or_reserved_folder_names_are_refused(name):
    assert paths.folder_name_problem(name) is not None


@pytest.mark.parametrize("name", ["2024", "q1-2024", "acme_retail", "v1.2"])
def test_ordinary_folder_names_are_accepted(name):
    assert paths.folder_name_problem(name) is None


def test_target_reached_through_a_link_outside_out_is_refused(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    (out / "acme").mkdir(parents=True)
    elsewhere.mkdir()
    (out / "acme" / "2024").symlink_to(elsewhere)  # publishing would replace the linked folder
    with pytest.raises(ConfigError, match="not inside --out"):
        runner.check_target(out, "acme", "2024")
    assert runner.check_target(out, "acme", "2025") == out / "acme" / "2025"
    with pytest.raises(ConfigError, match="client folder name '..'"):
        runner.check_target(out, "..", "2024")


def dead_pid() -> int:
    """The id of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_next_run_moves_what_a_killed_run_left_and_keeps_a_live_run(tmp_path):
    client_dir = tmp_path / "acme"
    live = runner.start_staging(client_dir, "2024")  # this process: alive
    assert (live / runner.PID_FILE).read_text().strip() == str(os.getpid())
    dead = runner.start_staging(client_dir, "2024")
    (dead / runner.PID_FILE).write_text(f"{dead_pid()}\n")
    (dead / "orders.parquet").write_bytes(b"raw ids")
    no_pid_old = runner.start_staging(client_dir, "2023")
    (no_pid_old / runner.PID_FILE).unlink()
    old = time.time() - 2 * runner.STAGING_GRACE_SECONDS
    os.utime(no_pid_old, (old, old))
    no_pid_young = runner.start_staging(client_dir, "2023")
    (no_pid_young / runner.PID_FILE).unlink()  # just created, or about to publish: left alone
    moved = runner.tidy_dead_runs(client_dir)
    assert len(moved) == 2 and not dead.exists() and not no_pid_old.exists()
    assert live.is_dir() and no_pid_young.is_dir()
    assert all(path.parent == client_dir / ".failed" for path in moved)
    assert {p.name for p in moved[0].iterdir()} | {p.name for p in moved[1].iterdir()} == {"orders.parquet"}


def test_a_retired_report_is_deleted_once_the_new_one_is_in_place(tmp_path):
    client_dir = tmp_path / "acme"
    (client_dir / "2024").mkdir(parents=True)
    (client_dir / ".2024.old-1234abcd").mkdir()
    (client_dir / ".2023.old-1234abcd").mkdir()  # no 2023 report: it may be the only copy, kept
    runner.tidy_dead_runs(client_dir)
    assert not (client_dir / ".2024.old-1234abcd").exists()
    assert (client_dir / ".2023.old-1234abcd").is_dir()
