#!/usr/bin/env python3
"""Checks that the sources keep to their layers (docs/architecture.md).

Each file belongs to one layer; a file may include the project's headers
from its own layer and the layers listed as below it, nothing else. libpq's
connection API and libpqxx are included only by the seam that owns them.
Exit 1 with one line per violation."""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Layer of each non-collector source, by its stem in exporter/.
LAYERS = {
    "base": {"counters", "database", "dsn", "log", "metrics", "process_metrics", "rows",
             "server_info", "strings", "text", "yaml_reader"},
    "engine": {"collection", "collection_plan", "database_visitor", "sampler",
               "samples", "self_metrics", "target"},
    "remediation": {"remediation", "remediation_policy"},
    "postgres": {"pg_connection", "session"},
    "web": {"basic_auth", "probe_config", "tls", "web_access", "web_config"},
    "fleet": {"probe"},
    "http": {"http_server"},
    "cli": {"args", "compat_flags", "config", "flags"},
    "main": {"main"},
}
BELOW = {
    "base": set(),
    "collectors": {"base"},
    "engine": {"base", "collectors"},
    "remediation": {"base", "collectors", "engine"},
    "postgres": {"base"},
    "web": {"base"},
    "fleet": {"base", "collectors", "engine", "web"},
    "http": {"base", "collectors", "engine", "web", "fleet"},
    "cli": {"base", "collectors", "engine", "remediation", "web", "fleet",
            "http"},
    "main": {"base", "collectors", "engine", "remediation", "postgres", "web",
             "fleet", "http", "cli"},
}
# System headers that belong to one file each.
OWNED = {
    "libpq-fe.h": {"exporter/pg_connection.cc", "exporter/dsn.cc"},
    "pqxx/": {"exporter/pg_connection.cc"},
}


def layer_of(path):
    rel = path.relative_to(ROOT).as_posix()
    if rel.startswith("collectors/"):
        return "collectors"
    for layer, stems in LAYERS.items():
        if path.stem in stems:
            return layer
    return None


def main():
    errors = []
    sources = sorted(p for d in ("exporter", "collectors")
                     for p in (ROOT / d).iterdir() if p.suffix in (".h", ".cc"))
    for path in sources:
        rel = path.relative_to(ROOT).as_posix()
        layer = layer_of(path)
        if layer is None:
            errors.append(f"{rel}: in no layer (add it to tests/lint/layers.py)")
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r'#include [<"]([^>"]+)[>"]', line)
            if not m:
                continue
            header = m.group(1)
            for prefix, owners in OWNED.items():
                if header.startswith(prefix) and rel not in owners:
                    errors.append(f"{rel}:{n}: includes {header}, which only "
                                  f"{', '.join(sorted(owners))} may")
            if not header.startswith(("exporter/", "collectors/")):
                continue
            target = layer_of(ROOT / header)
            if target != layer and target not in BELOW[layer]:
                errors.append(f"{rel}:{n}: {layer} includes {header} ({target})")
    for e in errors:
        print(e)
    print(f"layers: {len(sources)} files, {len(errors)} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
