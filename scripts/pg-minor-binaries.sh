#!/usr/bin/env bash
# PostgreSQL 15 minor versions side by side, for the rolling-upgrade tests
# and benches: each version's server package from Debian's archive
# (`apt-get download`), unpacked with `dpkg -x` into DIR/<version> (its
# binaries in DIR/<version>/usr/lib/postgresql/15/bin). The system's own
# installation is not touched. Usage: pg-minor-binaries.sh DIR [VERSION...]
# (default: 15.18 and 15.20). Already unpacked versions are kept.
set -euo pipefail
dir=${1:?usage: pg-minor-binaries.sh DIR [VERSION...]}
shift
versions=("$@")
[[ ${#versions[@]} -gt 0 ]] || versions=(15.18 15.20)
mkdir -p "$dir/debs"
chmod 0777 "$dir/debs"  # apt downloads as its _apt user
for version in "${versions[@]}"; do
  target="$dir/$version"
  if [[ -x $target/usr/lib/postgresql/15/bin/postgres ]]; then continue; fi
  # The package's full version, e.g. 15.20-0+deb12u1, from what apt knows.
  full=$(apt-cache madison postgresql-15 | awk -v v="$version" '$3 ~ "^"v"-" {print $3; exit}')
  if [[ -z $full ]]; then
    echo "pg-minor-binaries.sh: apt knows no postgresql-15 $version (apt-get update?); it knows:" >&2
    apt-cache madison postgresql-15 >&2 || true
    exit 1
  fi
  (cd "$dir/debs" && apt-get download -q "postgresql-15=$full" >/dev/null)
  rm -rf "$target.partial"
  dpkg -x "$dir/debs/postgresql-15_${full//:/%3a}_"*.deb "$target.partial"
  mv "$target.partial" "$target"
  echo "$version: $("$target/usr/lib/postgresql/15/bin/postgres" --version)"
done
