/**
 * The files the agent image writes itself: PID 1 (`/init`), the udhcpc event script and the small /etc.
 * They are plain text so that their content is part of the build's cache key: editing them rebuilds the image.
 */
import { AGENT_IMAGE_BOOT_ENV, AGENT_KERNEL_PARAMS } from "../protocol/enrollment.ts";

/** Kernel command line keys /init understands. */
export const AGENT_CMDLINE_KEYS = {
  /** MAC of the NIC to configure (`aa:bb:cc:dd:ee:ff`); without it, the first NIC with link. */
  mac: AGENT_KERNEL_PARAMS.mac,
  /** Wall clock to set before anything else, in seconds since the epoch (UTC). */
  time: "ingot.time",
} as const;

export const AGENT_BUNDLE_IMAGE_PATH = "/opt/ingot/ingot-agent.js";

export const INIT_SCRIPT = `#!/bin/sh
# PID 1 of the Ingot agent image. It prepares the machine, brings up the boot NIC, runs ingot-agent, and
# whatever happens keeps a shell on the console, so someone at the serial console can always look around.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
umask 022

mount -t devtmpfs -o mode=0755 devtmpfs /dev
# The initramfs has no /dev/console node, so the kernel could not give us one: take it now.
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm /proc /sys /run /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
[ -d /sys/firmware/efi/efivars ] && mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mkdir -p /run/ingot
hostname ingot-agent
ip link set lo up

echo "ingot: agent image $(cat /etc/ingot/image-version) on kernel $(uname -r)"

# Prints the value of key=value from the kernel command line; fails when the key is absent.
cmdline_value() {
  for word in $(cat /proc/cmdline); do
    case "$word" in "$1="*) echo "\${word#*=}"; return 0 ;; esac
  done
  return 1
}

rescue_shell() {
  echo "ingot: $1"
  while true; do
    echo "ingot: console shell (ingot-agent is not running); exit starts a new one"
    setsid cttyhack sh -l
  done
}

if seconds=$(cmdline_value ${AGENT_CMDLINE_KEYS.time}); then
  date -u -s "@$seconds" >/dev/null && echo "ingot: clock set to $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
fi

# Drivers by modalias, as udev would: a pass can reveal more devices (virtio_pci brings the virtio devices
# that virtio_net drives), so repeat until the set of devices stops changing.
modprobe -a -q $(cat /etc/ingot/modules.always)
seen=""
pass=0
while [ $pass -lt 5 ]; do
  devices=$(cat /sys/bus/*/devices/*/modalias /sys/devices/system/cpu/modalias 2>/dev/null | sort -u)
  [ "$devices" = "$seen" ] && break
  seen=$devices
  set -f
  modprobe -a -q $devices
  set +f
  pass=$((pass + 1))
done
echo "ingot: kernel modules: $(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')"

want_mac=$(cmdline_value ${AGENT_CMDLINE_KEYS.mac} || true)
if [ -z "$want_mac" ] && bootif=$(cmdline_value BOOTIF); then
  want_mac=$(echo "\${bootif#01-}" | tr - :)
fi
want_mac=$(echo "$want_mac" | tr A-F a-f)

# The NIC whose MAC was asked for, else the first physical NIC that reports link; waits up to 120 s.
find_boot_nic() {
  tries=0
  while [ $tries -lt 240 ]; do
    for dev in /sys/class/net/*; do
      name=\${dev##*/}
      [ -e "$dev/device" ] || continue
      ip link set "$name" up 2>/dev/null
      if [ -n "$want_mac" ]; then
        [ "$(cat "$dev/address")" = "$want_mac" ] && [ "$(cat "$dev/carrier" 2>/dev/null)" = 1 ] && echo "$name" && return 0
      elif [ "$(cat "$dev/carrier" 2>/dev/null)" = 1 ]; then
        echo "$name"
        return 0
      fi
    done
    tries=$((tries + 1))
    usleep 500000
  done
  return 1
}

if [ -n "$want_mac" ]; then echo "ingot: waiting for link on the NIC with MAC $want_mac"; else echo "ingot: waiting for a NIC with link"; fi
if ! nic=$(find_boot_nic); then
  ip -br link
  rescue_shell "no usable network interface\${want_mac:+ with MAC $want_mac}"
fi
mac=$(cat "/sys/class/net/$nic/address")
echo "ingot: boot NIC $nic ($mac), asking for a DHCP lease"
attempt=0
# udhcpc returns once it holds a lease and keeps renewing it in the background.
until udhcpc -i "$nic" -s /etc/udhcpc/default.script -p "/run/udhcpc.$nic.pid" -V ingot-agent -t 5 -T 2 -A 1 -n; do
  attempt=$((attempt + 1))
  [ $attempt -ge 10 ] && rescue_shell "no DHCP answer on $nic"
  echo "ingot: no DHCP answer on $nic yet (attempt $attempt)"
done
printf "INGOT_BOOT_NIC='%s'\\nINGOT_BOOT_MAC='%s'\\n" "$nic" "$mac" >${AGENT_IMAGE_BOOT_ENV}
echo "ingot: $nic has $(ip -4 -o addr show dev "$nic" | awk '{print $4}')"

echo "ingot: starting ingot-agent"
INGOT_BOOT_NIC="$nic" INGOT_BOOT_MAC="$mac" node ${AGENT_BUNDLE_IMAGE_PATH}
status=$?
if [ $status -gt 128 ]; then why="was killed by signal $((status - 128))"; else why="exited with status $status"; fi
rescue_shell "ingot-agent $why"
`;

