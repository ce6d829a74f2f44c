# Sourced by images/cpe/build.sh: parts of the generic kernel's module tree that a
# router does not load (sound, GPUs, cameras and TV, Wi-Fi, Bluetooth, InfiniBand,
# staging, industrial I/O): about half of /lib/modules. dpkg path-exclude globs
# (images/rootfs/mkrootfs.sh CATS_ROOTFS_EXCLUDE). The console needs no GPU driver: the
# firmware's frame buffer (efifb) is built in.
export CATS_ROOTFS_EXCLUDE="/lib/modules/*/kernel/sound/* /lib/modules/*/kernel/drivers/gpu/* \
/lib/modules/*/kernel/drivers/media/* /lib/modules/*/kernel/drivers/net/wireless/* \
/lib/modules/*/kernel/drivers/bluetooth/* /lib/modules/*/kernel/net/bluetooth/* \
/lib/modules/*/kernel/drivers/infiniband/* /lib/modules/*/kernel/drivers/staging/* \
/lib/modules/*/kernel/drivers/iio/* /lib/modules/*/kernel/net/mac80211/* /lib/modules/*/kernel/net/wireless/*"
