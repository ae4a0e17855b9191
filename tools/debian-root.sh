#!/usr/bin/env bash
# tools/debian-root.sh: run a command on a fresh copy of this checkout inside a
# minimal Debian root, as a new user of the course would (docs/DEBIAN-ROOT.md).
#
#   tools/debian-root.sh SUITE -- CMD [ARGS...]   e.g. tools/debian-root.sh trixie -- ./course test
#   tools/debian-root.sh SUITE --shell            an interactive shell in the copy
#   tools/debian-root.sh SUITE --reset            delete the root (it is rebuilt on next use)
#
# The root is built once with `debootstrap --variant=minbase` and reused; it
# holds only python3, ca-certificates and git. Every run replaces /root/course
# inside it with a `git clone` of this checkout's committed HEAD (WORKTREE=1 adds
# the uncommitted changes and untracked, not ignored, files), so no host .venv
# leaks in. CMD runs there with CI=true, no stdin, and the host's PIP_*, SSL_*,
# REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE variables; the exit status is CMD's.
#
# Environment: ROOT_DIR (default /var/tmp/pypy-course-roots/SUITE), MIRROR (a
# Debian archive URL for debootstrap; default: debootstrap's own), WORKTREE=1.
set -euo pipefail

prog="tools/debian-root.sh"
say() { printf 'debian-root: %s\n' "$*" >&2; }
die() { printf 'debian-root: error: %s\n' "$*" >&2; exit 2; }
usage() {
    sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
SUITE="$1"; shift
[[ "$SUITE" =~ ^[a-z][a-z0-9.-]*$ ]] || die "not a Debian suite name: $SUITE"

mode=run
while [ $# -gt 0 ]; do
    case "$1" in
        --) shift; break ;;
        --shell) mode=shell; shift ;;
        --reset) mode=reset; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unexpected argument before --: $1 (usage: $prog SUITE -- CMD...)" ;;
    esac
done
if [ "$mode" = run ] && [ $# -eq 0 ]; then die "no command (usage: $prog SUITE -- CMD...)"; fi
if [ "$mode" != run ] && [ $# -gt 0 ]; then die "--$mode takes no command"; fi
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and mount)"

ROOT_DIR="${ROOT_DIR:-/var/tmp/pypy-course-roots/$SUITE}"
ROOT_DIR="$(realpath -m -- "$ROOT_DIR")"
[ "$ROOT_DIR" != / ] || die "ROOT_DIR must not be /"
READY="$ROOT_DIR/.debian-root-ready"     # written once debootstrap has finished
COPY_IN_ROOT=/root/course
CHECKOUT="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"

# mounts_under DIR: the mount points at or below DIR (none once we are done).
mounts_under() {
    awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts
}

# One run at a time per root: runs share /root/course and the mounts.
mkdir -p "$(dirname "$ROOT_DIR")"
exec 9>"$ROOT_DIR.lock"
flock -n 9 || { say "waiting for another run on $ROOT_DIR"; flock 9; }

if [ "$mode" = reset ]; then
    [ -z "$(mounts_under "$ROOT_DIR")" ] || die "still mounted under $ROOT_DIR: $(mounts_under "$ROOT_DIR" | tr '\n' ' ')"
    rm -rf --one-file-system -- "$ROOT_DIR"
    say "removed $ROOT_DIR"
    exit 0
fi

# ------------------------------------------------------------------ build
if [ ! -e "$READY" ]; then
    if [ -e "$ROOT_DIR" ]; then
        [ -z "$(mounts_under "$ROOT_DIR")" ] || die "a half-built root is still mounted: $ROOT_DIR"
        say "removing a half-built root at $ROOT_DIR"
        rm -rf --one-file-system -- "$ROOT_DIR"
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        say "installing debootstrap with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends debootstrap </dev/null \
            || { apt-get update -q </dev/null && apt-get install -y -q --no-install-recommends debootstrap </dev/null; }
    fi
    say "building a $SUITE root in $ROOT_DIR (debootstrap --variant=minbase; a few minutes)"
    start=$SECONDS
    bootstrap=(debootstrap --variant=minbase --include=python3,ca-certificates,git "$SUITE" "$ROOT_DIR")
    if [ -n "${MIRROR:-}" ]; then bootstrap+=("$MIRROR"); fi
    "${bootstrap[@]}" </dev/null
    printf 'suite=%s\nbuilt=%s\nseconds=%d\n' "$SUITE" "$(date -u +%FT%TZ)" $((SECONDS - start)) >"$READY"
    say "built in $((SECONDS - start)) s"
fi

# ------------------------------------------------------------------ mounts
mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" || say "could not unmount ${mounted[i]}"
    done
    mounted=()
}
trap cleanup EXIT

