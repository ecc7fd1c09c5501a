"""The shipped alert rules (packaging/prometheus/) use metrics and labels pykeepalived serves,
and behave as their promtool unit tests say.

The first half needs no Prometheus: it reads every metric name and label name out of the
rules and their test series and checks them against a real scrape (the old docs grouped by a
``vrid`` label no metric had; this is the test that would have caught it). The second half
runs ``promtool check rules`` and ``promtool test rules``; it is skipped only where promtool
is missing (Debian: ``apt-get install prometheus``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.daemon.test_metrics_families import (
    RicherView,
    render_page,
    scrape,
    two_instances,
)

RULES_DIR = Path(__file__).resolve().parents[3] / "packaging" / "prometheus"
RULES = RULES_DIR / "pykeepalived-alerts.yml"
RULE_TESTS = RULES_DIR / "pykeepalived-alerts.test.yml"
DOCS = Path(__file__).resolve().parents[3] / "docs"
#: Labels Prometheus adds to every series of a target.
TARGET_LABELS = {"job", "instance"}
#: Series that Prometheus makes itself.
PROMETHEUS_SERIES = {"up": set[str]()}

METRIC = re.compile(r"\b((?:pykeepalived|keepalived|process)_[a-z_]+|up)\b")
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
MATCHER = re.compile(r"([a-z_]+)\s*(?:=~|!~|!=|=)\s*\"")
AGGREGATION_BY = re.compile(r"\b(?:sum|max|min|count|avg)\s+by\s*\(([^)]*)\)")


def served() -> dict[str, set[str]]:
    """Metric name -> the label names its series have on a real page."""
    out: dict[str, set[str]] = {}
    for name, series in scrape(RicherView(two_instances())).items():
        out[name] = set().union(*(set(labels) for labels, _ in series)) if series else set()
    return out


def alerts() -> list[tuple[str, str, str]]:
    """(alert name, its expression, its annotations' text) for each rule in the file."""
    text = RULES.read_text()
    blocks = re.split(r"^\s*- alert: ", text, flags=re.MULTILINE)[1:]
    out = []
    for block in blocks:
        name = block.split("\n", 1)[0].strip()
        m = re.search(r"^(\s*)expr: (.*?)\n(?=\1\S)", block, re.MULTILINE | re.DOTALL)
        assert m, block
        expr = m.group(2).removeprefix(">-").strip()
        expr = " ".join(line.strip() for line in expr.splitlines())
        annotations = block[block.index("annotations:"):]
        out.append((name, expr, annotations))
    return out


def test_rules_parse_as_expected() -> None:
    names = [name for name, _, _ in alerts()]
    assert names == ["VRRPMasterCountNotOne", "VRRPSplitBrain", "VRRPSplitBrainSeen",
                     "VRRPInstanceFault", "VRRPFlapping", "VRRPVipRemovalFailing",
                     "PyKeepalivedDown"]


def test_rules_use_only_served_metrics_and_their_labels() -> None:
    have = {**served(), **PROMETHEUS_SERIES}
    for alert, expr, notes in alerts():
        used = set(METRIC.findall(expr))
        assert used, (alert, expr)
        missing = used - have.keys()
        assert not missing, f"{alert}: no such metric {missing}"
        labels = TARGET_LABELS.union(*(have[m] for m in used))
        named = {lab.strip() for _, group in GROUPING.findall(expr)
                 for lab in group.split(",") if lab.strip()}
        named |= set(MATCHER.findall(expr))
        assert named <= labels, f"{alert}: {named - labels} is on none of {used}"
        # What the alert's annotations may name: what the expression's result keeps.
        kept = AGGREGATION_BY.search(expr)
        result = ({lab.strip() for lab in kept.group(1).split(",")} if kept else labels)
        templated = set(re.findall(r"\$labels\.([a-z_]+)", notes))
        assert templated <= result, f"{alert}: annotations name {templated - result}"


def test_rule_tests_feed_series_labelled_as_served() -> None:
    have = {**served(), **PROMETHEUS_SERIES}
    series = re.findall(r"series: '([a-z_]+)\{([^}]*)\}'", RULE_TESTS.read_text())
    assert len(series) > 10
    for name, labels in series:
        assert name in have, name
        names = {pair.split("=", 1)[0] for pair in labels.split(",")}
        assert names - TARGET_LABELS == have[name], (name, names)


def test_docs_name_every_alert_and_every_exporter_metric() -> None:
    metrics_md = (DOCS / "metrics.md").read_text()
    operations_md = (DOCS / "operations.md").read_text()
    for alert, _, _ in alerts():
        assert f"`{alert}`" in metrics_md and f"`{alert}`" in operations_md, alert
    assert RULES.name in metrics_md and RULES.name in operations_md
    for name in served():
        if name.startswith("keepalived_"):
            assert f"`{name}`" in metrics_md, name


promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(promtool is None,
                                    reason="promtool missing (Debian package prometheus)")


@needs_promtool
def test_promtool_check_rules() -> None:
    assert promtool
    proc = subprocess.run([promtool, "check", "rules", RULES.name], cwd=RULES_DIR,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_promtool
def test_promtool_test_rules() -> None:
    assert promtool
    proc = subprocess.run([promtool, "test", "rules", RULE_TESTS.name], cwd=RULES_DIR,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_promtool
def test_promtool_lints_the_page() -> None:
    assert promtool
    page = render_page(RicherView(two_instances()))
    proc = subprocess.run([promtool, "check", "metrics"], input=page, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
