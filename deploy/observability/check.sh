#!/usr/bin/env bash
# Checks the observability configuration and the compose file, offline (no
# Docker engine needed):
#   - promtool check config   prometheus.yml (and the rule files it loads)
#   - promtool check rules    alerts.yml
#   - promtool test rules     alerts.test.yml (unit tests of the alerts)
#   - check-dashboard.py      Grafana dashboards against the metric catalogue
#   - the collector pipelines and the Grafana provisioning files (with PyYAML)
#   - docker-compose config   docker-compose.yml at the repository root
#
# Usage: deploy/observability/check.sh   (from anywhere)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
OBS="deploy/observability"

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'check: %s\n' "$*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------
missing=()
command -v promtool >/dev/null 2>&1 \
  || missing+=("promtool: apt-get install prometheus (Debian/Ubuntu), or promtool from a Prometheus release")
command -v python3 >/dev/null 2>&1 \
  || missing+=("python3: apt-get install python3")
COMPOSE=()
if command -v docker-compose >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
elif command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
else
  missing+=("docker-compose: apt-get install docker-compose (or the Docker Compose plugin, docker compose)")
fi
if ((${#missing[@]})); then
  printf 'check: missing tools:\n' >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi

cd "$REPO_ROOT"

step "promtool check config $OBS/prometheus.yml"
promtool check config "$OBS/prometheus.yml" || fail "prometheus.yml is not valid"

step "promtool check rules $OBS/alerts.yml"
promtool check rules "$OBS/alerts.yml" || fail "alerts.yml is not valid"

step "promtool test rules $OBS/alerts.test.yml"
promtool test rules "$OBS/alerts.test.yml" || fail "alert unit tests failed"

step "check-dashboard.py"
python3 "$OBS/check-dashboard.py" || fail "dashboard check failed"

step "collector and Grafana provisioning YAML"
if python3 -c 'import yaml' >/dev/null 2>&1; then
  python3 - "$OBS" <<'PY' || fail "collector or Grafana provisioning YAML is not valid"
import sys, yaml
obs = sys.argv[1]
cfg = yaml.safe_load(open(f"{obs}/otel-collector.yaml"))
service = cfg["service"]
for ext in service.get("extensions", []):
    assert ext in cfg.get("extensions", {}), f"extension {ext} is not defined"
for name, pipeline in service["pipelines"].items():
    for kind in ("receivers", "processors", "exporters"):
        for component in pipeline.get(kind, []):
            assert component in cfg.get(kind, {}), f"pipeline {name}: {kind[:-1]} {component} is not defined"
print(f"{obs}/otel-collector.yaml: OK (pipelines: {', '.join(service['pipelines'])})")
ds = yaml.safe_load(open(f"{obs}/grafana/provisioning/datasources/datasources.yml"))
uids = {d["uid"] for d in ds["datasources"]}
assert {"prometheus", "jaeger"} <= uids, f"data source uids: {sorted(uids)}"
providers = yaml.safe_load(open(f"{obs}/grafana/provisioning/dashboards/dashboards.yml"))["providers"]
assert any(p["options"]["path"] == "/var/lib/grafana/dashboards" for p in providers)
print(f"{obs}/grafana/provisioning: OK (data sources: {', '.join(sorted(uids))})")
PY
else
  echo "skipped: PyYAML is missing (pip install pyyaml, or apt-get install python3-yaml)"
fi

step "${COMPOSE[*]} -f docker-compose.yml config -q"
"${COMPOSE[@]}" -f docker-compose.yml config -q || fail "docker-compose.yml is not valid"
echo "docker-compose.yml: OK"

printf '\ncheck: all observability checks passed\n'
