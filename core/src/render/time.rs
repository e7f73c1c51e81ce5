//! Time: chrony on every node, from `spec.time`. With `servers` only, every
//! node follows the site's NTP servers in order. With `sourceNode` (the first
//! control-plane node), that node serves NTP to the node network and follows
//! the servers when given, or its own clock at stratum 10; every other node
//! follows it alone. The bootstrap installs the configuration, restarts
//! chrony and waits, bounded, until the clock is synchronised before kubeadm
//! runs; `common/check-time.sh` checks a node's clock offset at any time.
//! With `waived: true` nothing is rendered.

use super::shell::{comment, quote};
use super::{Ctx, RenderError};
use crate::spec::{Node, Time};
use crate::tree::{FileTree, MODE_EXEC, MODE_FILE};

/// The largest clock offset, in seconds, that the bootstrap's wait and
/// `check-time.sh` accept by default.
pub(crate) const MAX_OFFSET_SECONDS: &str = "0.1";

/// How a node keeps time.
pub(crate) enum NodeTime {
    /// Waived: nothing is set up.
    Waived,
    /// Follows the listed servers or the source node; its bootstrap waits
    /// until chrony is synchronised to one of them.
    Follows { conf: String },
    /// The site's time source with no servers: its own clock at stratum 10.
    /// Nothing to wait for.
    Local { conf: String },
}

fn time<'a>(ctx: &Ctx<'a>) -> Option<&'a Time> {
    ctx.site.spec.time.as_ref().filter(|t| !t.waived)
}

fn source<'a>(ctx: &Ctx<'a>) -> Option<&'a Node> {
    let name = time(ctx)?.source_node.as_ref()?;
    ctx.site.spec.nodes.iter().find(|n| &n.name == name)
}

/// Where this node's chrony configuration is in the rendered tree, and how it
/// keeps time.
pub(crate) fn node_time(ctx: &Ctx, node: &Node) -> NodeTime {
    let Some(t) = time(ctx) else { return NodeTime::Waived };
    match source(ctx) {
        Some(s) if s.name == node.name => {
            let conf = format!("nodes/{}/etc/chrony/meshbundle.conf", node.name);
            if t.servers.is_empty() {
                NodeTime::Local { conf }
            } else {
                NodeTime::Follows { conf }
            }
        }
        _ => NodeTime::Follows {
            conf: "common/etc/chrony/meshbundle.conf".into(),
        },
    }
}

/// What a node follows, for messages: the source node, or the servers.
pub(crate) fn follows(ctx: &Ctx, node: &Node) -> String {
    match (source(ctx), time(ctx)) {
        (Some(s), _) if s.name != node.name => format!("{} ({})", s.name, s.address),
        (_, Some(t)) => t.servers.join(", "),
        _ => String::new(),
    }
}

const COMMON_TAIL: &str = "\
# Where chrony keeps the measured drift of this machine's clock.
driftfile /var/lib/chrony/chrony.drift
# Step the clock when it is off by more than 0.1 s in the first three updates
# (the bootstrap waits for this, before kubeadm); slew it afterwards.
makestep 0.1 3
# Keep the hardware clock in step (the kernel copies the system time to it).
rtcsync
";

fn server_lines(servers: &[String]) -> String {
    servers.iter().map(|s| format!("server {s} iburst\n")).collect()
}

/// The configuration of every node that follows (the servers, or the source node).
fn follower_conf(ctx: &Ctx, t: &Time) -> String {
    let mut out = ctx.header("#");
    match source(ctx) {
        Some(s) => {
            out.push_str(&format!(
                "# Every node but {name} follows {name} ({address}), the site's time source.\n",
                name = comment(&s.name),
                address = comment(&s.address)
            ));
            out.push_str(&server_lines(std::slice::from_ref(&s.address)));
        }
        None => {
            out.push_str(
                "# Every node follows the site's NTP servers (spec.time.servers), in this order of preference.\n",
            );
            out.push_str(&server_lines(&t.servers));
        }
    }
    out.push_str(COMMON_TAIL);
    out
}

