"""Context for each chat turn: client address, timezone, region, device.

The action server and the segmentation export read these from the message metadata
(timezone for time-of-day features, region and device for segments), so the gateway
fills them from what the request itself shows, never from what the client claims in
the body.
"""

from __future__ import annotations

import csv
import ipaddress
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from gateway.config import IPNetwork

CHANNEL = "web"
UNKNOWN_ADDRESS = "unknown"

_BOT = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|curl/|wget/|python-|aiohttp|httpx|go-http|java/|headless",
    re.I,
)
_TABLET = re.compile(r"ipad|tablet|kindle|silk/|playbook|android(?!.*mobile)", re.I)
_MOBILE = re.compile(r"mobi|iphone|ipod|windows phone|blackberry|opera mini", re.I)
_DESKTOP = re.compile(r"windows nt|macintosh|mac os x|x11|linux|cros", re.I)


def classify_device(user_agent: str | None) -> str:
    """mobile / tablet / desktop / bot / unknown from a User-Agent, by simple patterns."""
    if not user_agent:
        return "unknown"
    ua = user_agent[:512]
    if _BOT.search(ua):
        return "bot"
    if _TABLET.search(ua):
        return "tablet"
    if _MOBILE.search(ua):
        return "mobile"
    if _DESKTOP.search(ua):
        return "desktop"
    return "unknown"


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_timezone(value: str | None) -> str | None:
    """The header value if it is a known IANA zone name (e.g. Europe/Berlin), else None."""
    if not value or len(value) > 64:
        return None
    value = value.strip()
    return value if value in _timezones() else None


def parse_region(value: str | None) -> str | None:
    """A two-letter region code (upper-cased) from a header, else None."""
    if value and re.fullmatch(r"[A-Za-z]{2}", value.strip()):
        return value.strip().upper()
    return None


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str:
    """The peer address, or the first X-Forwarded-For hop when the peer is a trusted proxy."""
    address = _ip(peer)
    if address is None:
        return peer or UNKNOWN_ADDRESS
    if forwarded_for and any(address in net for net in trusted):
        first = _ip(forwarded_for.split(",")[0].strip())
        if first is not None:
            return str(first)
    return str(address)


def _ip(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(value.split("%")[0])
    except ValueError:
        return None


class RegionTable:
    """Longest-prefix match of an address against CIDR ranges.

    One dict per prefix length, so a lookup costs one probe per distinct prefix length
    however large the table is (a real GeoIP export has hundreds of thousands of ranges).
    """

    def __init__(self, ranges: Iterable[tuple[str, str]]) -> None:
        self._by_len: dict[int, dict[tuple[int, int], str]] = {}
        for cidr, region in ranges:
            net = ipaddress.ip_network(cidr, strict=False)
            bucket = self._by_len.setdefault(net.prefixlen, {})
            bucket[(net.version, int(net.network_address))] = region
        self._lengths = sorted(self._by_len, reverse=True)

    @classmethod
    def from_csv(cls, path: Path) -> RegionTable:
        """Read ``cidr,region`` rows; '#' lines are comments. Errors name the line."""
        rows = []
        with path.open(newline="") as handle:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                row = [cell.strip() for cell in next(csv.reader([line]))]
                if row == ["cidr", "region"]:
                    continue
                if len(row) != 2 or not row[1]:
                    raise ValueError(f"{path}: line {lineno}: expected 'cidr,region', got {row!r}")
                try:
                    ipaddress.ip_network(row[0], strict=False)
                except ValueError:
                    raise ValueError(
                        f"{path}: line {lineno}: {row[0]!r} is not a CIDR range"
                    ) from None
                rows.append((row[0], row[1]))
        return cls(rows)

    def lookup(self, address: str) -> str | None:
        ip = _ip(address)
        if ip is None:
            return None
        bits = ip.max_prefixlen
        value = int(ip)
        for length in self._lengths:
            if length > bits:
                continue
            mask = ((1 << length) - 1) << (bits - length) if length else 0
            region = self._by_len[length].get((ip.version, value & mask))
            if region is not None:
                return region
        return None


def enrich(headers: Mapping[str, str], address: str, regions: RegionTable) -> dict[str, object]:
    """The metadata the gateway vouches for: timezone, region, device, channel."""
    return {
        "timezone": parse_timezone(headers.get("X-Timezone")),
        "region": parse_region(headers.get("X-Region")) or regions.lookup(address),
        "device": classify_device(headers.get("User-Agent")),
        "channel": CHANNEL,
    }
