# shellcheck shell=bash
#
# Functions shared by the node bootstrap scripts. Each step checks what is
# already in place, so a script can be run again after a failure.
#
# MESHBUNDLE_SYSROOT (empty by default) is prepended to every path the
# scripts write, so they can be tried against a scratch directory.

SYSROOT="${MESHBUNDLE_SYSROOT:-}"

mb_log() {
  printf 'meshbundle: %s\n' "$*" >&2
}

mb_step() {
  printf '\nmeshbundle: == %s\n' "$*" >&2
}

mb_die() {
  printf 'meshbundle: error: %s\n' "$*" >&2
  exit 1
}

mb_require_root() {
  if [[ -z "$SYSROOT" && "$(id -u)" -ne 0 ]]; then
    mb_die "run this script as root (sudo $0)"
  fi
}

# The node's architecture as Kubernetes names it.
mb_arch() {
  case "$(uname -m)" in
    x86_64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) mb_die "unsupported CPU architecture $(uname -m)" ;;
  esac
}

# Tools the bundle cannot carry because they come with the operating system.
mb_check_os_tools() {
  local missing=() tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    mb_die "missing operating system tools: ${missing[*]}; install them from the OS installation media (packages conntrack, iptables, iproute2, util-linux, socat, ethtool, chrony; openssl on control-plane nodes)"
  fi
}

# Refuses to run on a machine that does not have this node's address.
mb_check_address() {
  local address=$1
  if ! ip -o -4 addr show | grep -qw -- "inet $address"; then
    mb_die "this machine does not have the address $address; run the bootstrap script of this machine's node"
  fi
}

# Checks a carried file against the sha256 the lock pins.
mb_verify() {
  local file=$1 want=$2 got
  [[ -f "$file" ]] || mb_die "$file is missing: extract the bundle again (meshbundle import BUNDLE --extract DIR --node THIS-NODE)"
  got=$(sha256sum "$file" | cut -d' ' -f1)
  [[ "$got" == "$want" ]] || mb_die "$file has sha256 $got, but the lock pins $want: the bundle is damaged"
}

# Installs a file when its content differs. Returns 0 when it changed.
mb_install() {
  local src=$1 dest=$2 mode=$3
  if [[ -f "$SYSROOT$dest" ]] && cmp -s "$src" "$SYSROOT$dest"; then
    return 1
  fi
  install -D -m "$mode" "$src" "$SYSROOT$dest"
}

# Installs the NetworkManager drop-in that leaves the CNI's interfaces
# unmanaged, and has a running NetworkManager read it. Without
# NetworkManager the file is inert.
mb_networkmanager_unmanaged() {
  local conf=$1
  if mb_install "$conf" /etc/NetworkManager/conf.d/calico.conf 0644; then
    if systemctl is-active --quiet NetworkManager; then
      systemctl reload NetworkManager
    fi
  fi
}

mb_disable_swap() {
  swapoff -a
  if [[ -f "$SYSROOT/etc/fstab" ]] && grep -Eq '^[^#][^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]]' "$SYSROOT/etc/fstab"; then
    sed -Ei 's/^([^#][^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]])/# disabled by meshbundle: \1/' "$SYSROOT/etc/fstab"
    mb_log "swap entries in /etc/fstab commented out"
  fi
}

mb_kernel_modules() {
  local conf=$1 module
  shift
  mb_install "$conf" /etc/modules-load.d/meshbundle.conf 0644 || true
  for module in "$@"; do
    modprobe "$module"
  done
}

mb_sysctl() {
  local conf=$1
  mb_install "$conf" /etc/sysctl.d/90-meshbundle.conf 0644 || true
  sysctl --system >/dev/null
}

mb_timezone() {
  local zone=$1
  if command -v timedatectl >/dev/null 2>&1; then
    timedatectl set-timezone "$zone"
  else
    ln -sf "/usr/share/zoneinfo/$zone" "$SYSROOT/etc/localtime"
  fi
}

