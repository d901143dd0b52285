#!/usr/bin/env bash
# Install upkeep-agent on this host: its own virtual environment, a system user, the config,
# the hardened systemd unit; optionally enroll with the collector; then enable and start it.
#
#   sudo deploy/install-agent.sh [--collector URL --token ENROLLMENT_TOKEN] [--ca-file FILE]
#                                [--source PIP_SPEC] [--config FILE] [--no-start]
#
# --source   what pip installs (default: the checkout this script lives in). The agent needs
#            only its base dependencies (psutil, pyyaml, prometheus-client), never the collector's.
# --config   an agent.yaml to install (default: deploy/agent.yaml, unless one is already there).
# --ca-file  the CA certificate of the collector, copied to /etc/upkeep/collector-ca.pem.
# Running it again upgrades the agent in place and keeps the config, the identity and the spool.
set -euo pipefail

PREFIX=/opt/upkeep-agent
CONF_DIR=/etc/upkeep
CONFIG=$CONF_DIR/agent.yaml
STATE_DIR=/var/lib/upkeep-agent
UNIT=/etc/systemd/system/upkeep-agent.service
AGENT_USER=upkeep-agent
HERE=$(cd "$(dirname "$0")" && pwd)

source_spec="$HERE/.."
config_src=""
collector=""
token=""
ca_file=""
start=yes

die() { echo "install-agent: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --collector) collector=${2:?--collector needs a URL}; shift 2 ;;
    --token) token=${2:?--token needs the enrollment token}; shift 2 ;;
    --ca-file) ca_file=${2:?--ca-file needs a file}; shift 2 ;;
    --source) source_spec=${2:?--source needs a pip spec}; shift 2 ;;
    --config) config_src=${2:?--config needs a file}; shift 2 ;;
    --no-start) start=no; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ "$(id -u)" = 0 ] || die "run as root (it creates a user, /opt/upkeep-agent and a systemd unit)"
if [ -n "$token" ] && [ -z "$collector" ]; then die "--token needs --collector"; fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "python 3.11 or newer is required"

if ! id "$AGENT_USER" >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir "$STATE_DIR" --shell /usr/sbin/nologin "$AGENT_USER"
fi

if [ ! -x "$PREFIX/bin/python" ]; then
  python3 -m venv "$PREFIX" || die "python3 cannot create a virtual environment (install python3-venv)"
fi
"$PREFIX/bin/python" -m pip install --quiet --upgrade pip
"$PREFIX/bin/python" -m pip install --quiet --upgrade "$source_spec"

install -d -m 0755 "$CONF_DIR"
if [ -n "$ca_file" ]; then
  install -m 0644 "$ca_file" "$CONF_DIR/collector-ca.pem"
fi
if [ -n "$config_src" ]; then
  install -m 0640 -g "$AGENT_USER" "$config_src" "$CONFIG"
elif [ ! -e "$CONFIG" ]; then
  install -m 0640 -g "$AGENT_USER" "$HERE/agent.yaml" "$CONFIG"
fi
if [ -n "$ca_file" ] && ! grep -q '^ *ca_file:' "$CONFIG"; then
  if grep -q '^collector:' "$CONFIG"; then
    sed -i "s|^collector:.*|collector:\n  ca_file: $CONF_DIR/collector-ca.pem|" "$CONFIG"
  else
    printf '\ncollector:\n  ca_file: %s\n' "$CONF_DIR/collector-ca.pem" >> "$CONFIG"
  fi
fi

install -d -m 0700 -o "$AGENT_USER" -g "$AGENT_USER" "$STATE_DIR"
run_as_agent() { runuser -u "$AGENT_USER" -- "$PREFIX/bin/upkeep-agent" "$@"; }
run_as_agent check-config --config "$CONFIG"
if [ -n "$token" ]; then
  run_as_agent enroll --config "$CONFIG" "$collector" "$token"
fi

install -m 0644 "$HERE/systemd/upkeep-agent.service" "$UNIT"
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  if [ "$start" = yes ]; then
    systemctl enable --now upkeep-agent.service
    systemctl restart upkeep-agent.service
    echo "upkeep-agent installed and running: journalctl -u upkeep-agent -f"
  else
    systemctl enable upkeep-agent.service
    echo "upkeep-agent installed and enabled; start it with: systemctl start upkeep-agent"
  fi
else
  echo "upkeep-agent installed; systemd is not running here, start it with:"
  echo "  runuser -u $AGENT_USER -- $PREFIX/bin/upkeep-agent run --config $CONFIG"
fi
