import pytest
from lookout_sdk import DsnError, parse_dsn


def test_plain_dsn_gives_ingest_url() -> None:
    dsn = parse_dsn("http://abc123@127.0.0.1:8000/42")
    assert (dsn.public_key, dsn.host, dsn.port, dsn.project_id) == (
        "abc123",
        "127.0.0.1",
        8000,
        "42",
    )
    assert dsn.ingest_url == "http://127.0.0.1:8000/api/42/ingest"


def test_path_prefix_and_https_default_port() -> None:
    dsn = parse_dsn("https://key@lookout.example.com/monitoring/lookout/7")
    assert dsn.ingest_url == "https://lookout.example.com:443/monitoring/lookout/api/7/ingest"


def test_ipv6_host() -> None:
    assert parse_dsn("http://k@[::1]:9000/1").ingest_url == "http://[::1]:9000/api/1/ingest"


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("ftp://k@h/1", "http"),
        ("http://h:8000/1", "public key"),
        ("http://k@h:8000/", "project id"),
        ("http://k@h:8000/abc", "project id"),
        ("http://k@h:notaport/1", "not a URL"),
        ("http://k@/1", "host"),
    ],
)
def test_bad_dsn_names_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(DsnError, match=fragment):
        parse_dsn(text)


def test_non_string_dsn() -> None:
    with pytest.raises(DsnError, match="string"):
        parse_dsn(42)  # type: ignore[arg-type]
