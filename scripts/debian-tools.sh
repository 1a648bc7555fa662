# Debian tools the tests run but never install system-wide: nginx (the load balancer of the
# several-instances test) and promtool (it checks the metrics' exposition format). Their
# packages are downloaded with `apt-get download` and unpacked with `dpkg-deb -x` into
# target/tools/deb: no maintainer script runs, so no daemon is started and nothing outside the
# project is written. Source this file, then `debian_tools` exports CS_TEST_NGINX and
# CS_TEST_PROMTOOL.

debian_tools() {
    local root="$PWD/target/tools/deb"
    if [ ! -x "$root/usr/sbin/nginx" ] || [ ! -x "$root/usr/bin/promtool" ]; then
        echo "== fetching nginx and promtool (apt-get download; unpacked into $root, not installed)"
        local downloads
        downloads=$(mktemp -d)
        if ! (cd "$downloads" && apt-get download nginx prometheus >/dev/null 2>&1); then
            if [ "$(id -u)" -eq 0 ]; then
                apt-get update -qq
            fi
            (cd "$downloads" && apt-get download nginx prometheus >/dev/null) || {
                echo "cannot download Debian's nginx and prometheus packages (apt-get download)" >&2
                rm -rf "$downloads"
                return 1
            }
        fi
        mkdir -p "$root"
        for deb in "$downloads"/*.deb; do
            dpkg-deb -x "$deb" "$root"
        done
        rm -rf "$downloads"
    fi
    export CS_TEST_NGINX="$root/usr/sbin/nginx"
    export CS_TEST_PROMTOOL="$root/usr/bin/promtool"
}
