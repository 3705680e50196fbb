#!/usr/bin/python3
"""Every #include "AREA/..." in rig's sources must name the area itself or one it depends on,
as CMakeLists.txt's rig_area(NAME DIR DEPS ...) lines declare (the one statement of the layer
graph). cli sits above all areas. The README's diagram ("How the code is organised") must
name every area, each after the areas it depends on. Prints each violation; exit 1 if any.

Usage: check_layers.py [REPO_ROOT]"""
import os
import re
import sys

root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
cmake = open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8").read()
areas, deps = {}, {}
for m in re.finditer(r"^rig_area\((\w+)\s+(\S+)([^)]*)\)", cmake, re.M):
    name, directory, rest = m.group(1), m.group(2), m.group(3)
    areas[name] = directory
    d = re.search(r"DEPS\s+(.*?)(?:\s+LIBS\b|$)", rest.strip())
    deps[name] = d.group(1).split() if d else []
if not areas:
    sys.exit(f"{root}/CMakeLists.txt: no rig_area(...) lines found")


def closure(name, seen=None):
    seen = set() if seen is None else seen
    if name not in seen:
        seen.add(name)
        for d in deps[name]:
            closure(d, seen)
    return seen


# An include's first path component -> its area ("rig/version.h" is generated into core).
prefix_area = {os.path.basename(d.rstrip("/")): a for a, d in areas.items()}
prefix_area["rig"] = "core"
owners = dict(areas, cli="src/cli")
allowed = {a: closure(a) for a in areas}
allowed["cli"] = set(areas) | {"cli"}

violations, checked = [], 0
for area, directory in owners.items():
    for dirpath, _, files in os.walk(os.path.join(root, directory)):
        for fn in sorted(files):
            if not fn.endswith((".cc", ".h")):
                continue
            path = os.path.join(dirpath, fn)
            for i, line in enumerate(open(path, encoding="utf-8"), 1):
                m = re.match(r'\s*#\s*include\s+"([^/"]+)/', line)
                if not m or m.group(1) not in prefix_area:
                    continue
                checked += 1
                target = prefix_area[m.group(1)]
                if target not in allowed[area]:
                    violations.append(f"{os.path.relpath(path, root)}:{i}: area '{area}' includes "
                                      f"'{m.group(1)}/...' (area '{target}'), which is not among its DEPS "
                                      f"({', '.join(sorted(allowed[area] - {area})) or 'none'})")
# The README's diagram: the first code block after "The dependency direction".
readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
m = re.search(r"The dependency direction.*?```\n(.*?)```", readme, re.S)
if not m:
    violations.append("README.md: no layer diagram after 'The dependency direction'")
else:
    order = []
    for word in re.findall(r"[a-z_]+", m.group(1)):
        if word in areas and word not in order:
            order.append(word)
    for a in areas:
        if a not in order:
            violations.append(f"README.md: the layer diagram does not name area '{a}'")
        else:
            late = [d for d in deps[a] if d in order and order.index(d) > order.index(a)]
            if late:
                violations.append(f"README.md: the layer diagram names '{a}' before its DEPS {late}")
for v in violations:
    print(v)
print(f"{checked} includes in {len(owners)} areas checked against CMakeLists.txt's layer graph: "
      f"{len(violations)} violations")
sys.exit(1 if violations else 0)