mount_in() {  # mount_in TARGET-INSIDE-ROOT MOUNT-ARGS...
    local target="$ROOT_DIR$1"; shift
    mkdir -p "$target"
    mount "$@" "$target"
    mounted+=("$target")
}
mount_in /proc -t proc proc
mount_in /sys --bind /sys
mount_in /dev --bind /dev
mount_in /dev/pts --bind /dev/pts
if mountpoint -q /dev/shm; then mount_in /dev/shm --bind /dev/shm; fi

# DNS and the host's CA bundle (the root's own bundle may not know the host's CAs).
cp -L /etc/resolv.conf "$ROOT_DIR/etc/resolv.conf"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$ROOT_DIR/etc/ssl/certs"
    cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT_DIR/etc/ssl/certs/ca-certificates.crt"
fi

# ------------------------------------------------------------------ the copy
copy="$ROOT_DIR$COPY_IN_ROOT"
rm -rf --one-file-system -- "$copy"
head="$(git -C "$CHECKOUT" rev-parse HEAD)"
git clone -q --no-checkout --no-hardlinks -- "$CHECKOUT" "$copy"
git -C "$copy" -c advice.detachedHead=false checkout -q "$head"
if [ "${WORKTREE:-0}" = 1 ]; then
    # Uncommitted changes to tracked files, then untracked files that are not ignored
    # (.venv* and the like are ignored, so they stay out).
    git -C "$CHECKOUT" diff --binary HEAD | git -C "$copy" apply --allow-empty --whitespace=nowarn
    git -C "$CHECKOUT" ls-files -z --others --exclude-standard \
        | tar -C "$CHECKOUT" --null -T - -cf - | tar -C "$copy" -xf -
    say "copied HEAD ${head:0:12} plus the working tree's changes"
else
    say "copied HEAD ${head:0:12}"
fi

# ------------------------------------------------------------------ run
envs=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
      LANG=C.UTF-8 CI=true)
while IFS= read -r name; do
    case "$name" in
        PIP_*|SSL_*|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE)
            value="${!name}"
            envs+=("$name=$value")
            # A CA file named by a variable must exist inside the root too.
            if [[ "$value" == /* ]] && [ -f "$value" ] && [ ! -e "$ROOT_DIR$value" ]; then
                mkdir -p "$(dirname "$ROOT_DIR$value")"
                cp -L "$value" "$ROOT_DIR$value"
            fi
            ;;
    esac
done < <(compgen -e)

if [ "$mode" = shell ]; then
    envs+=("TERM=${TERM:-dumb}")
    rc=0
    chroot "$ROOT_DIR" env -i -C "$COPY_IN_ROOT" "${envs[@]}" bash -i || rc=$?
    exit "$rc"
fi

# CMD runs in its own session (no stdin, no terminal); a signal to this script
# is passed on to CMD's whole process group, then the mounts come down.
child=
forward() { [ -z "$child" ] || kill -TERM -- "-$child" 2>/dev/null || true; }
trap 'forward; exit 130' INT
trap 'forward; exit 143' TERM
trap 'forward; exit 129' HUP
say "running in $SUITE: $*"
start=$SECONDS
setsid chroot "$ROOT_DIR" env -i -C "$COPY_IN_ROOT" "${envs[@]}" "$@" </dev/null &
child=$!
rc=0
wait "$child" || rc=$?
child=
say "exit status $rc after $((SECONDS - start)) s"
exit "$rc"
