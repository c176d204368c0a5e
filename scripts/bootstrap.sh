#!/usr/bin/env bash
# Installs everything tickgraph needs on Debian 12: the Debian packages (C++ toolchain and
# libraries, Python for tests and benches, Chromium for the browser tests), the npm packages in
# scripts/deps (TA-Lib's C source as a test oracle, the S&P 500 demo data set) and those of the
# web UI in web/. Idempotent: when all is present it only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  cmake ninja-build ccache g++ pkg-config git
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev
  libsqlite3-dev sqlite3 libpqxx-dev postgresql libcurl4-openssl-dev libssl-dev libargon2-dev
  libboost-dev libboost-system-dev libprotobuf-dev protobuf-compiler wrk
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-numpy python3-pandas python3-pytest python3-requests python3-websockets python3-protobuf
  python3-jwt python3-cryptography python3-confluent-kafka
  librdkafka-dev libnats-dev nats-server
  clang-format clang-tidy clang libclang-rt-14-dev
  chromium
)
# Node.js may come from another Debian-format repository that bundles npm; only fall back to
# Debian's own packages when there is no npm at all.
command -v npm >/dev/null 2>&1 || DEBIAN_PACKAGES+=(nodejs npm)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "bootstrap: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=120 install -y \
    --no-install-recommends "${missing[@]}"
fi

# npm packages are pinned by each package-lock.json; they are installed again when the lock file
# is newer than what was installed. --ignore-scripts in scripts/deps: we want the talib package's C
# sources, not its node-gyp addon.
npm_install() {
  local dir=$1 command=$2
  shift 2
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
     [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "bootstrap: installing npm packages in $dir"
    (cd "$dir" && npm "$command" --no-audit --no-fund --loglevel=error "$@")
  fi
}
# Vite 8 needs Node.js 20.19 or newer (Debian 12's own nodejs is 18).
node_version=$(node --version 2>/dev/null || echo none)
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
              process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' 2>/dev/null; then
  echo "bootstrap: the web UI needs Node.js 20.19 or newer; found $node_version" >&2
  exit 1
fi
npm_install scripts/deps ci --ignore-scripts
# web/ takes `npm install` (which follows the lock file) rather than `npm ci`: the registry here
# does not serve other platforms' builds of Tailwind's native module, so the lock file cannot
# list them, and `npm ci` refuses a lock file without every optional package.
npm_install web install
echo "bootstrap: all dependencies present"
