# Shared by scripts/test and scripts/demo (sourced, not run).
#
# step TEXT: a heading line.
# install_interop_packages: the Debian packages of the interop peers
#   (bird2 frr gobgpd exabgp iproute2 iputils-ping procps), only those
#   missing, only as root; TWILL_SKIP_NETNS=1 skips them. The caller names
#   itself in messages with TWILL_SCRIPT (default: scripts/test).

step() { printf '\n== %s\n' "$*"; }

# The interop suite's peers: one command per package, checked with
# `command -v` so that a second run installs nothing and costs nothing.
install_interop_packages() {
  local -A wanted=(
    [bird]=bird2 [birdc]=bird2
    [vtysh]=frr [/usr/lib/frr/zebra]=frr [/usr/lib/frr/bgpd]=frr
    [gobgpd]=gobgpd [gobgp]=gobgpd
    [exabgp]=exabgp
    [ip]=iproute2
    [ping]=iputils-ping
    [pgrep]=procps
  )
  local missing=() cmd pkg
  for cmd in "${!wanted[@]}"; do
    pkg=${wanted[$cmd]}
    if ! command -v "$cmd" >/dev/null 2>&1 && [[ " ${missing[*]} " != *" $pkg "* ]]; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "${TWILL_SKIP_NETNS:-}" = 1 ]; then
    echo "${TWILL_SCRIPT:-scripts/test}: TWILL_SKIP_NETNS=1: not installing ${missing[*]} (interop tests will skip)"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "${TWILL_SCRIPT:-scripts/test}: the interop suite needs ${missing[*]}, and installing them needs root" >&2
    echo "  (run as root, install them yourself, or set TWILL_SKIP_NETNS=1 to skip the interop suite)" >&2
    exit 1
  fi
  step "installing Debian packages: ${missing[*]}"
  # No init system here: keep the packages' maintainer scripts from starting
  # bird/frr in the root namespace (invoke-rc.d honours policy-rc.d's 101).
  local own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
  # Belt and braces: anything the packages started anyway is stopped by PID.
  local name pid
  for name in bird zebra bgpd watchfrr staticd mgmtd gobgpd exabgp; do
    for pid in $(pgrep -x "$name" || true); do
      if [ "$(readlink /proc/"$pid"/ns/net)" = "$(readlink /proc/self/ns/net)" ]; then
        echo "${TWILL_SCRIPT:-scripts/test}: stopping $name (pid $pid), started by the package install"
        kill "$pid" 2>/dev/null || true
      fi
    done
  done
}
