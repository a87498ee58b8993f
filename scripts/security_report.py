"""Print the security check table from the figures the security tests wrote to var/security/.

Run by `make security-check` after the tests; writes var/security/report.md as well, which is
the table the README shows.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIR = ROOT / "var" / "security"


def load(name: str) -> dict | None:
    path = DIR / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def rows() -> list[tuple[str, str, bool | None]]:
    """(check, figure, passed); passed is None when the test did not run."""
    out: list[tuple[str, str, bool | None]] = []
    routes = load("routes")
    out.append(
        (
            "Gateway routes refusing unauthenticated and forged tokens",
            f"{routes['refused']}/{routes['protected']} (open: {', '.join(routes['open'])})"
            if routes
            else "not run",
            routes["refused"] == routes["protected"] if routes else None,
        )
    )
    action = load("action_fuzz")
    health = (action or {}).get("health_after", {})
    out.append(
        (
            "Action server: calls without the shared secret refused",
            f"{health.get('unauthorized', 0)} refused with 401" if action else "not run",
            bool(health.get("unauthorized")) if action else None,
        )
    )
    rasa = load("rasa_api")
    out.append(
        (
            "Rasa HTTP API off, or token required (model upload/train, conversations)",
            f"{rasa['refused']}/{rasa['probed']} probes refused" if rasa else "not run",
            rasa["refused"] == rasa["probed"] if rasa else None,
        )
    )
    services = load("services") or {}
    out.append(
        (
            "Redis: password/ACL, loopback, dangerous commands off",
            (
                f"anonymous refused: {services.get('redis_anonymous_refused')}, "
                f"dangerous refused: {services.get('redis_dangerous_refused')}, "
                f"loopback only: {services.get('redis_loopback_only', 'not checked')}"
            )
            if services
            else "not run",
            bool(services.get("redis_anonymous_refused")) if services else None,
        )
    )
    out.append(
        (
            "Rasa version (CVE-2024-49375 fixed in 3.6.21)",
            services.get("rasa_version", "not run"),
            "rasa_version" in services if services else None,
        )
    )
    erasure = load("erasure")
    out.append(
        (
            "Residual keys naming an erased user (id or pseudonym)",
            f"{erasure['residual']} (of {erasure['keys_before']} before erasure)"
            if erasure
            else "not run",
            erasure["residual"] == 0 if erasure else None,
        )
    )
    gateway = load("gateway_fuzz")
    out.append(
        (
            "Gateway fuzzed from its OpenAPI document: 5xx",
            f"{gateway['server_errors']} in {gateway['requests']} requests, "
            f"{gateway['operations']} operations"
            if gateway
            else "not run",
            gateway["server_errors"] == 0 if gateway else None,
        )
    )
    out.append(
        (
            "Action server webhook fuzzed: 5xx / echoed data",
            f"{len(action['server_errors_5xx'])} / {len(action['echoes_found'])} in "
            f"{action['payloads_sent']} malformed payloads"
            if action
            else "not run",
            not action["server_errors_5xx"] and not action["echoes_found"] if action else None,
        )
    )
    injection = load("injection")
    out.append(
        (
            "Template and prompt injection through Rasa: leaks / evaluated",
            f"{injection['leaks']} / {injection['evaluated']} in {injection['messages']} messages"
            if injection
            else "not run",
            injection["leaks"] == injection["evaluated"] == 0 if injection else None,
        )
    )
    faults = load("faults")
    if faults:
        sent = sum(t["sent"] for t in faults.values())
        lost = sum(t["lost"] for t in faults.values())
        unanswered = sum(t["errors"] for k, t in faults.items() if k != "gateway killed")
        disorder = sum(t["out_of_order"] for t in faults.values())
        slowest = max(t["slowest_s"] for t in faults.values())
        fallbacks = sum(t["fallbacks"] for t in faults.values())
        # Redis down, hung or slow: real answers, not the fallback (test_faults.py).
        redis_faults = [t for k, t in faults.items() if k.startswith("redis")]
        redis_real = sum(t["answered"] for t in redis_faults)
        redis_sent = sum(t["sent"] for t in redis_faults)
        out.append(
            (
                "Messages lost under faults (Redis, action server, worker, gateway)",
                f"{lost} lost, {unanswered} unanswered of {sent}; {fallbacks} fallbacks, "
                f"slowest answer {slowest:.1f} s ({len(faults)} scenarios); "
                f"Redis faults: {redis_real}/{redis_sent} real answers",
                lost == 0 and unanswered == 0 and redis_real == redis_sent,
            )
        )
        order = faults.get("two rasa servers", {})
        out.append(
            (
                "Out-of-order turns, one user over two Rasa processes",
                f"{disorder} in {order.get('sent', 0)} messages",
                disorder == 0,
            )
        )
    else:
        out.append(("Messages lost under faults", "not run", None))
        out.append(("Out-of-order turns, two Rasa processes", "not run", None))
    out += outage_rows(load("outages") or {})
    load_test = load("load")
    out.append(
        (
            "Load over the gateway: errors; latency p50/p95/p99",
            f"{load_test['errors']} errors in {load_test['messages']} messages from "
            f"{load_test['users']} users ({load_test['messages_per_s']}/s); "
            f"{load_test['p50_ms']:.0f}/{load_test['p95_ms']:.0f}/{load_test['p99_ms']:.0f} ms, "
            f"{load_test['fallbacks']} fallbacks"
            if load_test
            else "not run",
            load_test["errors"] == 0 if load_test else None,
        )
    )
    return out


# tests/security/test_outages.py: (key, check, what the row's "resumed" figure is, target share
# of real answers). Each row passes when nothing was lost and nothing hung, the share is met
# where there is one, and personalization came back after a Redis fault.
OUTAGES = [
    ("redis_killed", "Redis killed for 30 s", "personalization", 0.99),
    ("redis_paused", "Redis paused (SIGSTOP) for 10 s", "personalization", 0.99),
    ("postgres_killed", "PostgreSQL killed for 10 s", "journal", None),
    ("action_server_killed", "Action server killed, restarted after 8 s", "answers", None),
    ("rasa_killed", "Rasa process killed, restarted at once", "answers", None),
]


def _answering_again(seconds: float | None) -> str:
    if seconds is None:
        return "some shoppers still not answered for real at the end of the run"
    return f"every shopper answered for real again {seconds} s after the fault"


def outage_rows(outages: dict) -> list[tuple[str, str, bool | None]]:
    """One row per outage scenario under the 20-shopper load (var/security/outages.json)."""
    out: list[tuple[str, str, bool | None]] = []
    for key, scenario, resumed, target in OUTAGES:
        check = f"Outage under load (20 shoppers, gateway): {scenario}"
        row = outages.get(key)
        if not row:
            out.append((check, "not run", None))
            continue
        share = row["real_share"] or 0.0
        figure = (
            f"{row['real']}/{row['sent']} real answers ({share:.1%}"
            + (f", target {target:.0%}" if target else "")
            + f"), {row['apologies']} apologies, {row['errors']} errors, {row['hung']} hung; "
            f"lost {row['lost']}; "
        )
        rasa = row.get("rasa") or {}
        if resumed == "personalization":
            back = row["personalization_resumed_s"]
            figure += (
                f"persona back {back} s after Redis" if back is not None else "persona not back"
            )
            figure += f", kept for {row['persona_kept_share'] or 0:.0%} of known shoppers"
        elif resumed == "journal":
            figure += f"{rasa.get('journalled', 0)} events journalled, "
            figure += f"{rasa.get('replayed', 0)} replayed"
        if resumed == "answers" or row["answers_resumed_s"] != 0.0:
            figure += ("; " if resumed != "answers" else "") + _answering_again(
                row["answers_resumed_s"]
            )
        if rasa.get("broker_lost"):
            figure += f"; {rasa['broker_lost']} events not streamed"
        passed = row["lost"] == 0 and row["hung"] == 0
        if target is not None:
            passed = passed and share >= target
        if resumed == "personalization":
            passed = passed and row["personalization_resumed_s"] is not None
        out.append((check, figure, passed))
    return out


def table(found: list[tuple[str, str, bool | None]]) -> str:
    mark = {True: "pass", False: "FAIL", None: "not run"}
    lines = ["| Check | Figure | Result |", "|---|---|---|"]
    lines += [f"| {check} | {figure} | {mark[ok]} |" for check, figure, ok in found]
    return "\n".join(lines)


def main() -> int:
    found = rows()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"Security check, {stamp}, {platform.node() or 'this machine'} "
        f"(`make security-check`)\n\n{table(found)}\n"
    )
    DIR.mkdir(parents=True, exist_ok=True)
    (DIR / "report.md").write_text(text)
    print(text)
    failed = [check for check, _, ok in found if ok is not True]
    if failed:
        print(f"security check: {len(failed)} not passed: {'; '.join(failed)}", file=sys.stderr)
        return 1
    print("security check: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
