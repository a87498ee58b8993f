"""Enrichment building blocks as plain functions: device, timezone, region, client address."""

from __future__ import annotations

import ipaddress

import pytest

from gateway.config import GatewayConfig
from gateway.context import RegionTable, classify_device, client_address, enrich, parse_timezone


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148", "mobile"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120.0 Mobile Safari/537.36", "mobile"),
        ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 Safari/537.36", "tablet"),
        ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)", "tablet"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0", "desktop"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15", "desktop"),
        ("Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0", "desktop"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot"),
        ("curl/8.5.0", "bot"),
        ("python-requests/2.31", "bot"),
        ("SomethingElse/1.0", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_classify_device(user_agent, device):
    assert classify_device(user_agent) == device


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("America/New_York", "America/New_York"),
        ("UTC", "UTC"),
        ("Europe/Atlantis", None),
        ("../../etc/passwd", None),
        ("", None),
        (None, None),
        ("x" * 100, None),
    ],
)
def test_parse_timezone(value, expected):
    assert parse_timezone(value) == expected


def test_bundled_region_table():
    table = RegionTable.from_csv(GatewayConfig.ip_regions_file)
    assert table.lookup("127.0.0.1") == "LOCAL"
    assert table.lookup("::1") == "LOCAL"
    assert table.lookup("192.0.2.200") == "DE"
    assert table.lookup("198.51.100.1") == "FR"
    assert table.lookup("203.0.113.255") == "NL"
    assert table.lookup("8.8.8.8") is None
    assert table.lookup("not an ip") is None


def test_region_table_prefers_the_longest_prefix(tmp_path):
    csv = tmp_path / "regions.csv"
    csv.write_text("# comment\ncidr,region\n10.0.0.0/8,AA\n10.1.0.0/16,BB\n2001:db8::/32,CC\n")
    table = RegionTable.from_csv(csv)
    assert table.lookup("10.1.2.3") == "BB"
    assert table.lookup("10.2.0.1") == "AA"
    assert table.lookup("2001:db8::7") == "CC"
    assert table.lookup("11.0.0.1") is None


def test_region_table_errors_name_the_line(tmp_path):
    csv = tmp_path / "regions.csv"
    csv.write_text("cidr,region\n10.0.0.0/8,AA\n10.0.0.0/33,BB\n")
    with pytest.raises(ValueError, match="line 3"):
        RegionTable.from_csv(csv)


PROXY = (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.5", None, (), "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", (), "203.0.113.5"),  # untrusted peer: header ignored
        ("10.0.0.2", "198.51.100.1, 10.0.0.9", PROXY, "198.51.100.1"),
        ("10.0.0.2", "garbage", PROXY, "10.0.0.2"),
        ("10.0.0.2", None, PROXY, "10.0.0.2"),
        (None, "198.51.100.1", PROXY, "unknown"),
    ],
)
def test_client_address(peer, forwarded, trusted, expected):
    assert client_address(peer, forwarded, trusted) == expected


def test_enrich_prefers_the_region_header():
    table = RegionTable([("192.0.2.0/24", "DE")])
    headers = {"X-Region": "nl", "X-Timezone": "Europe/Amsterdam", "User-Agent": "curl/8"}
    assert enrich(headers, "192.0.2.1", table) == {
        "timezone": "Europe/Amsterdam",
        "region": "NL",
        "device": "bot",
        "channel": "web",
    }
    assert enrich({"X-Region": "NLD"}, "192.0.2.1", table)["region"] == "DE"
