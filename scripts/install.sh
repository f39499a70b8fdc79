#!/bin/sh
# Installs picoclaw on this machine (or into a directory tree, for images
# and tests). Runs from an unpacked release tarball or from the repository.
# Safe to run again: it upgrades the binary, unit and drop-in, and never
# overwrites a config or credential you have edited.
#
# Usage: install.sh [--board NAME] [--root DIR] [--bin PATH] [--no-start]
#   --board NAME   licheerv-nano, pi-zero-2w or x86_64: installs that board's
#                  config.toml (on first install) and systemd drop-in
#   --root DIR     install under DIR instead of / (also: DESTDIR=DIR);
#                  never starts anything
#   --bin PATH     the picoclaw binary (default: ./picoclaw beside this
#                  script)
#   --no-start     enable the service but do not (re)start it
#
# What goes where:
#   /usr/local/bin/picoclaw                         0755
#   /etc/picoclaw/config.toml                       0600 (kept if present)
#   /etc/picoclaw/config.example.toml               0644
#   /etc/picoclaw/credentials/{telegram,llm}        0600 (created empty if absent)
#   /etc/systemd/system/picoclaw.service            0644
#   /etc/systemd/system/picoclaw.service.d/board.conf 0644 (with --board)
#   /var/lib/picoclaw                               0700 (state; systemd's StateDirectory)
#
# POSIX sh on purpose: BusyBox ash on Buildroot images runs it too.
set -eu
# Parents that install -d creates (etc/, usr/local/, var/lib/ under a fresh
# --root) get 0755 whatever the caller's umask; every file's mode is
# explicit below.
umask 022

here=$(cd "$(dirname "$0")" && pwd)
board=""
root=${DESTDIR:-}
bin=""
start=1

die() { echo "install.sh: $*" >&2; exit 2; }
say() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --board) [ $# -ge 2 ] || die "--board needs a name"; board=$2; shift 2 ;;
        --board=*) board=${1#--board=}; shift ;;
        --root) [ $# -ge 2 ] || die "--root needs a directory"; root=$2; shift 2 ;;
        --root=*) root=${1#--root=}; shift ;;
        --bin) [ $# -ge 2 ] || die "--bin needs a path"; bin=$2; shift 2 ;;
        --bin=*) bin=${1#--bin=}; shift ;;
        --no-start) start=0; shift ;;
        -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
root=${root%/}

# Where the pieces are: a release tarball has them beside this script; the
# repository has them under boards/ and the top level.
first() {
    for f in "$@"; do
        if [ -e "$f" ]; then echo "$f"; return 0; fi
    done
    return 1
}
unit=$(first "$here/picoclaw.service" "$here/../boards/picoclaw.service") \
    || die "picoclaw.service not found beside $0"
example=$(first "$here/config.example.toml" "$here/../config.example.toml") \
    || die "config.example.toml not found beside $0"
boards=$(first "$here/boards" "$here/../boards") || die "boards/ not found beside $0"
[ -n "$bin" ] || bin="$here/picoclaw"
[ -f "$bin" ] || die "binary $bin not found (pass --bin PATH)"
if [ -n "$board" ]; then
    if [ ! -f "$boards/$board/config.toml" ]; then
        known=""
        for b in "$boards"/*/config.toml; do
            b=${b%/config.toml}
            known="$known ${b##*/}"
        done
        die "unknown board $board (known:$known)"
    fi
fi

# Owner flags only when we can set them: root installs files as root:root;
# an unprivileged --root test run keeps its own uid.
if [ "$(id -u)" = 0 ]; then own="-o 0 -g 0"; else own=""; fi

# install(1) with a temp name and rename, so a running service never sees a
# half-written binary or unit.
put() { # mode src dst
    # shellcheck disable=SC2086
    install $own -m "$1" "$2" "$3.new.$$"
    mv -f "$3.new.$$" "$3"
}
dir() { # mode path
    # shellcheck disable=SC2086
    install $own -d -m "$1" "$2"
    chmod "$1" "$2"
}

if [ -z "$root" ]; then
    # Refuse a binary for another machine before replacing a working one.
    if ! "$bin" --version >/dev/null 2>&1; then
        die "$bin does not run here ($(uname -m)); is it the right tarball for this board?"
    fi
