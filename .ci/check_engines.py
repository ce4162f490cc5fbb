"""Fail CI when the TaskVine tests did not run (or were skipped): they need the cctools build."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

ENGINES = {"taskvine": 10}  # engine -> tests that must have passed at least

cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
passed: dict[str, int] = dict.fromkeys(ENGINES, 0)
problems = []
for case in cases:
    name = f"{case.get('classname')}.{case.get('name')}".lower()
    for engine in ENGINES:
        if engine not in name:
            continue
        outcome = [child.tag for child in case if child.tag in ("skipped", "failure", "error")]
        if outcome:
            problems.append(f"{name}: {outcome[0]}")
        else:
            passed[engine] += 1
for engine, needed in ENGINES.items():
    if passed[engine] < needed:
        problems.append(f"only {passed[engine]} {engine} tests passed (at least {needed} expected)")
if problems:
    print("engine tests did not all run:", *problems, sep="\n  ")
    sys.exit(1)
print("engine tests ran:", ", ".join(f"{k} {v} passed" for k, v in passed.items()))
