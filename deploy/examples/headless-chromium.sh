# Sourced by the scripts that drive headless Chromium (swagger-ui-check.sh, the trace view):
# `headless_chromium CACHE_DIR` checks Node.js, installs Chromium from Debian's package when
# missing (as root), and installs playwright-core, at the version locked in
# deploy/examples/swagger-ui-check/package-lock.json, into CACHE_DIR/node_modules (never a
# browser download). The caller defines `say`, `die`, `root` and `CHROMIUM`.

headless_chromium() {
  local cache_dir="$1"
  local lock_dir
  lock_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/swagger-ui-check"

  # Node.js: a prerequisite, not installed here.
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    die "node and npm are required: install Node.js 20 or later (https://nodejs.org)"
  fi
  local node_major
  node_major="$(node -p 'process.versions.node.split(".")[0]')"
  ((node_major >= 20)) || die "Node.js 20 or later is required, found $(node --version)"

  # Chromium: Debian's package, installed with apt-get when we are root.
  if [[ ! -x "$CHROMIUM" ]]; then
    if [[ "$CHROMIUM" == /usr/bin/chromium && "$EUID" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      say "installing Chromium (Debian package chromium)"
      export DEBIAN_FRONTEND=noninteractive
      apt-get -o DPkg::Lock::Timeout=600 update -q
      apt-get -o DPkg::Lock::Timeout=600 install -y -q chromium
    else
      die "no Chromium at $CHROMIUM: install it (Debian/Ubuntu: apt-get install chromium) or set CHROMIUM to a Chrome/Chromium binary"
    fi
  fi

  # playwright-core: reinstalled whenever the committed lock file changes. `npm ci` installs
  # exactly what the lock file names; PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD and --ignore-scripts make
  # sure no browser is downloaded.
  mkdir -p "$cache_dir"
  if [[ ! -f "$cache_dir/node_modules/playwright-core/package.json" ]] ||
    ! cmp -s "$lock_dir/package-lock.json" "$cache_dir/package-lock.json"; then
    say "installing playwright-core into ${cache_dir#"$root"/}"
    cp "$lock_dir/package.json" "$lock_dir/package-lock.json" "$cache_dir/"
    (cd "$cache_dir" &&
      PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
}