fi

dir 0755 "$root/usr/local/bin"
dir 0700 "$root/etc/picoclaw"
dir 0700 "$root/etc/picoclaw/credentials"
dir 0755 "$root/etc/systemd/system"
dir 0700 "$root/var/lib/picoclaw"

put 0755 "$bin" "$root/usr/local/bin/picoclaw"
put 0644 "$example" "$root/etc/picoclaw/config.example.toml"
put 0644 "$unit" "$root/etc/systemd/system/picoclaw.service"

config="$root/etc/picoclaw/config.toml"
if [ -e "$config" ]; then
    say "keeping existing /etc/picoclaw/config.toml"
    chmod 0600 "$config"
else
    if [ -n "$board" ]; then
        src="$boards/$board/config.toml"; from="boards/$board/config.toml"
    else
        src=$example; from="config.example.toml"
    fi
    put 0600 "$src" "$config"
    say "installed /etc/picoclaw/config.toml from $from"
fi

if [ -n "$board" ]; then
    dir 0755 "$root/etc/systemd/system/picoclaw.service.d"
    put 0644 "$boards/$board/picoclaw.conf" "$root/etc/systemd/system/picoclaw.service.d/board.conf"
fi

# Empty placeholders so systemd's LoadCredential= finds the files; picoclaw
# says "is empty" until they are filled. Existing ones are never touched
# beyond their mode.
missing=""
for cred in telegram llm; do
    f="$root/etc/picoclaw/credentials/$cred"
    if [ ! -e "$f" ]; then
        (umask 077 && : >"$f")
        [ -n "$own" ] && chown 0:0 "$f"
    fi
    chmod 0600 "$f"
    [ -s "$f" ] || missing="$missing $cred"
done

if ! grep -q '^nobody:' "$root/etc/passwd" 2>/dev/null; then
    say "warning: no 'nobody' user in /etc/passwd; tools will run as uid 65534 (set sandbox.tool_user to change)"
fi

say "installed picoclaw $("$bin" --version 2>/dev/null | sed 's/^picoclaw //' || echo '(version unknown: built for another architecture)') under ${root:-/}"

if command -v systemctl >/dev/null 2>&1; then
    if [ -n "$root" ]; then
        # Offline enable: the wants/ symlink, no running systemd needed.
        systemctl --root="$root" enable picoclaw.service >/dev/null 2>&1 \
            || say "note: systemctl --root could not enable the unit; enable it on the board"
    else
        systemctl daemon-reload
        systemctl enable picoclaw.service
        if [ "$start" = 0 ]; then
            say "not starting (--no-start)"
        elif [ -n "$missing" ]; then
            say "not starting: write the secret(s) first:$missing"
        else
            systemctl restart picoclaw.service
            say "started; status: systemctl status picoclaw; logs: journalctl -u picoclaw"
        fi
    fi
elif [ -z "$root" ] && [ -n "$board" ] && [ -f "$boards/$board/S99picoclaw" ] && [ -d /etc/init.d ]; then
    # BusyBox/SysV init (Buildroot images): the board's init script.
    put 0755 "$boards/$board/S99picoclaw" /etc/init.d/S99picoclaw
    say "installed /etc/init.d/S99picoclaw (no systemd here)"
    if [ "$start" = 0 ]; then
        say "not starting (--no-start)"
    elif [ -n "$missing" ]; then
        say "not starting: write the secret(s) first:$missing"
    else
        /etc/init.d/S99picoclaw restart
    fi
elif [ -z "$root" ]; then
    say "no systemctl here: start picoclaw from your init system (see boards/<board>/README.md)"
fi

if [ -n "$missing" ]; then
    for cred in $missing; do
        case "$cred" in
            telegram) what="the Telegram bot token from @BotFather" ;;
            llm) what="your LLM provider's API key (leave empty and remove api_key_file from the config for a local server that needs none)" ;;
        esac
        say "next: put $what into /etc/picoclaw/credentials/$cred (one line, mode 0600)"
    done
fi
say "next: set channels.telegram.allow_from in /etc/picoclaw/config.toml, then check with:"
say "      picoclaw doctor --config /etc/picoclaw/config.toml"