/// The configuration of the source node: the servers when given, its own
/// clock otherwise (and when they are all unreachable), served to the nodes.
fn source_conf(ctx: &Ctx, t: &Time, s: &Node) -> String {
    let mut out = ctx.header("#");
    out.push_str(&format!(
        "# {} is the site's time source (spec.time.sourceNode): every other node follows it.\n",
        comment(&s.name)
    ));
    if t.servers.is_empty() {
        out.push_str("# No NTP servers are listed: it runs on its own clock, served at stratum 10.\n");
    } else {
        out.push_str("# It follows the site's NTP servers (spec.time.servers), in this order of preference.\n");
        out.push_str(&server_lines(&t.servers));
        out.push_str(
            "# When none of them answers, it keeps serving its own clock at stratum 10, so\n# the nodes stay in step with one another.\n",
        );
    }
    out.push_str("local stratum 10\n");
    match &ctx.site.spec.kubernetes.node_subnet {
        Some(net) => out.push_str(&format!(
            "# The node network (spec.kubernetes.nodeSubnet) may ask it the time.\nallow {net}\n"
        )),
        None => {
            out.push_str("# The other nodes may ask it the time.\n");
            for n in ctx.site.spec.nodes.iter().filter(|n| n.name != s.name) {
                out.push_str(&format!("allow {}\n", n.address));
            }
        }
    }
    out.push_str(COMMON_TAIL);
    out
}

