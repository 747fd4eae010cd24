# Sourced by scripts/run and scripts/test: installs the Debian packages
# portcullis needs, only those missing, so a fresh Debian 12 machine works.

build_packages=(build-essential meson ninja-build pkg-config libmilter-dev libunbound-dev libevent-dev liblmdb-dev libhiredis-dev libpsl-dev publicsuffix libopendkim-dev
    libboost-program-options-dev doctest-dev nlohmann-json3-dev libyaml-cpp-dev dns-root-data libsystemd-dev)
test_packages=(postfix redis-server swaks miltertest nsd ldnsutils dnsutils python3 python3-yaml python3-dkim python3-nacl groff-base man-db
    clang-format debhelper lintian dpkg-dev fakeroot)
fuzz_packages=(clang libclang-rt-14-dev)

ensure_packages() {
    local missing=()
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q '^install ok installed$' ||
            missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: ${missing[*]} (run as root to install them)" >&2
        return 1
    fi
    echo "installing: ${missing[*]}"
    # Postfix asks how to configure itself; the tests run their own instance.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
