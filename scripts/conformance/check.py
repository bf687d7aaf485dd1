"""Runs the two outside SCIM conformance suites against a running bridge.

    check.py <scim base url> <bearer token> <README.md>

scim2-tester (Python API) and scim-sanity (its `probe` command) both run.
Every failing check must be listed in the README's "Checks that cannot
apply" table with the reason; any other failure fails the run. The figures
(checks passed / total per suite) are printed for the README.
"""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

# The resource types whose endpoints the suites exercise.
RESOURCE_TYPES = ["User", "Group"]

PASSED = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE, Status.DEVIATION}
FAILED = {Status.ERROR, Status.CRITICAL}


def wait_until_serving(base_url: str, seconds: float = 60.0) -> None:
    health = base_url.rsplit("/scim/v2", 1)[0] + "/healthz"
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(health, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"the bridge did not answer {health} within {seconds:.0f} s")
        time.sleep(0.2)


def not_applicable(readme: str) -> dict[str, set[str]]:
    """The checks the README says cannot apply, per suite.

    Rows of the table under "Checks that cannot apply" read
    | suite | `check` | why |
    """
    section = readme.split("### Checks that cannot apply", 1)[-1].split("\n#", 1)[0]
    listed: dict[str, set[str]] = {}
    for suite, check in re.findall(r"^\|\s*([\w-]+)\s*\|\s*`([^`]+)`\s*\|", section, re.M):
        listed.setdefault(suite, set()).add(check)
    return listed


def scim2_tester(base_url: str, token: str) -> list[tuple[str, str, str]]:
    """(check, outcome, reason) for every scim2-tester check."""
    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    results = check_server(SyncSCIMClient(http), resource_types=RESOURCE_TYPES)
    checks = []
    for result in results:
        name = result.title or "?"
        if result.resource_type:
            name += f" {result.resource_type}"
        urn = result.data.get("urn") if isinstance(result.data, dict) else None
        if urn:
            name += f": {urn}"
        if result.status in PASSED:
            outcome = "pass"
        elif result.status in FAILED:
            outcome = "fail"
        else:
            outcome = "skip"
        checks.append((name, outcome, (result.reason or "").splitlines()[0] if result.reason else ""))
    return checks


def scim_sanity(base_url: str, token: str) -> list[tuple[str, str, str]]:
    """(check, outcome, reason) for every scim-sanity probe check."""
    checks = []
    for resource in RESOURCE_TYPES:
        probe = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "scim-sanity"), "probe", base_url, "--token", token, "--resource", resource,
             "--json-output", "--i-accept-side-effects"],
            capture_output=True, text=True, check=False,
        )
        try:
            report = json.loads(probe.stdout)
        except json.JSONDecodeError:
            sys.exit(f"scim-sanity gave no report (exit {probe.returncode}):\n{probe.stderr}")
        for result in report["results"]:
            status = result["status"]
            outcome = {"pass": "pass", "warn": "pass", "skip": "skip"}.get(status, "fail")
            checks.append((result["name"], outcome, result.get("message", "")))
    return checks


def main() -> int:
    base_url, token, readme_path = sys.argv[1:4]
    with open(readme_path, encoding="utf-8") as readme:
        listed = not_applicable(readme.read())
    wait_until_serving(base_url)
    unexpected = 0
    passed = set_aside = 0
    for suite, run in (("scim2-tester", scim2_tester), ("scim-sanity", scim_sanity)):
        checks = run(base_url, token)
        counts = Counter(outcome for _, outcome, _ in checks)
        allowed = listed.get(suite, set())
        print(f"== {suite}")
        excused = 0
        for name, outcome, reason in checks:
            if outcome != "fail":
                continue
            if name in allowed:
                excused += 1
                print(f"  not applicable: {name}: {reason}")
            else:
                unexpected += 1
                print(f"  FAILED: {name}: {reason}")
        passed += counts["pass"]
        set_aside += excused + counts["skip"]
        print(
            f"  {suite}: {counts['pass']} passed / {len(checks)} checks;"
            f" {excused} not applicable (README), {counts['fail'] - excused} failed,"
            f" {counts['skip']} skipped"
        )
    # One closing line in the plain form test reports are read by; the
    # not-applicable and skipped checks count as skipped.
    print(f"conformance: {passed} passed, {unexpected} failed, {set_aside} skipped")
    if unexpected:
        print(f"{unexpected} check(s) failed that the README does not list as not applicable")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