# Time sync with chrony, before kubeadm (its certificates and etcd need the
# clocks in step). Installs the site's configuration as chrony's own (the
# OS's is kept once as *.meshbundle-orig), turns systemd-timesyncd off (two
# clients would fight over the clock), restarts chrony and, unless this node
# serves its own clock (mode "local"), waits until chrony is synchronised
# with at most 0.1 s left to correct: MESHBUNDLE_TIME_SYNC_TIMEOUT seconds
# (600 by default), then fails.
mb_time_sync() {
  local conf=$1 mode=$2 follows=$3 dest unit timeout
  if [[ -f "$SYSROOT/etc/chrony.conf" ]]; then
    dest=/etc/chrony.conf
  else
    dest=/etc/chrony/chrony.conf
  fi
  if [[ -f "$SYSROOT$dest" && ! -f "$SYSROOT$dest.meshbundle-orig" ]] && ! cmp -s "$conf" "$SYSROOT$dest"; then
    cp -p "$SYSROOT$dest" "$SYSROOT$dest.meshbundle-orig"
  fi
  mb_install "$conf" "$dest" 0644 || true
  if systemctl is-active --quiet systemd-timesyncd 2>/dev/null; then
    systemctl disable --now systemd-timesyncd
    mb_log "systemd-timesyncd turned off: chrony keeps the time"
  fi
  if systemctl cat chrony.service >/dev/null 2>&1; then
    unit=chrony
  else
    unit=chronyd
  fi
  systemctl enable "$unit"
  systemctl restart "$unit"
  if [[ "$mode" == local ]]; then
    chronyc -n tracking >/dev/null || mb_die "chronyd does not answer after its restart (systemctl status $unit)"
    mb_log "this node is the site's time source: it serves its own clock"
    return 0
  fi
  timeout=${MESHBUNDLE_TIME_SYNC_TIMEOUT:-600}
  [[ "$timeout" =~ ^[1-9][0-9]*$ ]] || mb_die "MESHBUNDLE_TIME_SYNC_TIMEOUT must be a number of seconds, not '$timeout'"
  mb_log "waiting up to ${timeout}s for the clock to synchronise with $follows"
  if ! chronyc waitsync "$timeout" 0.1 0 1; then
    mb_die "the clock did not synchronise with $follows within ${timeout}s; check that it answers NTP (UDP 123) from this node (chronyc -n sources), then run this script again"
  fi
}

# Unpacks the carried release files: containerd, runc, the CNI plugins,
# crictl, kubeadm, kubelet, kubectl (and istioctl when asked).
mb_install_binaries() {
  local files=$1 arch=$2 with_istioctl=$3 name
  mkdir -p "$SYSROOT/usr/local/bin" "$SYSROOT/usr/local/sbin" "$SYSROOT/opt/cni/bin"
  tar -xzf "$files/containerd-$arch" -C "$SYSROOT/usr/local"
  install -D -m 0755 "$files/runc-$arch" "$SYSROOT/usr/local/sbin/runc"
  tar -xzf "$files/cni-plugins-$arch" -C "$SYSROOT/opt/cni/bin"
  tar -xzf "$files/crictl-$arch" -C "$SYSROOT/usr/local/bin"
  for name in kubeadm kubelet kubectl; do
    install -D -m 0755 "$files/$name-$arch" "$SYSROOT/usr/local/bin/$name"
  done
  if [[ "$with_istioctl" == yes ]]; then
    tar -xzf "$files/istioctl-$arch" -C "$SYSROOT/usr/local/bin"
  fi
}

# The version of the istioctl on PATH, or nothing.
mb_istioctl_version() {
  istioctl version --remote=false 2>/dev/null | grep -oE '[0-9]+[.][0-9]+[.][0-9]+[-.A-Za-z0-9]*' | head -n 1 || true
}

