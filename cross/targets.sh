# Shared by scripts/build-release, cross/setup-toolchain and scripts/ci-release
# (sourced, not run). Which targets picoclaw ships for and how to check them.

# Release targets, one per board family: x86_64 servers, aarch64 (Pi Zero
# 2W and other Cortex-A53 boards, 64-bit OS only), riscv64 (LicheeRV Nano).
ALL_TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl riscv64gc-unknown-linux-musl)

known_target() {
    local t
    for t in "${ALL_TARGETS[@]}"; do
        [ "$t" = "$1" ] && return 0
    done
    return 1
}

# True when the active toolchain has no prebuilt std for $1 (rustup serves
# none for riscv64gc-unknown-linux-musl), so std must be built from rust-src.
needs_build_std() {
    local sysroot
    sysroot=$(rustc --print sysroot)
    [ ! -d "$sysroot/lib/rustlib/$1/lib" ]
}

# The word `file` uses for each target's machine.
file_arch() {
    case "$1" in
        x86_64-*) echo "x86-64" ;;
        aarch64-*) echo "ARM aarch64" ;;
        riscv64*) echo "RISC-V" ;;
        *) echo "?" ;;
    esac
}

# [workspace.package] version from the workspace Cargo.toml.
workspace_version() {
    awk '
        /^\[/ { in_pkg = ($0 == "[workspace.package]") }
        in_pkg && /^version[ \t]*=/ { gsub(/.*=[ \t]*"|".*/, ""); print; exit }
    ' "$1"
}

# Fails unless $1 is a static (or static-pie) ELF for target $2 with no
# program interpreter; prints what `file` says.
check_static() {
    local bin=$1 target=$2 desc arch
    if [ ! -f "$bin" ]; then
        echo "check_static: $bin does not exist" >&2
        return 1
    fi
    desc=$(file -b "$bin")
    arch=$(file_arch "$target")
    echo "$target: $desc" >&2
    case "$desc" in
        *"interpreter"*) echo "check_static: $bin has a program interpreter (dynamically linked)" >&2; return 1 ;;
    esac
    case "$desc" in
        *"statically linked"*|*"static-pie linked"*) ;;
        *) echo "check_static: $bin is not statically linked" >&2; return 1 ;;
    esac
    case "$desc" in
        *"$arch"*) ;;
        *) echo "check_static: $bin is not a $arch binary" >&2; return 1 ;;
    esac
    case "$desc" in
        *"not stripped"*|*"with debug_info"*) echo "check_static: $bin is not stripped" >&2; return 1 ;;
    esac
}
