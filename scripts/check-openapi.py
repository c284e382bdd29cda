#!/usr/bin/env python3
"""Fails when openapi.yaml is not a document the API can stand behind: not OpenAPI 3.1, a
path without an operation, or a path parameter it does not declare.

Whether the server serves exactly the documented operations is checked against the router
itself, by the Swift test OperationsTests.theRouterServesExactlyTheDocumentedOperations.

Needs PyYAML (pip install pyyaml). Usage: scripts/check-openapi.py [--strict] [repository root]
(--strict is accepted for older callers; every check is strict.)
"""

import pathlib
import re
import sys

try:
    import yaml
except ImportError:
    sys.exit("check-openapi: PyYAML is missing (pip install pyyaml)")

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def main() -> int:
    arguments = [a for a in sys.argv[1:] if a != "--strict"]
    root = pathlib.Path(arguments[0]) if arguments else pathlib.Path(__file__).resolve().parent.parent
    document = yaml.safe_load((root / "openapi.yaml").read_text(encoding="utf-8"))
    problems = []

    if not str(document.get("openapi", "")).startswith("3.1"):
        problems.append(f"openapi.yaml declares openapi {document.get('openapi')!r}, expected 3.1.x")

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
    print(f"check-openapi: openapi.yaml is OpenAPI 3.1 with {len(document.get('paths') or {})} paths, each with its operations and parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
