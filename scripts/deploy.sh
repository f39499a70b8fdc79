#!/usr/bin/env bash
# Installs a picoclaw release on a board over ssh: picks the tarball for the
# board's architecture from dist/ (building it when missing), checks it
# against dist/SHA256SUMS, streams it over ssh, runs its install.sh, and
# prints `picoclaw doctor` from the board.
#
# Usage: scripts/deploy.sh HOST --board NAME [options]
#   HOST             [user@]host as ssh understands it (default user: root)
#   --board NAME     licheerv-nano, pi-zero-2w or x86_64
#   --dist DIR       where the tarballs are (default: dist/ in the repo)
#   --no-start       install and enable, do not (re)start the service
#   --sudo           run the remote install with sudo (non-root ssh user)
#   --ssh-opt OPT    extra option for ssh (repeatable), e.g. --ssh-opt -p2222
#   --dry-run        print the commands instead of running them
#
# Only ssh is needed on the board (no scp/sftp: Buildroot's dropbear often
# has neither); the tarball is piped through `cat`.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=cross/targets.sh
. "$repo/cross/targets.sh"

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "deploy.sh: $*" >&2; exit 2; }

host=""
board=""
dist="$repo/dist"
start=1
sudo=""
dry=0
ssh_opts=()
while [ $# -gt 0 ]; do
    case "$1" in
        --board) board=${2:?--board needs a name}; shift 2 ;;
        --board=*) board=${1#--board=}; shift ;;
        --dist) dist=${2:?--dist needs a directory}; shift 2 ;;
        --no-start) start=0; shift ;;
        --sudo) sudo="sudo "; shift ;;
        --ssh-opt) ssh_opts+=("${2:?--ssh-opt needs a value}"); shift 2 ;;
        --dry-run) dry=1; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) [ -z "$host" ] || die "one HOST only (got $host and $1)"; host=$1; shift ;;
    esac
done
[ -n "$host" ] || { usage >&2; die "HOST is required"; }
[ -n "$board" ] || die "--board is required"

case "$board" in
    licheerv-nano) target=riscv64gc-unknown-linux-musl ;;
    pi-zero-2w) target=aarch64-unknown-linux-musl ;;
    x86_64) target=x86_64-unknown-linux-musl ;;
    *) die "unknown board $board (known: licheerv-nano, pi-zero-2w, x86_64)" ;;
esac
case "$host" in
    *@*) ;;
    *) host="root@$host" ;;
esac

version=$(workspace_version "$repo/Cargo.toml")
name="picoclaw-$version-$target"
tarball="$dist/$name.tar.gz"

# One word, quoted for a POSIX shell only when it needs it.
quote() {
    if [[ "$1" =~ ^[A-Za-z0-9_./:@=+-]+$ ]]; then
        printf '%s' "$1"
    else
        printf "'%s'" "${1//\'/\'\\\'\'}"
    fi
}

# Prints a command (quoted, so it can be pasted), runs it unless --dry-run.
# A final "< FILE" pair feeds FILE to stdin.
run() {
    local input=""
    if [ $# -ge 2 ] && [ "${*: -2:1}" = "<" ]; then
        input=${*: -1}
        set -- "${@:1:$#-2}"
    fi
    printf '+'
    for w in "$@"; do printf ' %s' "$(quote "$w")"; done
    [ -z "$input" ] || printf ' < %s' "$(quote "$input")"
    printf '\n'
    [ "$dry" = 1 ] && return 0
    if [ -n "$input" ]; then "$@" <"$input"; else "$@"; fi
}

if [ ! -f "$tarball" ]; then
    echo "deploy.sh: $tarball missing; building it" >&2
    run "$repo/scripts/build-release" --target "$target"
fi
if [ "$dry" = 0 ]; then
    sum=$(cd "$dist" && grep " $name.tar.gz\$" SHA256SUMS) \
        || die "$name.tar.gz is not listed in $dist/SHA256SUMS"
    (cd "$dist" && sha256sum --quiet -c - <<<"$sum" >&2) || die "$tarball does not match SHA256SUMS"
fi

remote_tmp="/tmp/$name.tar.gz"
start_flag=""
[ "$start" = 1 ] || start_flag=" --no-start"
# One remote shell line per step, so a failure stops the deploy where it
# happened. The extracted tree is removed afterwards; the config and state
# stay on the board.
install_cmd="set -e; cd /tmp; tar -xzf $remote_tmp; ${sudo}./$name/install.sh --board $board$start_flag; rm -rf ./$name $remote_tmp"
doctor_cmd="${sudo}/usr/local/bin/picoclaw doctor --config /etc/picoclaw/config.toml"

echo "deploy.sh: $board ($target) -> $host" >&2
run ssh "${ssh_opts[@]}" "$host" "cat > $remote_tmp" "<" "$tarball"
run ssh "${ssh_opts[@]}" "$host" "$install_cmd"
# doctor exits non-zero while secrets are missing or Landlock is absent
# under enforce; its report is the point, so show it either way.
run ssh "${ssh_opts[@]}" "$host" "$doctor_cmd" || echo "deploy.sh: doctor reported problems (see FAIL lines above)" >&2
