# Sourced by scripts/run and scripts/test: installs the Debian packages
# portcullis needs, only those missing, so a fresh Debian 12 machine works.

build_packages=(build-essential meson ninja-build pkg-config libmilter-dev libunbound-dev libevent-dev liblmdb-dev libhiredis-dev libpsl-dev publicsuffix libopendkim-dev libssl-dev
    libboost-program-options-dev doctest-dev nlohmann-json3-dev libyaml-cpp-dev dns-root-data libsystemd-dev libmicrohttpd-dev)
test_packages=(postfix redis-server swaks miltertest nsd ldnsutils dnsutils python3 python3-yaml python3-dkim python3-nacl groff-base man-db
    clang-format debhelper lintian dpkg-dev fakeroot curl)
fuzz_packages=(clang libclang-rt-14-dev)
# The Sendmail cases run Debian's sendmail-bin unpacked (fetch_sendmail):
# m4 builds the .cf, the rest are the libraries sendmail-bin links.
test_packages+=(m4 libwrap0 libdb5.3 libldap-2.5-0 liblockfile1 libnsl2 libsasl2-2 libssl3)

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

# fetch_sendmail DIR: Debian's sendmail-bin and sendmail-cf unpacked into
# DIR (DIR/usr/libexec/sendmail/sendmail, DIR/usr/share/sendmail/cf), for
# the integration tests' private Sendmail. sendmail-bin conflicts with
# postfix (both provide mail-transport-agent), so it is never installed:
# `apt-get download` and `dpkg-deb -x` leave the system's MTA alone.
# Does nothing when DIR already holds both; needs apt (and root for apt-get
# update when the package lists are missing).
fetch_sendmail() {
    local dir=$1 scratch deb
    [ -x "$dir/usr/libexec/sendmail/sendmail" ] && [ -f "$dir/usr/share/sendmail/cf/m4/cf.m4" ] &&
        return 0
    scratch=$(mktemp -d) || return 1
    # _apt downloads into the directory; without access apt warns and works as root.
    chmod 0755 "$scratch"
    if ! (cd "$scratch" && apt-get download -qq sendmail-bin sendmail-cf >/dev/null 2>&1); then
        [ "$(id -u)" -eq 0 ] && apt-get update -qq >/dev/null 2>&1
        (cd "$scratch" && apt-get download -qq sendmail-bin sendmail-cf >/dev/null 2>&1) ||
            { rm -rf "$scratch"; return 1; }
    fi
    local status=0
    rm -rf "$dir.new"
    mkdir -p "$dir.new" 2>/dev/null || status=1
    for deb in "$scratch"/*.deb; do
        [ $status -eq 0 ] && { dpkg-deb -x "$deb" "$dir.new" || status=1; }
    done
    [ $status -eq 0 ] && { rm -rf "$dir" && mv "$dir.new" "$dir" || status=1; }
    rm -rf "$scratch" "$dir.new"
    return $status
}