# Makes the istioctl on PATH this bundle's: istioctl carries the charts it
# installs, so a revision installed by another version's istioctl would run
# this version's images with that version's charts.
mb_require_istioctl() {
  local want=$1 files=$2 have arch
  have=$(mb_istioctl_version)
  [[ "$have" != "$want" ]] || return 0
  arch=$(mb_arch)
  [[ -f "$files/istioctl-$arch" ]] ||
    mb_die "istioctl is ${have:-not installed}, but this bundle installs Istio $want and its istioctl (files/istioctl-$arch) is not here: extract the bundle on this control-plane node (meshbundle import --extract DIR --node NAME)"
  mb_require_root
  mb_log "istioctl is ${have:-not installed}: installing this bundle's istioctl $want"
  mkdir -p "$SYSROOT/usr/local/bin"
  tar -xzf "$files/istioctl-$arch" -C "$SYSROOT/usr/local/bin"
  have=$(mb_istioctl_version)
  [[ "$have" == "$want" ]] ||
    mb_die "the istioctl on PATH is still ${have:-missing} after installing $want into /usr/local/bin: put /usr/local/bin first in PATH"
}

# Installs containerd's configuration and unit; restarts it when either changed.
mb_containerd() {
  local common=$1 changed=no src rel
  mb_install "$common/etc/containerd/config.toml" /etc/containerd/config.toml 0644 && changed=yes
  while IFS= read -r -d '' src; do
    rel=${src#"$common"}
    mb_install "$src" "$rel" 0644 && changed=yes
  done < <(find "$common/etc/containerd/certs.d" -type f -print0)
  mb_install "$common/etc/systemd/system/containerd.service" /etc/systemd/system/containerd.service 0644 && changed=yes
  printf 'runtime-endpoint: unix:///run/containerd/containerd.sock\nimage-endpoint: unix:///run/containerd/containerd.sock\ntimeout: 10\n' >"$SYSROOT/etc/crictl.yaml"
  systemctl daemon-reload
  systemctl enable --now containerd
  if [[ "$changed" == yes ]]; then
    systemctl restart containerd
  fi
}

mb_kubelet() {
  local common=$1
  mb_install "$common/etc/systemd/system/kubelet.service" /etc/systemd/system/kubelet.service 0644 || true
  mb_install "$common/etc/systemd/system/kubelet.service.d/10-kubeadm.conf" /etc/systemd/system/kubelet.service.d/10-kubeadm.conf 0644 || true
  systemctl daemon-reload
  systemctl enable kubelet
}

# The digest an image name resolves to in containerd's Kubernetes namespace
# (the one the kubelet uses), or nothing when there is no such image.
mb_image_digest() {
  ctr -n k8s.io images ls | awk -v ref="$1" '$1 == ref && !seen { print $3; seen = 1 }'
}

# Pulls images from the site registry into containerd's Kubernetes namespace,
# through the registry hosts containerd itself uses, so the node keeps
# running if the registry is down later. Locked images are pulled by digest.
mb_pull() {
  local image hosts="$SYSROOT/etc/containerd/certs.d"
  for image in "$@"; do
    if [[ -n "$(mb_image_digest "$image")" ]]; then
      continue
    fi
    ctr -n k8s.io images pull --hosts-dir "$hosts" "$image" >/dev/null ||
      mb_die "cannot pull $image from the site registry: import the bundle into it first (meshbundle import --registry)"
  done
}

# Points each tag kubeadm asks for (repo:tag@sha256:...) at the pulled image
# of that digest, then checks it: kubeadm, the kubelet and containerd find the
# tag here and never ask the registry what it means now.
mb_pin_tags() {
  local pinned tag digest repo got
  for pinned in "$@"; do
    tag=${pinned%@*}
    digest=${pinned##*@}
    repo=${tag%:*}
    ctr -n k8s.io images tag --force "$repo@$digest" "$tag" >/dev/null ||
      mb_die "cannot tag $repo@$digest as $tag: was it pulled?"
    got=$(mb_image_digest "$tag") || mb_die "cannot list the images of containerd"
    if [[ "$got" != "$digest" ]]; then
      mb_die "$tag resolves to ${got:-nothing} here, but the lock pins $digest"
    fi
    mb_log "$tag is $digest"
  done
}

# Places the site's CAs and service-account key where kubeadm looks for them.
mb_place_pki() {
  local pki=$1 src rel mode
  while IFS= read -r -d '' src; do
    rel=${src#"$pki"/}
    case "$rel" in
      *.key) mode=0600 ;;
      *) mode=0644 ;;
    esac
    mb_install "$src" "/etc/kubernetes/pki/$rel" "$mode" || true
  done < <(find "$pki" -type f -print0)
}

# Refuses a file that holds secrets (the join token and certificate key in a
# kubeadm configuration) when it is missing or others can read it: it must be
# a regular file of mode 0600 or stricter. Prints the file's name, never its
# content.
mb_require_private() {
  local file=$1 what=$2 mode
  if [[ ! -f "$file" ]]; then
    mb_die "$file is missing: it holds $what, which renders without the site secrets and bundles built with --no-private-keys leave out; see \"Join credentials\" in README.md for where it comes from"
  fi
  mode=$(stat -L -c '%a' -- "$file") || mb_die "cannot read the mode of $file"
  if ((8#$mode & 8#077)); then
    mb_die "$file holds $what but others can read it (mode $mode): run chmod 600 $file"
  fi
}

# kubeadm init; extra arguments (--skip-token-print ...) go to kubeadm.
# What is said when a kubeadm run on this node left part of its work.
mb_kubeadm_halfway() {
  mb_die "a previous kubeadm run stopped halfway: run \`kubeadm reset -f\`, then this script again ($1)"
}

# Asks the API server with `kubectl "$@"`: prints nothing and succeeds when
# it answers with the object; returns 1 when it answers that the object is
# not there, or that these credentials may not read it (kubeadm init grants
# admin.conf its rights only once the API server is up); stops with a
# message when it does not answer at all.
mb_api_has() {
  local out
  if out=$(kubectl "$@" 2>&1); then
    return 0
  fi
  if [[ "$out" == *NotFound* || "$out" == *"not found"* || "$out" == *Forbidden* ]]; then
    return 1
  fi
  mb_die "the API server does not answer (kubectl $*: ${out//$'\n'/ }); wait until it does and run this script again"
}

# kubeadm init, unless it finished before. admin.conf alone does not say so:
# kubeadm writes it in its kubeconfig phase, before etcd, the control plane,
# and the upload of its own configuration (the kubeadm-config ConfigMap).
# With that ConfigMap the cluster exists; the phases kubeadm runs after it
# (certificate upload, control-plane mark, bootstrap token, kubelet
# finalisation, CoreDNS and kube-proxy) all create or update, so they are
# run again in case the first run stopped among them.
# Usage: mb_kubeadm_init CONFIG NODE_ADDRESS [kubeadm init flags]
mb_kubeadm_init() {
  local config=$1 address=$2
  shift 2
  local admin="$SYSROOT/etc/kubernetes/admin.conf" arg
  local upload_args=() token_args=()
  for arg in "$@"; do
    case "$arg" in
      --skip-certificate-key-print) upload_args+=("$arg") ;;
      --skip-token-print) token_args+=("$arg") ;;
    esac
  done
  if [[ ! -e "$admin" ]]; then
    kubeadm init --config "$config" --upload-certs "$@"
    return
  fi
  if [[ ! -f "$SYSROOT/etc/kubernetes/manifests/kube-apiserver.yaml" ]]; then
    mb_kubeadm_halfway "admin.conf is there, the API server's manifest is not"
  fi
  if ! mb_api_has --kubeconfig "$admin" --server "https://$address:6443" -n kube-system get configmap kubeadm-config -o name; then
    mb_kubeadm_halfway "the cluster has no kubeadm-config ConfigMap"
  fi
  mb_log "the control plane is already initialised; making sure of kubeadm's last steps"
  kubeadm init phase upload-certs --config "$config" --upload-certs "${upload_args[@]}"
  kubeadm init phase mark-control-plane --config "$config"
  kubeadm init phase bootstrap-token --config "$config" "${token_args[@]}"
  kubeadm init phase kubelet-finalize all --config "$config"
  kubeadm init phase addon all --config "$config"
}

# kubeadm join, unless it finished before. kubelet.conf alone does not say
# so: kubeadm writes it when the kubelet starts, before a control-plane node
# gets its etcd member and its control-plane label. A worker has joined when
# the cluster knows its Node; a control-plane node when it also has its
# etcd manifest and the node-role.kubernetes.io/control-plane label.
# Usage: mb_kubeadm_join CONFIG NODE_NAME [control-plane]
mb_kubeadm_join() {
  local config=$1 node=$2 role=${3:-worker}
  local kubelet_conf="$SYSROOT/etc/kubernetes/kubelet.conf" labels
  if [[ ! -e "$kubelet_conf" ]]; then
    kubeadm join --config "$config"
    return
  fi
  if ! mb_api_has --kubeconfig "$kubelet_conf" get node "$node" -o name; then
    mb_kubeadm_halfway "kubelet.conf is there, the node $node is not registered"
  fi
  if [[ "$role" == control-plane ]]; then
    if [[ ! -f "$SYSROOT/etc/kubernetes/manifests/etcd.yaml" ]]; then
      mb_kubeadm_halfway "this control-plane node has no etcd manifest"
    fi
    labels=$(kubectl --kubeconfig "$kubelet_conf" get node "$node" -o jsonpath='{.metadata.labels}') ||
      mb_die "the API server does not answer; wait until it does and run this script again"
    if [[ "$labels" != *'"node-role.kubernetes.io/control-plane"'* ]]; then
      mb_kubeadm_halfway "the node $node is not labelled node-role.kubernetes.io/control-plane"
    fi
  fi
  mb_log "this node has already joined"
}

# Installs, on a control-plane node, the approver of the kubelet serving
# certificates of the site's nodes and its timer, and starts the timer.
mb_csr_approver() {
  local ops=$1 unit=meshbundle-kubelet-csr-approver
  mb_install "$ops/approve-kubelet-csrs.sh" "/usr/local/sbin/$unit" 0755 || true
  mb_install "$ops/systemd/$unit.service" "/etc/systemd/system/$unit.service" 0644 || true
  mb_install "$ops/systemd/$unit.timer" "/etc/systemd/system/$unit.timer" 0644 || true
  systemctl daemon-reload
  systemctl enable --now "$unit.timer"
}

# Gives root a kubeconfig on control-plane nodes.
mb_admin_kubeconfig() {
  install -D -m 0600 "$SYSROOT/etc/kubernetes/admin.conf" "$SYSROOT/root/.kube/config"
}

mb_apply() {
  local file
  for file in "$@"; do
    kubectl apply --server-side --force-conflicts -f "$file"
  done
}

# ---- Kubernetes upgrades (nodes/NAME/upgrade.sh, ops/upgrade-kubernetes.sh) ----

# The annotation ops/upgrade-kubernetes.sh puts on a node once it has
# drained it for an upgrade, with the target version as its value; the
# node's upgrade script refuses to touch the kubelet without it.
MB_UPGRADE_ANNOTATION=meshbundle.dev/kubernetes-upgrade

# The version an installed binary reports: `mb_binary_version kubelet`
# prints v1.34.12 (kubelet --version), `mb_binary_version kubeadm` the same
# from kubeadm version -o short, `mb_binary_version containerd` 2.2.3.
# Prints nothing when the binary is not installed.
mb_binary_version() {
  local bin out
  case "$1" in
    containerd) bin="$SYSROOT/usr/local/bin/containerd" ;;
    *) bin="$SYSROOT/usr/local/bin/$1" ;;
  esac
  [[ -x "$bin" ]] || return 0
  case "$1" in
    kubeadm) out=$("$bin" version -o short 2>/dev/null) || return 0 ;;
    *) out=$("$bin" --version 2>/dev/null) || return 0 ;;
  esac
  out=$(grep -oE 'v[0-9]+[.][0-9]+[.][0-9]+' <<<"$out" | head -n 1 || true)
  if [[ "$1" == containerd ]]; then
    out=${out#v}
  fi
  printf '%s' "$out"
}

