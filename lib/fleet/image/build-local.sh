#!/usr/bin/env bash
# Builds the modelmount image without a registry: FROM scratch with this machine's `node` binary (and the
# shared libraries it links), busybox-static as /bin/sh, and modelmount's bundle built self-contained by
# scripts/build.mjs (every dependency inside, so no node_modules). Same entry point as lib/fleet/image/Dockerfile.
# Usage: lib/fleet/image/build-local.sh [IMAGE]   (default modelmount:local; NODE=/path/to/node picks the binary)
# Prints the image name on success.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
image=${1:-modelmount:local}
node_bin=$(readlink -f "${NODE:-$(command -v node)}")
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "busybox-static is needed (apt-get install busybox-static)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fs="$work/rootfs"
mkdir -p "$fs/bin" "$fs/usr/local/bin" "$fs/opt/modelmount" "$fs/tmp" "$fs/root" "$fs/etc"
chmod 1777 "$fs/tmp"
cp "$busybox" "$fs/bin/busybox"
for applet in sh cat ls mkdir rm sha256sum test env; do ln -s busybox "$fs/bin/$applet"; done
cp "$node_bin" "$fs/usr/local/bin/node"
# the dynamic loader and every library node links
for lib in $(ldd "$node_bin" | grep -o '/[^ ]*'); do
  mkdir -p "$fs$(dirname "$lib")"
  cp -L "$lib" "$fs$lib"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$fs/etc/passwd"
printf 'root:x:0:\n' >"$fs/etc/group"
# the bundle reads ../../package.json (its version) as it does in a checkout: same layout, dist/cli/
cp "$root/package.json" "$fs/opt/modelmount/package.json"
node "$root/scripts/build.mjs" --self-contained "$fs/opt/modelmount/dist/cli" >/dev/null
cat >"$fs/usr/local/bin/modelmount" <<'SH'
#!/bin/sh
exec /usr/local/bin/node /opt/modelmount/dist/cli/modelmount.mjs "$@"
SH
chmod +x "$fs/usr/local/bin/modelmount"
cat >"$work/Dockerfile" <<'DF'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin:/bin HOME=/root
ENTRYPOINT ["/usr/local/bin/node", "/opt/modelmount/dist/cli/modelmount.mjs"]
DF
docker build -q -t "$image" "$work" >/dev/null 2>"$work/build.err" || { cat "$work/build.err" >&2; exit 1; }
echo "$image"
