# Shared by scripts/quickstart.sh and scripts/test.sh (sourced, not run): finds what a fresh
# Debian machine with Rust lacks, says what it installs and why, and installs it. Installing
# Debian packages needs root; as another user the scripts stop and print the apt-get command.

# Debian packages still to install, and why each is needed.
missing_packages=()
missing_reasons=()

# Records `package` as missing, needed for `reason`.
want_package() {
    missing_packages+=("$1")
    missing_reasons+=("$1 ($2)")
}

# want_command PACKAGE COMMAND REASON: PACKAGE is needed unless COMMAND is on the PATH.
want_command() {
    command -v "$2" >/dev/null || want_package "$1" "$3"
}

# want_installed PACKAGE REASON: PACKAGE is needed unless dpkg has it installed.
want_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' ||
        want_package "$1" "$2"
}

# Whether PostgreSQL's server binaries are there: $PG_BIN_DIR, pg_config's, or Debian's.
has_postgresql_server() {
    local dir
    if [[ -n "${PG_BIN_DIR:-}" && -x "$PG_BIN_DIR/initdb" ]]; then
        return 0
    fi
    if command -v pg_config >/dev/null && dir="$(pg_config --bindir)" && [[ -x "$dir/initdb" ]]; then
        return 0
    fi
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

# What building and running the exporter against a throwaway cluster needs.
want_runtime_tools() {
    want_command gcc cc "the linker Rust uses"
    has_postgresql_server || want_package postgresql "the throwaway PostgreSQL clusters"
    want_command openssl openssl "certificates of the TLS clusters"
}

# Installs every recorded package with apt-get, saying which and why; as another user than
# root, stops with the command to run.
install_missing_packages() {
    if ((${#missing_packages[@]} == 0)); then
        return 0
    fi
    echo "==> missing Debian packages: ${missing_reasons[*]}"
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "install them as root: apt-get install ${missing_packages[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    echo "==> apt-get update"
    apt-get update
    echo "==> apt-get install ${missing_packages[*]}"
    # Debian's postgresql package may start its own cluster on port 5432; the clusters here
    # use free ports of their own, so it does not get in the way.
    apt-get install -y --no-install-recommends "${missing_packages[@]}"
    missing_packages=()
    missing_reasons=()
}

# Prints a step's title.
step() {
    echo "==> $*"
}