# Installs a carried release file as an executable after checking it
# against the sha256 the lock pins (when the render was locked), then
# checks what landed. Usage: mb_install_pinned FILE DEST [SHA256]
mb_install_pinned() {
  local src=$1 dest=$2 sha=${3:-}
  if [[ -n "$sha" ]]; then
    mb_verify "$src" "$sha"
  fi
  install -D -m 0755 "$src" "$SYSROOT$dest"
  if [[ -n "$sha" ]]; then
    mb_verify "$SYSROOT$dest" "$sha"
  fi
}

# The Kubernetes version of the cluster as kubeadm keeps it (the
# kubernetesVersion of the kubeadm-config ConfigMap), through kubeconfig $1.
# kubeadm lets every node's kubelet read that ConfigMap.
mb_cluster_version() {
  local config
  config=$(kubectl --kubeconfig "$1" -n kube-system get configmap kubeadm-config -o 'jsonpath={.data.ClusterConfiguration}') ||
    mb_die "cannot read the kubeadm-config ConfigMap through $1: is the API server up?"
  sed -n 's/^kubernetesVersion:[[:space:]]*//p' <<<"$config" | tr -d "\"'" | head -n 1
}

# Whether `kubeadm upgrade apply TARGET` finished: kubeadm writes the new
# version into kubeadm-config after the control plane, and upgrades
# kube-proxy in its last phases.
mb_upgrade_applied() {
  local kubeconfig=$1 target=$2 image
  [[ "$(mb_cluster_version "$kubeconfig")" == "$target" ]] || return 1
  image=$(kubectl --kubeconfig "$kubeconfig" -n kube-system get daemonset kube-proxy -o 'jsonpath={.spec.template.spec.containers[0].image}') ||
    mb_die "cannot read the kube-proxy DaemonSet: is the API server up?"
  [[ "$image" == *":$target" || "$image" == *":$target@"* ]]
}

