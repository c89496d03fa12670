from lookout_sdk._scrub import REDACTED, Scrubber


def test_default_keys_redacted_by_substring_case_insensitive() -> None:
    rec = {
        "attributes": {
            "db_password": "p",
            "X-Api-Key": "k",
            "Authorization": "Bearer t",
            "session_cookie": "c",
            "user": "ann",
            "nested": {"access_token": "t"},
        },
        "exception": [{"frames": [{"vars": {"secret": "s", "count": 3}}]}],
    }
    Scrubber().scrub_record(rec)
    attrs = rec["attributes"]
    assert attrs["db_password"] == attrs["X-Api-Key"] == attrs["Authorization"] == REDACTED
    assert attrs["session_cookie"] == REDACTED and attrs["nested"]["access_token"] == REDACTED
    assert attrs["user"] == "ann"
    assert rec["exception"][0]["frames"][0]["vars"] == {"secret": REDACTED, "count": 3}


def test_headers_inside_attributes_are_scrubbed() -> None:
    rec = {"attributes": {"http.headers": {"Cookie": "a=b", "Accept": "*/*"}}}
    Scrubber().scrub_record(rec)
    assert rec["attributes"]["http.headers"] == {"Cookie": REDACTED, "Accept": "*/*"}


def test_configurable_and_disable() -> None:
    rec = {"attributes": {"ssn": "1", "password": "p"}}
    Scrubber(["ssn"]).scrub_record(rec)
    assert rec["attributes"] == {"ssn": REDACTED, "password": "p"}
    rec = {"attributes": {"password": "p"}}
    Scrubber([]).scrub_record(rec)
    assert rec["attributes"] == {"password": "p"}
