#!/bin/sh
# Screenshots of the agency desk window: seeds a demo database through the core library, opens
# each view under Xvfb and captures the screen. Needs: xvfb, imagemagick (import), Mesa GL.
#   docs/screenshots/take-agency-client.sh
set -eu
cd "$(dirname "$0")/../.."
out=docs/screenshots
demo=$(mktemp -d)
trap 'rm -rf "$demo"; [ -n "${xvfb:-}" ] && kill "$xvfb" 2>/dev/null || true' EXIT
AGENCY_CLIENT_DEMO_DIR="$demo" cargo test -q -p agency-client --test gui -- --ignored seed_demo_database
cargo build -q -p agency-client --bin agency-client
bin="${CARGO_TARGET_DIR:-target}/debug/agency-client"
display=:${SCREENSHOT_DISPLAY:-77}
Xvfb "$display" -screen 0 1100x720x24 >/dev/null 2>&1 &
xvfb=$!
sleep 2
for view in listings customers hints sync certificate; do
    DISPLAY=$display LIBGL_ALWAYS_SOFTWARE=1 "$bin" --data-dir "$demo" gui --view "$view" &
    pid=$!
    sleep "${SCREENSHOT_WAIT:-6}"
    DISPLAY=$display import -window root "$out/agency-client-$view.png"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
done
echo "screenshots in $out"