# Refuses to go on unless ops/upgrade-kubernetes.sh drained node $2 for
# version $3: the node is cordoned and carries the upgrade annotation.
mb_upgrade_require_drained() {
  local kubeconfig=$1 node=$2 target=$3 got
  got=$(kubectl --kubeconfig "$kubeconfig" get node "$node" -o "jsonpath={.spec.unschedulable}/{.metadata.annotations.${MB_UPGRADE_ANNOTATION//./\\.}}") ||
    mb_die "cannot read node $node through $kubeconfig: is the API server up?"
  [[ "$got" == "true/$target" ]] ||
    mb_die "node $node is not drained for the upgrade to $target: run ops/upgrade-kubernetes.sh on the first control-plane node; it drains each node in turn and says when to run this script here"
}

# Refuses a containerd configuration that does not fit the containerd
# binary it is for: `version = 3` needs containerd 2, containerd 1.7 reads
# `version = 2`.
mb_containerd_config_fits() {
  local config=$1 version=$2 want
  case "$version" in
    1.*) want=2 ;;
    *) want=3 ;;
  esac
  grep -qE "^version = $want\$" "$config"
}

# Whether the running containerd is version $1 with its CRI plugin up:
# `ctr version` (the server's version) and `crictl info` (RuntimeReady).
mb_containerd_check() {
  local want=$1 server conditions
  server=$(ctr version 2>/dev/null | awk '/^Server:/ { s = 1 } s && $1 == "Version:" { print $2; exit }' || true)
  if [[ "${server#v}" != "$want" ]]; then
    mb_log "containerd answers as version ${server:-nothing}, not $want"
    return 1
  fi
  conditions=$(crictl info -o go-template --template '{{range .status.conditions}}{{.type}}={{.status}} {{end}}' 2>/dev/null || true)
  if ! grep -qw 'RuntimeReady=true' <<<"$conditions"; then
    mb_log "containerd's CRI plugin is not ready (crictl info: ${conditions:-no answer})"
    return 1
  fi
}

