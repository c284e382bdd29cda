#!/usr/bin/env python3
"""Fails when openapi.yaml and the routes the server registers disagree.

The server's route list is the `for (method, path) in [...]` array in
Sources/TollgateHTTP/Application.swift (it also feeds the 404/405 decision). Hummingbird
writes parameters as `:id`, OpenAPI as `{id}`. Paths the server adds outside that array
(`/openapi.yaml`) are accepted when the Swift sources of TollgateHTTP name them. `/metrics`
is served on its own listener (`METRICS_PORT`), never on the API's port, so it is not here.

Until the server registers /openapi.yaml, its absence is a note; with
--strict it is a failure.

Needs PyYAML (pip install pyyaml). Usage: scripts/check-openapi.py [--strict] [repository root]
"""

import pathlib
import re
import sys

try:
    import yaml
except ImportError:
    sys.exit("check-openapi: PyYAML is missing (pip install pyyaml)")

# Served outside the route array; the document must list them, and some Swift file must too.
EXTRA_PATHS = {"/openapi.yaml"}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def swift_routes(source: str) -> list[tuple[str, str]]:
    """The (method, path) pairs of the `for (method, path) in [...]` array in Application.swift."""
    match = re.search(r"for\s+\(method,\s*path\)\s+in\s+\[(.*?)\]\s*\{", source, re.S)
    if not match:
        sys.exit("check-openapi: no `for (method, path) in [...]` route array in Application.swift")
    pairs = re.findall(r'\(\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*\)', match.group(1))
    if not pairs:
        sys.exit("check-openapi: the route array in Application.swift is empty")
    return [(method.lower(), re.sub(r":([A-Za-z_][A-Za-z0-9_]*)", r"{\1}", path)) for method, path in pairs]


def main() -> int:
    arguments = [a for a in sys.argv[1:] if a != "--strict"]
    strict = "--strict" in sys.argv[1:]
    root = pathlib.Path(arguments[0]) if arguments else pathlib.Path(__file__).resolve().parent.parent
    application = (root / "Sources/TollgateHTTP/Application.swift").read_text(encoding="utf-8")
    document = yaml.safe_load((root / "openapi.yaml").read_text(encoding="utf-8"))
    problems = []

    if not str(document.get("openapi", "")).startswith("3.1"):
        problems.append(f"openapi.yaml declares openapi {document.get('openapi')!r}, expected 3.1.x")

    pairs = swift_routes(application)
    duplicates = {pair for pair in pairs if pairs.count(pair) > 1}
    if duplicates:
        problems.append(f"Application.swift lists these routes twice: {sorted(duplicates)}")
    for method, path in pairs:
        item = (document.get("paths") or {}).get(path) or {}
        if item and method not in item:
            problems.append(f"{method.upper()} {path} is served but openapi.yaml does not document that method")
    for path, item in (document.get("paths") or {}).items():
        for method in (m for m in item if m in METHODS):
            if (method, path) not in pairs and path in {p for _, p in pairs}:
                problems.append(f"{method.upper()} {path} is documented but not served")
    routes = [path for _, path in pairs]

    documented = set(document.get("paths") or {})
    served = set(routes)
    http_sources = "\n".join(p.read_text(encoding="utf-8") for p in (root / "Sources/TollgateHTTP").glob("*.swift"))
    for extra in sorted(EXTRA_PATHS):
        if extra in served:
            continue
        # Registered elsewhere, e.g. router.get("/metrics") or router.get("metrics").
        if re.search(r'"/?' + re.escape(extra.lstrip("/")) + r'"', http_sources):
            served.add(extra)
        elif extra in documented and not strict:
            print(f"check-openapi: note: {extra} is documented but not registered in TollgateHTTP yet", file=sys.stderr)
            served.add(extra)

    for path in sorted(served - documented):
        problems.append(f"served but not in openapi.yaml: {path}")
    for path in sorted(documented - served):
        problems.append(f"in openapi.yaml but not served: {path}")

    for path, item in (document.get("paths") or {}).items():
        operations = [m for m in item if m in METHODS]
        if not operations:
            problems.append(f"openapi.yaml: {path} has no operation")
        for parameter in re.findall(r"\{([^}]+)\}", path):
            declared = list(item.get("parameters", []))
            for method in operations:
                declared += item[method].get("parameters", [])
            names = {p.get("name") for p in declared if isinstance(p, dict) and "name" in p}
            refs = [p["$ref"] for p in declared if isinstance(p, dict) and "$ref" in p]
            for ref in refs:
                target = document
                for part in ref.lstrip("#/").split("/"):
                    target = target.get(part, {})
                names.add(target.get("name"))
            if parameter not in names:
                problems.append(f"openapi.yaml: {path} does not declare its path parameter {parameter}")

    for problem in problems:
        print(f"check-openapi: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"check-openapi: {len(routes)} routes of Application.swift match openapi.yaml ({len(documented)} paths)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
