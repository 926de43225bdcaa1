# Shared by scripts/demo and scripts/test: install what a fresh machine lacks.
# Sourced, not run. Every step is skipped when its tool is already there.

apt_install() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
      echo "bake: please install these Debian packages (or run as root): $*" >&2; return 1
    fi
  fi
  if [ -z "${BAKE_APT_UPDATED:-}" ]; then
    $sudo apt-get update -qq
    export BAKE_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The browser-side crate compiles for wasm32, and sqlite-wasm-rs builds SQLite with clang.
ensure_build_tools() {
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    echo "bake: adding the wasm32-unknown-unknown target" >&2
    rustup target add wasm32-unknown-unknown
  fi
  if ! command -v clang >/dev/null; then
    echo "bake: installing clang" >&2
    apt_install clang
  fi
}

# scripts/test formats and lints with rustfmt and clippy (rustup's default profile has both).
ensure_lint_tools() {
  if command -v rustup >/dev/null; then
    local have
    have="$(rustup component list --installed 2>/dev/null || true)"
    for c in rustfmt clippy; do
      if ! grep -q "^$c" <<<"$have"; then
        echo "bake: adding the $c component" >&2
        rustup component add "$c"
      fi
    done
  fi
}

# End-to-end tests drive Debian's Chromium through chromedriver.
ensure_browser() {
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "bake: installing chromium and chromium-driver" >&2
    apt_install chromium chromium-driver
  fi
}

# The accessibility tests run axe-core (from the npm registry, checked against its hash) in
# each page kind; unpacked under target/ so a clean clone fetches it once.
AXE_VERSION=4.11.0
AXE_SHA256=e9e5863c33a874f09bc01acd9234b7e3c871479f5eef8802fa582544465e6d01
ensure_axe() {
  local dir="${CARGO_TARGET_DIR:-target}/axe-core-$AXE_VERSION"
  if [ ! -f "$dir/axe.min.js" ]; then
    command -v curl >/dev/null || apt_install curl
    echo "bake: fetching axe-core $AXE_VERSION" >&2
    mkdir -p "$dir"
    curl -sSfL "https://registry.npmjs.org/axe-core/-/axe-core-$AXE_VERSION.tgz" |
      tar xz -C "$dir" --strip-components=1 package/axe.min.js
    echo "$AXE_SHA256  $dir/axe.min.js" | sha256sum -c --quiet
  fi
  export BAKE_AXE_JS
  BAKE_AXE_JS="$(cd "$dir" && pwd)/axe.min.js"
}

# ensure_browser in the background, so the download and unpacking overlap with compiling
# (clang, from ensure_build_tools, must be installed before: apt has one lock). Its output
# goes to a file, shown if it fails; wait_browser_install waits for it and fails with it.
start_browser_install() {
  BAKE_BROWSER_LOG="$(mktemp)"
  ensure_browser >"$BAKE_BROWSER_LOG" 2>&1 &
  BAKE_BROWSER_PID=$!
}

wait_browser_install() {
  [ -n "${BAKE_BROWSER_PID:-}" ] || return 0
  local pid=$BAKE_BROWSER_PID status=0
  BAKE_BROWSER_PID=""
  wait "$pid" || status=$?
  cat "$BAKE_BROWSER_LOG" >&2
  rm -f "$BAKE_BROWSER_LOG"
  if [ "$status" != 0 ]; then
    echo "bake: installing chromium and chromium-driver failed (exit $status)" >&2
    return "$status"
  fi
}