export const UDHCPC_SCRIPT = `#!/bin/sh
# udhcpc event handler: applies the lease on $interface (address, default route, DNS) and records it in
# /run/ingot/dhcp.env for ingot-agent.
quote() { printf "'%s'" "$(printf '%s' "$1" | tr -d "'")"; }

case "$1" in
deconfig)
  ip -4 addr flush dev "$interface"
  ip link set "$interface" up
  ;;
bound | renew)
  current=$(ip -4 -o addr show dev "$interface" | awk '{print $4}')
  [ "$current" = "$ip/$mask" ] || ip -4 addr flush dev "$interface"
  ip -4 addr replace "$ip/$mask" \${broadcast:+broadcast "$broadcast"} dev "$interface"
  set -- $router
  if [ -n "$1" ]; then ip -4 route replace default via "$1" dev "$interface"; fi
  {
    [ -n "\${search:-$domain}" ] && echo "search \${search:-$domain}"
    for server in $dns; do echo "nameserver $server"; done
  } >/etc/resolv.conf.new && mv /etc/resolv.conf.new /etc/resolv.conf
  mkdir -p /run/ingot
  {
    echo "INGOT_DHCP_INTERFACE=$(quote "$interface")"
    echo "INGOT_DHCP_ADDRESS=$(quote "$ip/$mask")"
    echo "INGOT_DHCP_ROUTER=$(quote "$1")"
    echo "INGOT_DHCP_DNS=$(quote "$dns")"
    echo "INGOT_DHCP_SERVER=$(quote "$serverid")"
    echo "INGOT_DHCP_NEXT_SERVER=$(quote "$siaddr")"
    echo "INGOT_DHCP_BOOT_FILE=$(quote "$boot_file")"
    echo "INGOT_DHCP_HOSTNAME=$(quote "$hostname")"
    echo "INGOT_DHCP_DOMAIN=$(quote "$domain")"
  } >/run/ingot/dhcp.env.new && mv /run/ingot/dhcp.env.new /run/ingot/dhcp.env
  ;;
leasefail | nak)
  echo "udhcpc: $1 on $interface \${message:-}"
  ;;
esac
exit 0
`;

export const ETC_FILES: Readonly<Record<string, string>> = {
  "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
  "etc/group": "root:x:0:\ntty:x:5:\n",
  "etc/shadow": "root:*:19000:0:99999:7:::\n",
  "etc/hosts": "127.0.0.1 localhost\n::1 localhost\n",
  "etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
  "etc/profile": 'export PATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport PS1="ingot-agent:\\w# "\n',
  "etc/resolv.conf": "",
};
