#!/usr/bin/env bash
# Installs every build and test dependency of pgtandem from Debian 12 packages.
# Safe to run twice; needs root (it calls apt-get).
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache git clang libclang-rt-14-dev
  libpqxx-dev libpq-dev libyaml-cpp-dev
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libssh-dev libspdlog-dev libfmt-dev libcli11-dev libzstd-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libgtest-dev libgmock-dev prometheus-cpp-dev
  postgresql-15 postgresql-client-15
  etcd-server etcd-client haproxy
  iproute2 nftables procps util-linux curl openssl openssh-server openssh-client
  prometheus
)

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh: must run as root (uses apt-get)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Debian starts the packaged services; our tests start their own on free ports.
for svc in etcd haproxy postgresql ssh prometheus prometheus-node-exporter; do
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
done
echo "install-deps.sh: all dependencies present"