# Puts back the containerd saved in $1 (binaries, runc, configuration,
# unit), starts it and the kubelet, and stops with $2 as the reason.
mb_containerd_rollback() {
  local backup=$1 why=$2
  mb_log "putting the previous containerd back: $why"
  systemctl stop containerd || true
  tar -xzf "$backup/binaries.tar.gz" -C "$SYSROOT/usr/local"
  install -D -m 0644 "$backup/config.toml" "$SYSROOT/etc/containerd/config.toml"
  install -D -m 0644 "$backup/containerd.service" "$SYSROOT/etc/systemd/system/containerd.service"
  systemctl daemon-reload
  systemctl start containerd || true
  systemctl start kubelet || true
  mb_die "$why; the previous containerd runs again with its own configuration (saved in $backup). Fix the cause, then run this script again"
}

# Moves this node to the bundle's containerd when its binaries, runc, its
# configuration or its unit differ from the bundle's: from 1.7 to 2.x this
# migrates the configuration from `version = 2` to the `version = 3` file
# the bundle carries. In this order, with the node drained: save the old
# binaries, configuration and unit (once per version, under
# /var/lib/meshbundle/containerd-VERSION, 0700), stop the kubelet, stop
# containerd, install the new binaries, runc, configuration and unit
# together, start containerd, check that it answers as the new version with
# its CRI plugin up, then start the kubelet. When any of it fails, the
# saved containerd and its own configuration go back together: a 2.x
# configuration is never left with a 1.7 binary, nor the reverse.
# Usage: mb_containerd_upgrade COMMON FILES ARCH VERSION
mb_containerd_upgrade() {
  local common=$1 files=$2 arch=$3 want=$4 have backup src rel saved
  local config="$SYSROOT/etc/containerd/config.toml" unit="$SYSROOT/etc/systemd/system/containerd.service"
  have=$(mb_binary_version containerd)
  [[ -n "$have" ]] || mb_die "containerd is not installed in /usr/local/bin: this node was not set up by install.sh node"
  if [[ "$have" == "$want" ]] && cmp -s "$common/etc/containerd/config.toml" "$config" &&
    cmp -s "$common/etc/systemd/system/containerd.service" "$unit"; then
    mb_log "containerd $have and its configuration are this bundle's already"
    return 0
  fi
  mb_containerd_config_fits "$common/etc/containerd/config.toml" "$want" ||
    mb_die "the bundle's containerd configuration does not fit containerd $want: render the bundle again"
  backup="$SYSROOT/var/lib/meshbundle/containerd-$have"
  if [[ ! -f "$backup/binaries.tar.gz" ]]; then
    mkdir -p "$backup"
    chmod 0700 "$backup"
    [[ -f "$config" ]] || mb_die "containerd $have has no /etc/containerd/config.toml to save"
    saved=(sbin/runc)
    while IFS= read -r -d '' src; do
      saved+=("${src#"$SYSROOT/usr/local/"}")
    done < <(find "$SYSROOT/usr/local/bin" -maxdepth 1 \( -name 'containerd*' -o -name ctr \) -print0)
    tar -czf "$backup/binaries.tar.gz.part" -C "$SYSROOT/usr/local" "${saved[@]}"
    cp -p "$config" "$backup/config.toml"
    cp -p "$unit" "$backup/containerd.service"
    mv "$backup/binaries.tar.gz.part" "$backup/binaries.tar.gz"
    mb_log "containerd $have, runc, its configuration and unit saved in $backup"
  fi
  mb_log "containerd $have -> $want: stopping the kubelet, then containerd"
  systemctl stop kubelet
  systemctl stop containerd
  if ! {
    tar -xzf "$files/containerd-$arch" -C "$SYSROOT/usr/local" &&
      install -D -m 0755 "$files/runc-$arch" "$SYSROOT/usr/local/sbin/runc" &&
      install -D -m 0644 "$common/etc/containerd/config.toml" "$config" &&
      install -D -m 0644 "$common/etc/systemd/system/containerd.service" "$unit"
  }; then
    mb_containerd_rollback "$backup" "cannot install containerd $want"
  fi
  while IFS= read -r -d '' src; do
    rel=${src#"$common"}
    mb_install "$src" "$rel" 0644 || true
  done < <(find "$common/etc/containerd/certs.d" -type f -print0)
  systemctl daemon-reload
  if ! systemctl start containerd; then
    mb_containerd_rollback "$backup" "containerd $want did not start (journalctl -u containerd)"
  fi
  if ! mb_containerd_check "$want"; then
    mb_containerd_rollback "$backup" "containerd $want started, but does not answer as it should"
  fi
  mb_log "containerd $want runs, its CRI plugin is up"
  systemctl start kubelet
}