fn check_time(ctx: &Ctx) -> String {
    let servers = time(ctx).map(|t| t.servers.join(", ")).unwrap_or_default();
    let (source_name, source_address) = source(ctx)
        .map(|n| (n.name.as_str(), n.address.as_str()))
        .unwrap_or_default();
    let others = match source(ctx) {
        Some(s) => format!("{} ({})", s.name, s.address),
        None => servers.clone(),
    };
    format!(
        r#"#!/usr/bin/env bash
{header}#
# Checks this node's clock: chronyd is synchronised to the site's time source
# and its offset is at most MAX_OFFSET seconds.
# Run it on every node (kubectl cannot read node clocks):
#   common/check-time.sh   (MAX_OFFSET={max} by default)
set -euo pipefail

# The site's time source node, if any, and what it follows (nothing: its own clock).
SOURCE_NAME={source_name}
SOURCE_ADDRESS={source_address}
SOURCE_FOLLOWS={source_follows}
# What every other node follows.
FOLLOWS={others}
MAX_OFFSET="${{MAX_OFFSET:-{max}}}"
[[ "$MAX_OFFSET" =~ ^[0-9]+(\.[0-9]+)?$ ]] || {{
  echo "FAIL: MAX_OFFSET must be a number of seconds, not '$MAX_OFFSET'" >&2
  exit 2
}}
is_source=no
if [[ -n "$SOURCE_ADDRESS" ]] && ip -o -4 addr show | grep -qw -- "inet $SOURCE_ADDRESS"; then
  is_source=yes
  FOLLOWS=${{SOURCE_FOLLOWS:-its own clock}}
fi

if ! tracking=$(chronyc -n -c tracking); then
  echo "FAIL: chronyd does not answer on this node (systemctl status chrony chronyd)" >&2
  exit 1
fi
# Reference ID, name, stratum, reference time, system time offset, ..., leap status.
IFS=, read -r refid refname stratum _ offset _ <<<"$tracking"
leap=${{tracking##*,}}
if [[ "$leap" == "Not synchronised" ]]; then
  echo "FAIL: this node's clock is not synchronised (it should follow $FOLLOWS; see chronyc -n sources)" >&2
  exit 1
fi
if [[ "$refid" == 7F7F0101 ]]; then
  if [[ "$is_source" == yes && -z "$SOURCE_FOLLOWS" ]]; then
    echo "OK: this node ($SOURCE_NAME) is the site's time source and serves its own clock at stratum $stratum"
    exit 0
  fi
  echo "FAIL: this node runs on its own clock instead of following $FOLLOWS (see chronyc -n sources)" >&2
  exit 1
fi
if ! awk -v o="$offset" -v m="$MAX_OFFSET" 'BEGIN {{ if (o < 0) o = -o; exit !(o <= m) }}'; then
  echo "FAIL: this node's clock is $offset s off $refname, more than $MAX_OFFSET s" >&2
  exit 1
fi
echo "OK: this node's clock follows $refname (stratum $stratum), offset $offset s"
"#,
        header = ctx.header("#"),
        source_name = quote(source_name),
        source_address = quote(source_address),
        source_follows = quote(&servers),
        others = quote(&others),
        max = MAX_OFFSET_SECONDS,
    )
}

/// What `ops/verify.sh` says about the node clocks. It cannot measure them
/// from where it runs (kubectl does not read node clocks, and a Ready
/// heartbeat carries the node's own idea of the time), so it says to run
/// `common/check-time.sh` on every node, which the bootstrap ran once.
pub(crate) fn verify_lines(ctx: &Ctx) -> String {
    if time(ctx).is_none() {
        return "\necho \"== node clocks: time sync is waived in spec.time (the site keeps node clocks in step)\"\n"
            .into();
    }
    "
echo \"== node clocks\"
# kubectl cannot read node clocks; each node's bootstrap checked its own before kubeadm.
echo \"not measured from here: run common/check-time.sh on every node (${NODES[*]}); it fails when chrony is not synchronised or the offset is over 0.1 s\"
"
    .into()
}

/// The README's "Time" section.
pub(crate) fn readme(ctx: &Ctx) -> String {
    let Some(t) = time(ctx) else {
        return "## Time\n\nTime sync is waived (`spec.time.waived`): meshbundle sets up none. Keep every node's clock \
                in step by the site's own means; kubeadm certificates, etcd and JWT validation fail in confusing ways \
                when clocks drift.\n\n"
            .into();
    };
    let servers = t
        .servers
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let how = match source(ctx) {
        Some(s) if t.servers.is_empty() => format!(
            "**{name}** ({address}) is the site's time source: it serves its own clock at stratum 10 to the \
             node network, and every other node follows it alone. Set its clock right before its bootstrap \
             (`timedatectl set-time`), or list the site's NTP servers in `spec.time.servers` for it to follow.",
            name = s.name,
            address = s.address
        ),
        Some(s) => format!(
            "**{name}** ({address}) is the site's time source: it follows the site's NTP servers ({servers}), \
             serves the node network, and keeps serving its own clock at stratum 10 when none of them answers; \
             every other node follows it alone.",
            name = s.name,
            address = s.address
        ),
        None => format!("Every node follows the site's NTP servers ({servers}), in that order of preference."),
    };
    let order = match source(ctx) {
        Some(s) => format!(
            " The other nodes wait for **{}**, so bootstrap it first (it runs `kubeadm init` anyway).",
            s.name
        ),
        None => String::new(),
    };
    format!(
        "## Time\n\n{how}\n\n\
         Each node keeps time with **chrony**, from the OS (package `chrony` on Debian and Ubuntu, the default on \
         RHEL-like systems; the bootstrap refuses to run without `chronyd` and `chronyc`). systemd-timesyncd is not \
         used: it cannot serve time to other nodes and cannot report its offset; the bootstrap turns it off when it \
         runs, as two clients would fight over the clock. The bootstrap installs the configuration rendered here \
         (`common/etc/chrony/meshbundle.conf`, or the source node's own under `nodes/NAME/etc/chrony/`) as chrony's \
         main configuration (`/etc/chrony/chrony.conf`, or `/etc/chrony.conf` where the OS keeps it; the OS's copy \
         is kept once as `*.meshbundle-orig`), restarts chrony and waits until the clock is synchronised with at \
         most 0.1 s left to correct before `kubeadm init` or `join`: at most `MESHBUNDLE_TIME_SYNC_TIMEOUT` \
         seconds (600 by default), then it stops with the source it could not reach.{order}\n\n\
         `common/check-time.sh` checks a node's clock: chrony synchronised to the site's source and an offset of at \
         most `MAX_OFFSET` seconds (0.1 by default). kubectl cannot read node clocks, so `ops/verify.sh` does not \
         measure them: run `common/check-time.sh` on every node after an install and whenever certificates or etcd \
         complain about time. NTP is UDP port 123{allow}.\n\n",
        allow = match source(ctx) {
            Some(s) => format!(": open it to **{}** from the other nodes", s.name),
            None => ": open it from every node to the NTP servers".into(),
        }
    )
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    let Some(t) = time(ctx) else { return Ok(()) };
    // The common configuration is for every node that is not the source node.
    if ctx
        .site
        .spec
        .nodes
        .iter()
        .any(|n| source(ctx).is_none_or(|s| s.name != n.name))
    {
        tree.add("common/etc/chrony/meshbundle.conf", follower_conf(ctx, t), MODE_FILE);
    }
    if let Some(s) = source(ctx) {
        tree.add(
            format!("nodes/{}/etc/chrony/meshbundle.conf", s.name),
            source_conf(ctx, t, s),
            MODE_FILE,
        );
    }
    tree.add("common/check-time.sh", check_time(ctx), MODE_EXEC);
    Ok(())
}
