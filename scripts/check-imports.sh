#!/bin/sh
# Checks that every `import` of a module of this package (or of a declared package product) in a
# target's sources is a declared direct dependency of that target in Package.swift. SwiftPM's
# --explicit-target-dependency-import-check misses modules reachable through another dependency;
# this check does not. Exits non-zero, naming file:line, target and module, on any violation.
# Usage: scripts/check-imports.sh [package directory]   (run by `make test`)
set -eu
cd "${1:-$(dirname "$0")/..}"
SWIFT="${SWIFT:-swift}"
manifest=$("$SWIFT" package dump-package) || {
  echo "check-imports: cannot read Package.swift (swift package dump-package failed)" >&2
  exit 2
}
printf '%s' "$manifest" | python3 -c '
import json, os, re, sys

package = json.load(sys.stdin)
targets = {t["name"]: t for t in package["targets"]}
products = set()
for target in package["targets"]:
    for dep in target.get("dependencies", []):
        if "product" in dep:
            products.add(dep["product"][0])

def declared(target):
    names = set()
    for dep in target.get("dependencies", []):
        for kind in ("byName", "target", "product"):
            if kind in dep:
                names.add(dep[kind][0])
    return names

pattern = re.compile(r"^\s*(?:@testable\s+|@_exported\s+|@preconcurrency\s+|@_implementationOnly\s+)*import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)")
problems = []
for name, target in sorted(targets.items()):
    root = target.get("path") or os.path.join("Tests" if target["type"] == "test" else "Sources", name)
    allowed = declared(target) | {name}
    for directory, _, files in os.walk(root):
        for file in sorted(files):
            if not file.endswith(".swift"):
                continue
            path = os.path.join(directory, file)
            with open(path, encoding="utf-8") as source:
                for number, line in enumerate(source, 1):
                    match = pattern.match(line)
                    if not match:
                        continue
                    module = match.group(1)
                    if (module in targets or module in products) and module not in allowed:
                        problems.append(f"{path}:{number}: target {name} imports {module}, which is not among its dependencies in Package.swift")
if problems:
    print("\n".join(problems), file=sys.stderr)
    print(f"check-imports: {len(problems)} undeclared import(s); add each module to the target'"'"'s dependencies in Package.swift (or remove the import)", file=sys.stderr)
    sys.exit(1)
print(f"check-imports: every import of a package module is a declared dependency ({len(targets)} targets)")
'
