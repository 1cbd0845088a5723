"""exports.hashed_contacts: audience_hashed.csv holds SHA-256 digests of the normalised e-mail and
phone (E.164) of the period's customers, never a plain contact; refused without a contact column."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from test_exports import CASES, PERIODS, SALT, customers_frame, dump_params_values, write_run

from analysis_utils import engine, exports, privacy, sources
from analysis_utils.errors import ConfigError

# customer id -> (e-mail as the client wrote it, phone as written)
CONTACTS = {
    "0001": ("  Jane.Doe@Example.COM ", "+44 20 7946 0018"),
    "0002": ("bob@example.org", "020 7946 0019"),  # national number: default country code 44
    "0003": ("not an address", "0044 (0)20-7946-0020"),
    "0004": (None, "call me"),  # nothing usable: left out
    "0006": ("Zoe@Example.net", None),
    "9999": ("stranger@example.com", "+33 1 23 45 67 89"),  # not a customer of the period
}
PLAIN = [
    "jane.doe@example.com", "Jane.Doe@Example.COM", "bob@example.org", "zoe@example.net",
    "stranger@example.com", "+442079460018", "2079460018", "7946 0018", "7946 0019", "+442079460019",
]  # fmt: skip


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture
def contacts_run(tmp_path, params_for, monkeypatch):
    """Period p2 published by hand, with a customers file mapping email and phone."""
    monkeypatch.delenv(privacy.SALT_VARIABLE, raising=False)
    source = tmp_path / "crm" / "contacts.csv"
    source.parent.mkdir()
    pd.DataFrame(
        {
            "id": list(CONTACTS),
            "mail": [c[0] for c in CONTACTS.values()],
            "tel": [c[1] for c in CONTACTS.values()],
        }
    ).to_csv(source, index=False)
    params = params_for(
        periods=PERIODS,
        report={"pseudonym_salt": SALT},
        client={"currency": "EUR"},
        sources={
            "customers": {
                "path": str(source),
                "columns": {"customer_id": "id", "email": "mail", "phone": "tel"},
            }
        },
        exports={"hashed_contacts": True, "default_country_code": "44"},
    )
    client_dir = tmp_path / "reports" / "acme"
    now = customers_frame()
    before = now[now["customer_id"].map(lambda i: CASES[i][1] is not None)].copy()
    before["segment"] = before["customer_id"].map(lambda i: CASES[i][1])
    write_run(client_dir, params.values, "p1", before)
    run = write_run(client_dir, params.values, "p2", now)
    return run, params


def test_normalisation_rules():
    assert exports.normalise_email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    assert exports.normalise_email("no at sign") is None and exports.normalise_email(None) is None
    assert exports.normalise_phone("+44 20 7946 0018") == "+442079460018"
    assert exports.normalise_phone("0044 20 7946 0018") == "+442079460018"
    assert exports.normalise_phone("020 7946 0018", "44") == "+442079460018"
    assert exports.normalise_phone("020 7946 0018", "+1") == "+12079460018"
    assert exports.normalise_phone("020 7946 0018") is None  # no country code known
    assert exports.normalise_phone("call me", "44") is None
    assert exports.normalise_phone("+1 234", "44") is None  # too short for a number


def test_hashed_audience_holds_digests_only(contacts_run):
    run, _ = contacts_run
    written = exports.write_exports(run, "p2")
    target = run / exports.FOLDER / exports.HASHED_CSV
    assert target in written
    frame = pd.read_csv(target, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["email", "phone", "segment"]
    got = {(row.email, row.phone, row.segment) for row in frame.itertuples()}
    assert got == {
        (sha("jane.doe@example.com"), sha("+442079460018"), "Champions"),
        (sha("bob@example.org"), sha("+442079460019"), "Loyal"),
        ("", sha("+442079460020"), "At Risk"),
        (sha("zoe@example.net"), "", "New"),
    }
    # no plain contact anywhere in the run folder (the workbook's zip entries read uncompressed)
    for path in run.rglob("*"):
        if not path.is_file():
            continue
        blobs = [path.read_bytes()]
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as book:
                blobs += [book.read(name) for name in book.namelist()]
        for blob in blobs:
            text = blob.decode("utf-8", errors="ignore") + blob.decode("utf-16", errors="ignore")
            for plain in PLAIN:
                assert plain not in text, (path.name, plain)
    readme = (run / exports.FOLDER / exports.README).read_text(encoding="utf-8")
    assert exports.HASHED_CSV in readme


def test_contacts_never_reach_the_customer_attributes(contacts_run):
    _, params = contacts_run
    con = engine.connect(params.get("engine"))
    tables = sources.load_sources(params, params.period("p2"), con, list(CONTACTS))
    assert not {"email", "phone", "mail", "tel"} & set(tables.attributes.columns)


def test_option_is_refused_without_a_contact_column(params_for, tmp_path):
    with pytest.raises(ConfigError) as raised:
        params_for(exports={"hashed_contacts": True})
    assert "exports.hashed_contacts needs sources.customers.columns.email" in str(raised.value)
    assert "\n" not in str(raised.value)
    source = tmp_path / "customers.csv"
    source.write_text("id,region\n1,North\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="exports.hashed_contacts needs"):
        params_for(
            sources={
                "customers": {"path": str(source), "columns": {"customer_id": "id", "region": "region"}}
            },
            exports={"hashed_contacts": True},
        )
    with pytest.raises(ConfigError, match="exports.default_country_code must be 1 to 3 digits"):
        params_for(exports={"default_country_code": "UK"})


def test_default_is_off_and_writes_no_hashed_file(contacts_run):
    run, params = contacts_run
    values = {**params.values, "exports": {**params.values["exports"], "hashed_contacts": False}}
    (run / "params.yaml").write_text(dump_params_values(values), encoding="utf-8")
    exports.write_exports(run, "p2")
    assert not (run / exports.FOLDER / exports.HASHED_CSV).exists()


def test_hashed_file_is_reproducible(contacts_run):
    run, _ = contacts_run
    exports.write_exports(run, "p2")
    first = (run / exports.FOLDER / exports.HASHED_CSV).read_bytes()
    exports.write_exports(run, "p2")
    assert (run / exports.FOLDER / exports.HASHED_CSV).read_bytes() == first
    assert Path(run / exports.FOLDER / exports.HASHED_CSV).stat().st_size > 0
