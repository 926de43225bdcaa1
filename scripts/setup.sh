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

# End-to-end tests drive Debian's Chromium through chromedriver.
ensure_browser() {
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "bake: installing chromium and chromium-driver" >&2
    apt_install chromium chromium-driver
  fi
}
