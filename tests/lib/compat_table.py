"""Builds the README's compatibility table from a matrix run's results.

Usage: compat_table.py RESULTS_DIR MAJOR...
RESULTS_DIR holds, per major: MAJOR.version (server version text),
MAJOR.xml (gtest XML of the integration suite) and MAJOR.metrics (one
scrape of pgwarden's /metrics). A missing file means that part did not run.
"""
import os
import re
import sys
import xml.etree.ElementTree as ET

SUCCESS = re.compile(r'^pg_scrape_collector_success\{collector="([a-z_]+)"\} [01]$', re.M)


def main():
    results, majors = sys.argv[1], sys.argv[2:]
    header = ["collector"]
    # Every collector any scrape reported, so a collector missing from one
    # major shows up as a failure there.
    collectors = set()
    for major in majors:
        path = os.path.join(results, major + ".metrics")
        if os.path.exists(path):
            collectors.update(SUCCESS.findall(open(path).read()))
    COLLECTORS = sorted(collectors)
    cells = {c: [] for c in COLLECTORS + ["integration tests"]}
    for major in majors:
        base = os.path.join(results, major)
        version = major
        if os.path.exists(base + ".version"):
            version = open(base + ".version").read().split()[0]
        header.append(f"PG {version}")
        metrics = open(base + ".metrics").read() if os.path.exists(base + ".metrics") else None
        for c in COLLECTORS:
            if metrics is None:
                cells[c].append("not run")
            elif re.search(r'^pg_scrape_collector_success\{collector="%s"\} 1$' % c, metrics, re.M):
                cells[c].append("yes")
            else:
                cells[c].append("FAILS")
        if os.path.exists(base + ".xml"):
            suite = ET.parse(base + ".xml").getroot()
            tests, failures = int(suite.get("tests")), int(suite.get("failures"))
            errors = int(suite.get("errors", "0"))
            cells["integration tests"].append(f"{tests - failures - errors}/{tests} pass")
        else:
            cells["integration tests"].append("not run")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, row in cells.items():
        print(f"| {name} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
