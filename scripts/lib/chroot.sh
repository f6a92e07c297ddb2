# chroot.sh - the Debian 12 chroot pieces scripts/pristine-check and scripts/package-check
# share. Source it (bash); needs root. Nothing here names a mirror: apt inside uses this
# machine's apt sources and proxy settings.
#
#   chroot_mirror                 the Debian mirror this machine's apt uses
#   chroot_base CACHE [--rebuild] a minbase Debian 12 (debootstrap --variant=minbase
#                                 bookworm) kept as CACHE/bookworm-minbase.tar, made once;
#                                 prints the tarball's path
#   chroot_unpack WORK TARBALL    a fresh copy of TARBALL in WORK, with this machine's apt
#                                 sources, resolver and proxy settings
#   chroot_mount WORK             /proc, /sys, /dev, /dev/pts, /dev/shm inside, and WORK a
#                                 mount point of its own (as a real / is)
#   chroot_cleanup WORK           ends what still runs inside (started by the caller's
#                                 run), unmounts; the caller removes WORK
#   chroot_inside WORK CMD        CMD in bash inside, with a clean environment
#   chroot_isolated WORK CMD      the same in a network namespace of its own (loopback up)
# Mounts made are kept in the array chroot_mounted (chroot_cleanup undoes them).

chroot_mounted=()

chroot_mirror() {
    local m
    m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n 1)
    [[ -n $m ]] || m=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n 1)
    [[ -n $m ]] || { echo "chroot: no Debian mirror found in /etc/apt" >&2; return 1; }
    echo "$m"
}

chroot_base() {
    local cache=$1 rebuild=${2:-} base tmp
    base=$cache/bookworm-minbase.tar
    mkdir -p "$cache"
    if [[ $rebuild == --rebuild || ! -s $base ]]; then
        echo "chroot: making the minbase Debian 12 (once; kept in $base)" >&2
        tmp=$(mktemp -d "$cache/debootstrap.XXXXXX")
        debootstrap --variant=minbase bookworm "$tmp" "$(chroot_mirror)" >"$cache/debootstrap.log" 2>&1 || {
            tail -20 "$cache/debootstrap.log" >&2; rm -rf "$tmp"; return 1; }
        tar -C "$tmp" -cf "$base.new" . && mv "$base.new" "$base"
        rm -rf "$tmp"
    fi
    echo "$base"
}

chroot_unpack() {
    local work=$1 tarball=$2 f
    tar -C "$work" -xf "$tarball"
    # mktemp made these 0700 (and the tarball's "./" too): the chroot's / must be 0755, or
    # every non-root user inside (postfix, _apt, dovecot, nobody) finds nothing.
    chmod 0755 "$work"
    rm -f "$work/etc/apt/sources.list"
    cp -a /etc/apt/sources.list.d/. "$work/etc/apt/sources.list.d/" 2>/dev/null || true
    [[ -f /etc/apt/sources.list ]] && cp /etc/apt/sources.list "$work/etc/apt/sources.list"
    find "$work/etc/apt/sources.list.d" -name '*.disabled*' -delete
    cp -L /etc/resolv.conf "$work/etc/resolv.conf" 2>/dev/null || true
    for f in /etc/apt/apt.conf.d/*proxy*; do [[ -f $f ]] && cp "$f" "$work/etc/apt/apt.conf.d/"; done
    return 0
}

chroot_mount() {
    local work=$1 m
    # The chroot's / a mount point of its own, as a real system's is: `unshare
    # --propagation` (test_daemon_mode) refuses to change the propagation of a / that is not one.
    mount --bind "$work" "$work" && chroot_mounted+=("$work")
    for m in proc sys dev dev/pts; do
        mkdir -p "$work/$m"
        case $m in
            proc) mount -t proc proc "$work/proc" ;;
            sys) mount --rbind /sys "$work/sys" ;;
            dev) mount --bind /dev "$work/dev" ;;
            dev/pts) mount --bind /dev/pts "$work/dev/pts" ;;
        esac
        chroot_mounted+=("$work/$m")
    done
    mount -t tmpfs tmpfs "$work/dev/shm" && chroot_mounted+=("$work/dev/shm")
}

chroot_cleanup() {
    local work=$1 i p
    # Whatever still runs inside (a daemon left running, an apt interrupted by ^C) was
    # started by this run: end it before unmounting.
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/root" 2>/dev/null) == "$work" ]] && kill -9 "${p#/proc/}" 2>/dev/null
    done
    for ((i = ${#chroot_mounted[@]} - 1; i >= 0; i--)); do umount -l "${chroot_mounted[i]}" 2>/dev/null || true; done
    chroot_mounted=()
}

chroot_inside() {
    chroot "$1" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "$2"
}

chroot_isolated() {
    unshare --net bash -c "ip link set lo up && $(declare -f chroot_inside); chroot_inside \"\$1\" \"\$2\"" _ "$1" "$2"
}
