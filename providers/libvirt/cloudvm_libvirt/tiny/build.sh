#!/bin/sh
# Build the cloudvm-tiny test image from Debian packages: a Debian kernel,
# busybox and dropbear on a two-partition disk (syslinux on FAT, root on ext4)
# that reads a NoCloud seed like a cloud image does.
# Usage: build.sh OUTPUT.qcow2   (needs apt-get, dpkg-deb, sfdisk, mkfs.vfat,
# mtools, syslinux, mke2fs, cpio, qemu-img; no root, no loop devices)
set -eu
out=$(realpath -m "$1")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kpkg" ] || { echo "apt-cache knows no linux-image-amd64: run apt-get update" >&2; exit 1; }
pkgs="$kpkg busybox-static dropbear-bin libtomcrypt1 libtommath1 libgmp10 zlib1g libcrypt1 libc6"
mkdir debs x
(cd debs && apt-get download $pkgs >/dev/null 2>&1) || (cd debs && apt-get download $pkgs)
for d in debs/*.deb; do dpkg-deb -x "$d" x; done
kver=${kpkg#linux-image-}
mods=x/lib/modules/$kver
x/bin/busybox depmod -b x "$kver"

# Kernel modules the guest needs, in dependency order (modules.dep lists
# each module's dependencies; crc32c is a soft dependency of ext4).
want="virtio_pci virtio_rng virtio_blk virtio_net crc32c_generic ext4 ahci ata_piix sr_mod isofs button evdev"
order=""
add() {
    deps=$(awk -v m="$1" -F': *' '{n=$1; sub(/.*\//,"",n); sub(/\.ko$/,"",n); gsub(/-/,"_",n)} n==m {print $2}' "$mods/modules.dep")
    for dep in $deps; do
        d=${dep##*/}; d=${d%.ko}; d=$(echo "$d" | tr - _)
        add "$d"
    done
    case " $order " in *" $1 "*) ;; *) order="$order $1" ;; esac
}
for m in $want; do add "$m"; done

# initramfs: load modules, mount the root partition, switch to it.
mkdir -p initrd/bin initrd/lib/modules initrd/dev initrd/proc initrd/sys initrd/newroot
cp x/bin/busybox initrd/bin/busybox
for m in $order; do
    f=$(awk -v m="$m" -F: '{n=$1; sub(/.*\//,"",n); sub(/\.ko$/,"",n); gsub(/-/,"_",n)} n==m {print $1; exit}' "$mods/modules.dep")
    cp "$mods/$f" initrd/lib/modules/
    echo "$(basename "$f")" >> initrd/lib/modules/order
done
install -m 755 "$here/initramfs-init" initrd/init
(cd initrd && find . | cpio -o -H newc --quiet | gzip -9) > initrd.gz

# Root filesystem.
r=rootfs
mkdir -p $r/bin $r/sbin $r/usr/bin $r/usr/sbin $r/lib64 $r/lib/x86_64-linux-gnu \
    $r/dev $r/proc $r/sys $r/run $r/tmp $r/mnt/seed $r/home $r/root \
    $r/var/lib/cloud $r/var/log $r/etc/dropbear
cp x/bin/busybox $r/bin/busybox
for a in $(x/bin/busybox --list-full); do
    [ -e "$r/$a" ] || ln -s /bin/busybox "$r/$a"
done
cp x/usr/sbin/dropbear $r/usr/sbin/
cp x/usr/bin/dropbearkey $r/usr/bin/
cp -a x/usr/lib/x86_64-linux-gnu/*.so* x/lib/x86_64-linux-gnu/*.so* $r/lib/x86_64-linux-gnu/ 2>/dev/null || true
[ -e x/lib64/ld-linux-x86-64.so.2 ] && cp -a x/lib64/ld-linux-x86-64.so.2 $r/lib64/ || \
    ln -s /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 $r/lib64/ld-linux-x86-64.so.2
cp -R "$here/rootfs/." $r/
chmod 755 $r/sbin/cloudvm-nocloud $r/etc/init.d/* $r/etc/udhcpc/default.script
chmod 1777 $r/tmp
chmod 600 $r/etc/shadow

# Disk: MBR (syslinux) + FAT boot partition (kernel, initrd) + ext4 root.
boot_start=2048; boot_sectors=65536
root_start=$((boot_start + boot_sectors)); root_sectors=$((96 * 2048))
truncate -s $(((root_start + root_sectors) * 512)) disk.raw
printf 'label: dos\nstart=%s, size=%s, type=6, bootable\nstart=%s, size=%s, type=83\n' \
    $boot_start $boot_sectors $root_start $root_sectors | sfdisk -q disk.raw
dd if=/usr/lib/syslinux/mbr/mbr.bin of=disk.raw bs=440 count=1 conv=notrunc 2>/dev/null
mkfs.vfat -n CVMBOOT --offset $boot_start -h $boot_start disk.raw $((boot_sectors / 2)) >/dev/null
cat > syslinux.cfg <<CFG
DEFAULT linux
PROMPT 0
TIMEOUT 1
LABEL linux
  KERNEL vmlinuz
  INITRD initrd.gz
  APPEND console=ttyS0,115200 root=LABEL=cloudvm-root quiet
CFG
export MTOOLS_SKIP_CHECK=1
mcopy -i disk.raw@@$((boot_start * 512)) x/boot/vmlinuz-$kver ::/vmlinuz
mcopy -i disk.raw@@$((boot_start * 512)) initrd.gz syslinux.cfg ::/
syslinux --offset $((boot_start * 512)) --install disk.raw
mke2fs -q -t ext4 -L cloudvm-root -d $r -E offset=$((root_start * 512)) disk.raw $((root_sectors / 2))k
mkdir -p "$(dirname "$out")"
qemu-img convert -f raw -O qcow2 disk.raw "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
