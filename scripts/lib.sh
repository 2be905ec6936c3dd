# shellcheck shell=bash
# Helpers shared by camphub's bootstrap scripts (sourced, never run). The scripts run as root via
# sudo from pulumi-command: stdout is what the program records, so it stays short and secret-free;
# diagnostics go to stderr.

script_name=$(basename "$0")

# Stops the script with a message that names it.
die() {
  echo "$script_name: $*" >&2
  exit 1
}

# One short line of what the script did, on stdout.
report() {
  echo "$script_name: $*"
}

# Fails unless "$2" (the value following option "$1") is present and non-empty.
need_value() {
  [[ $# -ge 2 && -n $2 ]] || die "option $1 needs a value"
}

# Fails unless every named variable is set, naming the missing option.
require_options() {
  local name
  for name in "$@"; do
    [[ -n ${!name:-} ]] || die "missing --${name//_/-}"
  done
}

require_root() {
  ((EUID == 0)) || die "must run as root (use sudo)"
}

# Runs "$@" until it succeeds, at most $1 seconds; $2 says what is awaited for the error message.
wait_until() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    ((SECONDS < deadline)) || die "gave up after ${seconds}s waiting for $what"
    sleep 1
  done
}

# Installs stdin as file $1 (mode $2, owned by root) if its content differs; returns 1 if unchanged.
install_if_changed() {
  local target=$1 mode=$2 staged
  staged=$(mktemp "$(dirname "$target")/.staged.XXXXXX")
  cat >"$staged"
  if [[ -f $target ]] && cmp -s "$staged" "$target"; then
    rm -f "$staged"
    return 1
  fi
  chmod "$mode" "$staged"
  chown root:root "$staged"
  mv -f "$staged" "$target"
}

# Installs file $1 as the systemd unit (or drop-in, or settings) file $2 if its content differs,
# and then sets the script's units_changed=true (reload_units then reloads systemd once, and
# set_timer restarts a timer) and adds $3, if given, to its changes. Generated content comes by
# process substitution (`install_unit <(...) target`): at the end of a pipeline it would run in a
# subshell, and what it sets would be lost.
install_unit() {
  local source=$1 target=$2
  if install_if_changed "$target" 0644 <"$source"; then
    units_changed=true
    if (($# > 2)); then
      changes+=("$3")
    fi
  fi
}

# Reloads systemd when install_unit installed anything.
reload_units() {
  if [[ $units_changed == true ]]; then
    systemctl daemon-reload
  fi
}

# Enables and starts timer $1 ($2: on), or stops and disables it (off), adding what it did to the
# script's changes; restarts a running timer when its units changed.
set_timer() {
  local timer=$1 wanted=$2
  if [[ $wanted == on ]]; then
    if ! systemctl is-enabled --quiet "$timer" || ! systemctl is-active --quiet "$timer"; then
      systemctl enable --now --quiet "$timer"
      changes+=("$timer on")
    elif [[ $units_changed == true ]]; then
      # Each change restarts it: changes in quick succession must not hit systemd's start limit.
      systemctl reset-failed "$timer" 2>/dev/null || true
      systemctl restart "$timer"
    fi
  elif systemctl is-enabled --quiet "$timer" 2>/dev/null || systemctl is-active --quiet "$timer"
  then
    systemctl disable --now --quiet "$timer"
    changes+=("$timer off")
  fi
}

# Replaces the /etc/fstab line for mount point $1 with $2 (never appends a second one); returns 1
# if the entry was already exactly that. systemd then regenerates its mount units from fstab:
# docker.service waits for the homes mount unit (user-data), and a stale unit would mislead mount.
set_fstab_entry() {
  local mount_point=$1 entry=$2
  # In place: an entry moved to the end would rewrite the file on every run while another
  # managed mount comes after it.
  awk -v mp="$mount_point" -v entry="$entry" '
    $2 == mp { if (!done) print entry; done = 1; next }
    { print }
    END { if (!done) print entry }
  ' /etc/fstab | install_if_changed /etc/fstab 0644 || return 1
  systemctl daemon-reload
}

# Reports the changes made ("a; b"), or that nothing changed.
report_changes() {
  if (($# == 0)); then
    report "nothing changed"
    return
  fi
  local line
  line=$(printf '%s; ' "$@")
  report "${line%; }"
}

# Installs the Debian packages named that are missing, refreshing the package lists once when
# they are gone or stale (a machine's lists date from its first boot); returns 1 if every one
# was installed already.
ensure_packages() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -qx 'install ok installed' ||
      missing+=("$package")
  done
  ((${#missing[@]})) || return 1
  if ! apt_install "${missing[@]}"; then
    apt-get -o DPkg::Lock::Timeout=300 update -q >&2 || die "apt-get update failed"
    apt_install "${missing[@]}" || die "could not install ${missing[*]}"
  fi
}

apt_install() {
  # cloud-init's own package run may still hold the lock on a fresh machine.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
    --no-install-recommends "$@" >&2
}

# An EBS volume's block device: the paths volume $1 may appear under, most specific first. The
# attachment's device name $2, when given (Xen guests see /dev/sdX as /dev/xvdX), then the link
# by the volume's id that Nitro instances, which see it as NVMe, have under /dev/disk/by-id.
ebs_device_candidates() {
  local volume_id=$1 device=${2:-}
  if [[ -n $device ]]; then
    echo "$device"
    [[ $device == /dev/sd* ]] && echo "/dev/xvd${device#/dev/sd}"
  fi
  echo "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volume_id//-/}"
}

# The block device of EBS volume $1 (attached as $2, when given), resolved; fails while absent.
find_ebs_device() {
  local candidate
  while read -r candidate; do
    if [[ -b $candidate ]]; then
      readlink -f "$candidate"
      return 0
    fi
  done < <(ebs_device_candidates "$@")
  return 1
}

# True when blkid finds any filesystem, RAID member or partition table signature on $1. blkid says
# "nothing found" with exit status 2; any other failure stops the script rather than risk a format.
has_signature() {
  local status=0
  blkid -p "$1" >/dev/null 2>&1 || status=$?
  case $status in
    0) return 0 ;;
    2) return 1 ;;
    *) die "blkid could not probe $1 (exit status $status); refusing to format it" ;;
  esac
}

# The filesystem type blkid finds on $1, or nothing.
filesystem_type() {
  blkid -p -o value -s TYPE "$1" || true
}

# The running containers that bind directory $1 or something under it, one id a line: their mount
# namespaces keep what was mounted there when they started.
containers_binding() {
  systemctl is-active --quiet docker.service || return 0
  local id
  for id in $(docker ps --quiet); do
    docker inspect --format '{{range .Mounts}}{{println .Source}}{{end}}' "$id" |
      awk -v dir="$1" '$0 == dir || index($0, dir "/") == 1 { found = 1 } END { exit !found }' &&
      echo "$id"
  done
}
