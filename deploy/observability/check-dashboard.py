#!/usr/bin/env python3
"""Check the Grafana dashboards against the services' metric catalogue.

Usage: check-dashboard.py [DASHBOARD.json ...]
       (default: grafana/dashboards/*.json beside this script)

For every panel (panels inside collapsed rows included) it verifies that:
  * the panel's datasource, and the datasource of each of its targets, is the
    Prometheus data source with uid "prometheus";
  * the panel has at least one target with a PromQL expression;
  * every metric name in the expressions is in METRICS below (histograms may
    be used as NAME_bucket, NAME_sum and NAME_count only).
When promtool is on PATH it also parses every expression (Grafana variables
such as $__rate_interval replaced by a duration) with `promtool check rules`.

Exits 0 when everything is fine, 1 and a list of problems otherwise.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

DATASOURCE_UID = "prometheus"

# The metric catalogue of GET /metrics (order-service and product-service):
# name -> type. Keep in step with the services.
METRICS = {
    "http_server_request_duration_seconds": "histogram",
    "orders_placed_total": "counter",
    "orders_confirmed_total": "counter",
    "orders_rejected_total": "counter",
    "orders_cancelled_total": "counter",
    "orders_shipped_total": "counter",
    "orders_delivered_total": "counter",
    "order_confirmation_seconds": "histogram",
    "orders_pending_past_deadline": "gauge",
    "reservations_applied_total": "counter",
    "reservations_refused_total": "counter",
    "reservations_released_total": "counter",
    "outbox_backlog_messages": "gauge",
    "outbox_oldest_unpublished_age_seconds": "gauge",
    "outbox_published_total": "counter",
    "consumer_handling_duration_seconds": "histogram",
    "consumer_messages_total": "counter",
    "consumer_redeliveries_total": "counter",
    "consumer_dead_lettered_total": "counter",
    "consumer_message_age_seconds": "histogram",
    "queue_ready_messages": "gauge",
    "dead_letter_queue_messages": "gauge",
    "cache_requests_total": "counter",
    "circuit_breaker_state": "gauge",
    "db_pool_connections": "gauge",
    "db_pool_max_connections": "gauge",
    "db_pool_acquire_timeouts_total": "counter",
    "idempotency_replays_total": "counter",
}

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# PromQL words that look like identifiers but are not metric names.
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "offset", "and", "or", "unless", "atan2", "inf", "nan", "start", "end",
}


def allowed_names():
    names = set()
    for name, kind in METRICS.items():
        if kind == "histogram":
            names.update(name + suffix for suffix in HISTOGRAM_SUFFIXES)
        else:
            names.add(name)
    return names


GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
MATCHERS = re.compile(r"\{[^{}]*\}")
RANGE = re.compile(r"\[[^\[\]]*\]")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
IDENT = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?")


def metric_names(expr):
    """The metric names an expression selects (functions, keywords and labels left out)."""
    text = GRAFANA_VAR.sub("1m", expr)
    text = STRING.sub('""', text)
    text = MATCHERS.sub(" ", text)
    text = RANGE.sub(" ", text)
    text = GROUPING.sub(" ", text)
    names = []
    for match in IDENT.finditer(text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in KEYWORDS:
            continue
        names.append(word)
    return names


def iter_panels(panels):
    for panel in panels:
        yield panel
        # Collapsed rows carry their panels inside.
        yield from iter_panels(panel.get("panels", []))


def datasource_uid(ds):
    if isinstance(ds, dict):
        return ds.get("uid")
    return ds  # old style: the data source name or uid as a string


def check_dashboard(path, allowed, problems, expressions):
    try:
        with open(path, encoding="utf-8") as f:
            dashboard = json.load(f)
    except (OSError, ValueError) as e:
        problems.append(f"{path}: cannot load: {e}")
        return 0
    panels = list(iter_panels(dashboard.get("panels", [])))
    if not panels:
        problems.append(f"{path}: no panels")
    ids = set()
    for panel in panels:
        if panel.get("type") == "row":
            continue
        where = f"{path}: panel {panel.get('id')} \"{panel.get('title', '')}\""
        if panel.get("id") in ids:
            problems.append(f"{where}: duplicate panel id")
        ids.add(panel.get("id"))
        if datasource_uid(panel.get("datasource")) != DATASOURCE_UID:
            problems.append(f"{where}: datasource is not uid \"{DATASOURCE_UID}\": {panel.get('datasource')!r}")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{where}: no targets")
        for target in targets:
            ref = target.get("refId", "?")
            if "datasource" in target and datasource_uid(target["datasource"]) != DATASOURCE_UID:
                problems.append(f"{where} target {ref}: datasource is not uid \"{DATASOURCE_UID}\": {target['datasource']!r}")
            expr = (target.get("expr") or "").strip()
            if not expr:
                problems.append(f"{where} target {ref}: empty expression")
                continue
            expressions.append((f"{where} target {ref}", expr))
            names = metric_names(expr)
            if not names:
                problems.append(f"{where} target {ref}: no metric in {expr!r}")
            for name in names:
                if name not in allowed:
                    problems.append(f"{where} target {ref}: unknown metric {name!r} in {expr!r}")
    return len(panels)


def check_syntax(expressions, problems):
    """Parse the expressions with promtool, as recording rules."""
    promtool = shutil.which("promtool")
    if promtool is None or not expressions:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        rules = os.path.join(tmp, "dashboard-exprs.yml")
        with open(rules, "w", encoding="utf-8") as f:
            f.write("groups:\n  - name: dashboard\n    rules:\n")
            for n, (_, expr) in enumerate(expressions):
                f.write(f"      - record: dashboard:expr_{n}\n")
                f.write(f"        expr: {json.dumps(GRAFANA_VAR.sub('1m', expr))}\n")
        result = subprocess.run([promtool, "check", "rules", rules], capture_output=True, text=True)
        if result.returncode != 0:
            output = result.stdout + result.stderr
            failed = sorted({int(n) for n in re.findall(r"dashboard:expr_(\d+)", output)})
            located = "".join(f"\n  dashboard:expr_{n} is {expressions[n][0]}" for n in failed)
            problems.append("promtool cannot parse a dashboard expression:\n" + output.rstrip() + located)
    return True


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    paths = argv[1:] or sorted(glob.glob(os.path.join(here, "grafana", "dashboards", "*.json")))
    if not paths:
        print("check-dashboard: no dashboard found", file=sys.stderr)
        return 1
    allowed = allowed_names()
    problems, expressions = [], []
    for path in paths:
        count = check_dashboard(path, allowed, problems, expressions)
        shown = os.path.relpath(path)
        print(f"check-dashboard: {path if shown.startswith('..') else shown}: {count} panels")
    parsed = check_syntax(expressions, problems)
    if problems:
        for problem in problems:
            print(f"check-dashboard: {problem}", file=sys.stderr)
        print(f"check-dashboard: FAILED, {len(problems)} problem(s)", file=sys.stderr)
        return 1
    how = ", parsed by promtool" if parsed else ""
    print(f"check-dashboard: OK, {len(expressions)} expressions use only catalogued metrics{how}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
