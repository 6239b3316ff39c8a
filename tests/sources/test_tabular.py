"""Sources: warehouse CSV and Parquet extracts -> Spec messages."""

from __future__ import annotations

import gzip

import pytest

from segmarketo_cli.errors import InputError
from segmarketo_cli.sources import preflight, read_all

HEADER = "id,user_id,anonymous_id,email,first_name,address_city,company_name,context_ip,uuid_ts,timestamp,plan_tier\n"


def test_identifies_csv_columns_become_spec_messages(tmp_path):
    path = tmp_path / "identifies.csv"
    path.write_text(
        HEADER
        + 'm1,u1,a1,ann@example.com,Ann,"Paris, FR",Initech,10.0.0.1,2024-01-02,2024-01-01T00:00:00Z,gold\n'
        + 'm2,u2,,,"Bo\nb",,,,,,\n'
        + "m3,u3\n"
    )
    items = list(read_all(preflight([str(path)])))
    first = items[0].message
    assert first == {
        "messageId": "m1", "userId": "u1", "anonymousId": "a1", "timestamp": "2024-01-01T00:00:00Z",
        "type": "identify",
        "traits": {"email": "ann@example.com", "firstName": "Ann", "address": {"city": "Paris, FR"},
                   "company": {"name": "Initech"}, "plan_tier": "gold"},
    }
    assert items[1].origin == f"{path}:3"
    assert items[1].message["traits"] == {"firstName": "Bo\nb"}
    assert items[2].origin == f"{path}:5"
    assert "2 columns" in items[2].error


def test_users_table_id_is_the_user_id_and_delimiters_are_sniffed(tmp_path):
    path = tmp_path / "users.csv.gz"
    path.write_bytes(gzip.compress(b"id;email;last_name\nuser-9;x@example.com;Lee\n"))
    (item,) = list(read_all(preflight([str(path)])))
    traits = {"email": "x@example.com", "lastName": "Lee"}
    assert item.message == {"userId": "user-9", "type": "identify", "traits": traits}


def test_tracks_table_rows_are_tracks(tmp_path):
    path = tmp_path / "tracks.csv"
    path.write_text("id,user_id,event,event_text\nm1,u1,signed_up,Signed Up\n")
    (item,) = list(read_all(preflight([str(path)])))
    assert item.message["type"] == "track"
    assert item.message["event"] == "signed_up"


def test_actions_s3_csv_with_json_traits_column(tmp_path):
    path = tmp_path / "actions.csv"
    path.write_text('event_type,user_id,traits,message_id\n"identify","u1","{""email"":""a@b.co"",""plan"":1}","m1"\n')
    (item,) = list(read_all(preflight([str(path)])))
    assert item.message == {"type": "identify", "userId": "u1", "messageId": "m1",
                            "traits": {"email": "a@b.co", "plan": 1}}


def test_parquet_rows_carry_row_numbers(tmp_path):
    import pandas as pd

    path = tmp_path / "identifies.parquet"
    frame = pd.DataFrame({
        "id": ["m1", "m2"], "user_id": ["u1", "u2"], "email": ["a@example.com", None],
        "timestamp": pd.to_datetime(["2024-03-01T10:00:00Z", "2024-03-02T10:00:00Z"]),
        "logins": [3.0, float("nan")], "context_library_name": ["x", "y"],
    })
    frame.to_parquet(path)
    items = list(read_all(preflight([str(path)])))
    assert [i.origin for i in items] == [f"{path}:1", f"{path}:2"]
    assert items[0].message["timestamp"] == "2024-03-01T10:00:00Z"
    assert items[0].message["traits"] == {"email": "a@example.com", "logins": 3.0}
    assert "traits" not in items[1].message  # null cells are absent values, not traits


def test_corrupt_parquet_is_an_input_error(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1garbage")
    files = preflight([str(path)])
    with pytest.raises(InputError, match="not a readable Parquet"):
        list(read_all(files))


@pytest.mark.parametrize(("name", "data"), [
    ("dup.csv", b"user_id,email,Email\nu1,a@example.com,b@example.com\n"),
    ("dup.csv.gz", gzip.compress(b"user_id\temail\t email \nu1\ta@example.com\tb@example.com\n")),
], ids=["plain", "gzip"])
def test_duplicate_csv_header_is_an_input_error_naming_the_column(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError, match=r"duplicate column 'email' in the header \(columns 2 and 3"):
        preflight([str(path)])  # before any file is read for real, so before any write


def test_empty_header_cells_are_not_duplicates(tmp_path):
    path = tmp_path / "trailing.csv"
    path.write_text("user_id,email,,\nu1,a@example.com,,\n")
    (item,) = list(read_all(preflight([str(path)])))
    assert item.message["traits"] == {"email": "a@example.com"}
