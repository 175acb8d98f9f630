#!/bin/sh
# A container-like host, built the way Docker builds one but with util-linux and mount only.
# Run inside fresh namespaces made by the caller (never on the host's mount namespace):
#   root:     unshare -m -p -f --propagation private -- sh enter-container.sh DIR MODE CMD...
#   rootless: unshare -U --map-current-user --keep-caps -m -p -f --propagation private -- sh ...
# DIR is an empty scratch directory; MODE is "masked" (Docker's default /proc masks) or
# "unmasked" (--security-opt systempaths=unconfined). The new root is an overlayfs on a tmpfs;
# /usr, /etc and the repository come in read-only; /proc is fresh (this is a new pid
# namespace), with Docker's masked and read-only paths; /sys is read-only. Nothing of the host's
# state dir is visible. Then pivot_root, drop the old root and exec CMD as the same user with
# Docker's default capabilities (no CAP_SYS_ADMIN).
set -eu
dir=$1 mode=$2 repo=$3; shift 3
ovl_opts=""
[ "$(id -u)" = 0 ] && [ -z "${SANDKIT_CT_ROOTLESS:-}" ] || ovl_opts=",userxattr"
mount -t tmpfs -o mode=755 tmpfs "$dir"
mkdir "$dir/lower" "$dir/upper" "$dir/work" "$dir/root"
mount -t overlay overlay -o "lowerdir=$dir/lower,upperdir=$dir/upper,workdir=$dir/work$ovl_opts" "$dir/root"
r=$dir/root

ro_bind() { # host path, target inside the new root
  mount --rbind "$1" "$2"
  mount -o remount,bind,ro "$2"
}
for d in usr etc bin sbin lib lib32 lib64 libx32; do
  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$r/$d"
  elif [ -d "/$d" ]; then mkdir "$r/$d"; ro_bind "/$d" "$r/$d"; fi
done
mkdir -p "$r$repo" "$r/tmp" "$r/root" "$r/home/user" "$r/var/lib" "$r/dev" "$r/proc" "$r/sys" "$r/run"
chmod 1777 "$r/tmp"; chmod 777 "$r/home/user"
ro_bind "$repo" "$r$repo"

# /dev: a tmpfs with the usual nodes bound from the host (a userns cannot mknod).
mount -t tmpfs -o mode=755,nosuid tmpfs "$r/dev"
for n in null zero full random urandom tty; do touch "$r/dev/$n"; mount --bind "/dev/$n" "$r/dev/$n"; done
mkdir "$r/dev/pts" "$r/dev/shm"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/dev/shm"
ln -s /proc/self/fd "$r/dev/fd"

mount -t proc -o nosuid,nodev,noexec proc "$r/proc"
if [ "$mode" = masked ]; then
  # Docker's defaults (moby oci/defaults.go): masked paths, then read-only paths.
  for p in acpi asound scsi; do [ -d "$r/proc/$p" ] && mount -t tmpfs -o ro,nosuid,nodev,noexec tmpfs "$r/proc/$p"; done
  for p in interrupts kcore keys latency_stats sched_debug timer_list timer_stats; do
    [ -e "$r/proc/$p" ] && mount --bind /dev/null "$r/proc/$p"
  done
  for p in bus fs irq sys sysrq-trigger; do [ -e "$r/proc/$p" ] && ro_bind "$r/proc/$p" "$r/proc/$p"; done
fi
# /sys and every mount under it (the cgroup hierarchies too) read-only, as Docker mounts them.
mount --rbind /sys "$r/sys"
awk -v top="$r/sys" '$5 == top || index($5, top "/") == 1 { print $5 }' /proc/self/mountinfo |
  while read -r m; do mount -o remount,bind,ro "$m"; done

# A state directory on a full filesystem, for the error it must give.
mkdir "$r/full"
mount -t tmpfs -o size=64k,mode=777 tmpfs "$r/full"
mkdir -m 777 "$r/full/state"
dd if=/dev/zero of="$r/full/fill" bs=4k 2>/dev/null || true

# SANDKIT_CT_SECCOMP: a static program that runs the command under a seccomp filter refusing
# user namespaces, as Docker's default profile does (test/fixtures/no-userns.c).
wrap=""
if [ -n "${SANDKIT_CT_SECCOMP:-}" ]; then cp "$SANDKIT_CT_SECCOMP" "$r/.no-userns"; wrap=/.no-userns; fi

cd "$r"
mkdir .old-root
pivot_root . .old-root
umount -l /.old-root
rmdir /.old-root
cd /
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
if [ "$(id -u)" = 0 ] && [ -z "${SANDKIT_CT_ROOTLESS:-}" ]; then export HOME=/root; else export HOME=/home/user; fi
# Docker's default capability set: no CAP_SYS_ADMIN, CAP_NET_ADMIN or CAP_SYS_PTRACE.
caps=-all,+chown,+dac_override,+fsetid,+fowner,+mknod,+net_raw,+setgid,+setuid,+setfcap,+setpcap,+net_bind_service,+sys_chroot,+kill,+audit_write
if [ -n "${SANDKIT_CT_ROOTLESS:-}" ]; then
  exec setpriv --inh-caps=-all --ambient-caps=-all --bounding-set="$caps" -- $wrap "$@"
fi
exec setpriv --inh-caps=-all --bounding-set="$caps" -- $wrap "$@"
