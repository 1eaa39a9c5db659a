"""Builds the README's compatibility table from a matrix run's results.

Usage: compat_table.py RESULTS_DIR MAJOR... [--readme FILE [--update]]
Prints the table. With --readme, also compares it with the table between
FILE's <!-- compat:begin --> and <!-- compat:end --> markers and exits 1
if they differ; with --update, writes it there instead.
RESULTS_DIR holds, per major: MAJOR.version (server version text),
MAJOR.xml (gtest XML of the integration suite) and MAJOR.metrics (one
scrape of pgwarden's /metrics). A missing file means that part did not run.
"""
import os
import re
import sys
import xml.etree.ElementTree as ET

SUCCESS = re.compile(r'^pg_scrape_collector_success\{collector="([a-z_]+)"\} [01]$', re.M)


BLOCK = re.compile(r"(<!-- compat:begin -->\n)(.*?)(<!-- compat:end -->)", re.S)


def main():
    args = sys.argv[1:]
    update = "--update" in args
    readme = None
    if "--readme" in args:
        readme = args[args.index("--readme") + 1]
        args = args[:args.index("--readme")]
    table = build(args[0], args[1:])
    print(table, end="")
    if readme is None:
        return 0
    text = open(readme).read()
    match = BLOCK.search(text)
    if not match:
        sys.exit(f"{readme}: no compat:begin/compat:end markers")
    if update:
        open(readme, "w").write(BLOCK.sub(lambda m: m.group(1) + table + m.group(3), text))
        return 0
    if match.group(2) != table:
        print(f"{readme}'s compatibility table differs from these results; "
              "run PGWARDEN_UPDATE_README=1 tests/run.sh matrix", file=sys.stderr)
        return 1
    return 0


def build(results, majors):
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
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in cells.items():
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
