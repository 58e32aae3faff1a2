//! The checked configuration: plain typed data, no spans, no strings where a
//! type says more. Everything past `check` works on these types only.

use std::net::Ipv4Addr;

use ipnet::{Ipv4Net, Ipv6Net};

use super::units::{Ipv4Range, LeaseTime, MacAddr, PortRange};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub uplink: Option<Uplink>,
    pub networks: Vec<Network>,
    /// This host's BGP EVPN sessions, for the networks spanned with
    /// `evpn = true`.
    pub evpn: Option<Evpn>,
    /// `[status]`: the status page and `/metrics`, off unless configured.
    pub status: Option<Status>,
}

/// Where the status page listens and the password it asks for (HTTP
/// Basic, user "netagent").
#[derive(Clone, PartialEq, Eq)]
pub struct Status {
    pub listen: Vec<std::net::SocketAddr>,
    pub password: Option<String>,
}

/// Never prints the password (a config is logged and shown by `plan`).
impl std::fmt::Debug for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Status")
            .field("listen", &self.listen)
            .field("password", &self.password.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// `[evpn]`: FRR's bgpd carries the spanned networks' MACs and flood lists
/// between hosts; netagent writes the sessions into FRR and reads their state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evpn {
    /// The autonomous system all the hosts share (iBGP).
    pub asn: u32,
    /// The other hosts' underlay addresses: BGP sessions and VXLAN tunnels.
    pub neighbors: Vec<Ipv4Addr>,
    /// BGP's router ID; None: the spanned networks' local address.
    pub router_id: Option<Ipv4Addr>,
    /// How to reach FRR: its `vtysh` and FRR's path space (`-N`), for a host
    /// that runs several FRR instances (one per network namespace).
    pub vtysh: String,
    pub pathspace: Option<String>,
}

/// `[network.span]`: the network's layer 2 continues on other hosts over
/// VXLAN. One host, the home, is the network's gateway (address, DHCP,
/// DNS, NAT); on the others the bridge only carries the guests' frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The VXLAN network identifier, 1 to 16777215.
    pub vni: u32,
    /// This host's underlay address: the tunnels' source.
    pub local: Ipv4Addr,
    /// The VXLAN UDP port (IANA's 4789 unless told).
    pub port: u16,
    pub flood: Flood,
    /// The home host's underlay address.
    pub home: Ipv4Addr,
    /// The underlay's MTU: the bridge gets 50 bytes less (the VXLAN,
    /// UDP, IPv4 and inner Ethernet headers).
    pub underlay_mtu: u32,
}

/// Where frames for unknown MACs (and broadcasts: ARP, DHCP) go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flood {
    /// To each of these hosts (head-end replication), learning the
    /// remote MACs from the traffic itself.
    Static(Vec<Ipv4Addr>),
    /// Where BGP EVPN says: FRR programs the remote MACs and flood lists.
    Evpn,
}

/// The bytes VXLAN over IPv4 adds to each frame: outer IPv4 (20), UDP (8),
/// VXLAN (8) and the inner Ethernet header (14).
pub const VXLAN_OVERHEAD: u32 = 50;

impl Span {
    /// Whether this host is the network's home (its gateway).
    pub fn is_home(&self) -> bool {
        self.home == self.local
    }

    /// The VXLAN device's name: `vx` and the VNI (at most 10 characters).
    pub fn device(&self) -> String {
        format!("vx{}", self.vni)
    }

    /// The hosts VXLAN traffic may come from.
    pub fn vteps<'a>(&'a self, evpn: Option<&'a Evpn>) -> &'a [Ipv4Addr] {
        match &self.flood {
            Flood::Static(peers) => peers,
            Flood::Evpn => evpn.map(|e| e.neighbors.as_slice()).unwrap_or(&[]),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uplink {
    pub interface: UplinkInterface,
    pub addressing: Addressing,
    /// A static IPv6 address and default route; without them the uplink
    /// takes both from its router's advertisements (SLAAC, accept_ra = 2).
    pub address6: Option<ipnet::Ipv6Net>,
    pub gateway6: Option<std::net::Ipv6Addr>,
    /// Upstream resolvers given by the user (IPv4 or IPv6); those learned
    /// by DHCP are added at run time.
    pub dns: Vec<std::net::IpAddr>,
    /// SNTP servers for the appliance's clock when the uplink's DHCP
    /// server names none (option 42), or the uplink has no DHCP.
    pub ntp: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UplinkInterface {
    /// The NIC first in hardware order (its PCI, USB or platform path, as
    /// the firmware orders NICs), never the order drivers happened to load
    /// in; resolved at run time.
    Auto,
    Named(String),
    /// The NIC with this MAC, whatever its name.
    Mac(MacAddr),
    /// The NIC whose device path holds this (a PCI address: `0000:00:02.0`).
    Path(String),
}

/// `auto`, `eth0`, `mac 52:54:00:12:34:56`, `path 0000:00:02.0`: as the
/// plan, `diff` and the logs show it.
impl std::fmt::Display for UplinkInterface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UplinkInterface::Auto => f.write_str("auto"),
            UplinkInterface::Named(n) => f.write_str(n),
            UplinkInterface::Mac(m) => write!(f, "mac {m}"),
            UplinkInterface::Path(p) => write!(f, "path {p}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addressing {
    Dhcp,
    /// The host's own network tools configure the uplink (netagent as a
    /// daemon on an ordinary host): netagent never touches it, and forwards
    /// DNS to the resolvers in /etc/resolv.conf.
    Host,
    Static {
        address: Ipv4Net,
        gateway: Option<Ipv4Addr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Nat,
    Route,
    Open,
    Isolated,
    Bridge,
}

impl Kind {
    pub const ALL: [(&'static str, Kind); 5] = [
        ("nat", Kind::Nat),
        ("route", Kind::Route),
        ("open", Kind::Open),
        ("isolated", Kind::Isolated),
        ("bridge", Kind::Bridge),
    ];

    pub fn name(self) -> &'static str {
        Kind::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("nat")
    }

    /// Kinds whose guests reach beyond the appliance and so need an uplink.
    pub fn needs_uplink(self) -> bool {
        matches!(self, Kind::Nat | Kind::Route)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    pub kind: Kind,
    pub bridge: String,
    /// The bridge's own address and the subnet's prefix (192.168.122.1/24).
    pub address: Option<Ipv4Net>,
    /// The bridge's IPv6 address and the guests' prefix (fd00:122::1/64):
    /// router advertisements announce it, guests take addresses in it by
    /// SLAAC (or DHCPv6).
    pub address6: Option<Ipv6Net>,
    /// `address6 = "pd"`: the prefix is a /64 of the one the uplink's
    /// router delegates (DHCPv6 prefix delegation), filled in at run time.
    pub delegated: Option<Delegated>,
    pub mac: Option<MacAddr>,
    pub mtu: Option<u32>,
    /// Spanning tree: what the config says, or None for netagent's choice
    /// (`Network::stp_on`).
    pub stp: Option<bool>,
    /// Interface names or globs (`vnet*`), or `@nics` for every physical NIC
    /// but the uplink.
    pub ports: Vec<String>,
    pub port_isolation: bool,
    /// The one interface this network's traffic may leave by (libvirt's
    /// `<forward dev='eth1'>`): forwarding and NAT go out of it only, never
    /// out of a VPN or a management NIC. None: any interface.
    pub egress: Option<String>,
    /// Take over a bridge of this name that exists and that netagent did not
    /// create (a bridge libvirt or the host's tools made). Without it such a
    /// bridge is refused, so a typo cannot take over `docker0`.
    pub adopt: bool,
    /// A `bridge` network may serve DHCP and DNS on the physical LAN it
    /// shares, but only when the config says so: otherwise netagent would
    /// be a rogue server competing with the LAN's own.
    pub serve_lan: bool,
    /// A libvirt network that `adopt-libvirt` handed to netagent: libvirt
    /// still defines it (as a host-bridge network of the same name) and
    /// attaches its domains' taps to the bridge. netagent keeps libvirt's
    /// lease file for the bridge current (`virsh net-dhcp-leases`), names
    /// guests after their domains, and never deletes the bridge (libvirt's
    /// network names it), not even when the network leaves the config.
    pub libvirt: bool,
    pub routes: Vec<StaticRoute>,
    pub nat: Option<Nat>,
    pub dhcp: Option<Dhcp>,
    /// Stateful DHCPv6 on the IPv6 prefix; without it guests use SLAAC.
    pub dhcp6: Option<Dhcp6>,
    pub dns: Option<Dns>,
    pub forwards: Vec<Forward>,
    pub span: Option<Span>,
    pub port_security: PortSecurity,
}

/// `[network.port_security]`: what a guest's port may send (see
/// `config/port_security.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSecurity {
    pub enabled: bool,
    /// Ports (names or globs) that may serve DHCP and router advertisements
    /// and use any MAC and address: a router VM, a nested hypervisor.
    pub trusted: Vec<String>,
    /// Leases one port may hold at once.
    pub leases_per_port: u32,
    /// Guests that set their own address: (MAC, address).
    pub allow: Vec<(MacAddr, std::net::IpAddr)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A port forward: connections to `ports` on any of the appliance's own
/// addresses but the bridges' go to `to`, port for port (a single port may
/// be moved to `to_port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub protocol: Protocol,
    pub ports: PortRange,
    pub to: Ipv4Addr,
    /// The guest's first port; equals `ports.start` unless moved.
    pub to_port: u16,
    /// Only these sources; empty means any.
    pub from: Vec<Ipv4Net>,
}

/// `tcp 8080 -> 192.168.122.10:80 from 198.51.100.0/24`, as `diff`, `info`
/// and the logs show it.
impl std::fmt::Display for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} -> {}:{}",
            self.protocol,
            self.ports,
            self.to,
            self.to_ports()
        )?;
        if !self.from.is_empty() {
            let from: Vec<String> = self.from.iter().map(|n| n.to_string()).collect();
            write!(f, " from {}", from.join(", "))?;
        }
        Ok(())
    }
}

impl Forward {
    /// The guest's ports.
    pub fn to_ports(&self) -> PortRange {
        PortRange {
            start: self.to_port,
            end: self.to_port + (self.ports.end - self.ports.start),
        }
    }
}

impl Network {
    /// The subnet the guests live in (the address with its host part cleared).
    pub fn subnet(&self) -> Option<Ipv4Net> {
        self.address.map(|a| a.trunc())
    }

    /// The guests' IPv6 prefix.
    pub fn prefix6(&self) -> Option<Ipv6Net> {
        self.address6.map(|a| a.trunc())
    }

    /// Whether netagent sends router advertisements on the bridge: where it
    /// has an IPv6 address and serves the segment (never a rogue router on
    /// a host's LAN unless told to serve it).
    pub fn advertises(&self) -> bool {
        self.address6.is_some() && (self.kind != Kind::Bridge || self.serve_lan)
    }

    /// Whether the bridge runs spanning tree: what the config says, else on
    /// only where its ports can close a loop. STP holds each new port for
    /// 4 s (the kernel's 2 s forward delay, twice) before it forwards, so a
    /// new VM's first DHCP answer waits that long; a VM's tap cannot make a
    /// loop on its own, two NICs on one LAN can. So: on when the ports take
    /// every NIC (`@nics`, the appliance's default) or name two or more
    /// ports other than VM taps (`vnet*`, `tap*`); off for taps and one NIC.
    pub fn stp_on(&self) -> bool {
        self.stp.unwrap_or_else(|| {
            let nics = self
                .ports
                .iter()
                .filter(|p| !matches!(p.as_str(), "vnet*" | "tap*"))
                .count();
            self.ports.iter().any(|p| p == super::ifname::ALL_NICS) || nics >= 2
        })
    }

    /// Its DNS settings when it serves DNS: on, and with an address to
    /// listen on. The one place that decides it.
    pub fn serves_dns(&self) -> Option<&Dns> {
        self.address?;
        self.dns.as_ref().filter(|d| d.enabled)
    }
}

/// Which /64 of a delegated prefix a network takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delegated {
    /// `"pd"`: the first free one, in config order.
    Auto,
    /// `"pd:3"`: subnet 3 of the delegated prefix.
    Subnet(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    pub to: Ipv4Net,
    pub via: Ipv4Addr,
    pub metric: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nat {
    pub ports: PortRange,
    /// SNAT to these addresses instead of masquerading to the uplink's.
    pub address: Option<Ipv4Range>,
    /// Masquerade IPv6 too (libvirt's `<nat ipv6='yes'/>`); without it a
    /// NAT network's IPv6 is routed, as libvirt does.
    pub ipv6: bool,
}

impl Default for Nat {
    fn default() -> Self {
        Nat {
            ports: PortRange {
                start: 1024,
                end: 65535,
            },
            address: None,
            ipv6: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dhcp {
    pub ranges: Vec<Ipv4Range>,
    pub lease_time: LeaseTime,
    pub router: bool,
    pub domain: Option<String>,
    /// Explicit DNS servers; empty means "the bridge address when DNS is on".
    pub dns_servers: Vec<Ipv4Addr>,
    pub mtu: Option<u32>,
    /// Send the network's static routes as option 121.
    pub classless_routes: bool,
    pub pxe: Option<Pxe>,
    pub hosts: Vec<DhcpHost>,
    /// Options set by hand (`[[network.dhcp.option]]`).
    pub options: Vec<DhcpOptionSetting>,
}

/// One option set by hand: its code, its value as written (typed by
/// `dhcp_option::encode`), and whether it goes to clients that did not ask
/// for it (libvirt's force='yes', dnsmasq's dhcp-option-force).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpOptionSetting {
    pub code: u8,
    pub value: String,
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dhcp6 {
    pub ranges: Vec<super::units::Ipv6Range>,
    pub lease_time: LeaseTime,
    pub hosts: Vec<Dhcp6Host>,
}

/// Who a fixed DHCPv6 address is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dhcp6Client {
    /// The client's DUID, as it sends it (libvirt's `<host id=...>`).
    Duid(Vec<u8>),
    /// Its MAC: from a DUID that carries one, or its EUI-64 link-local address.
    Mac(MacAddr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dhcp6Host {
    pub client: Dhcp6Client,
    pub ip: std::net::Ipv6Addr,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pxe {
    pub file: String,
    pub server: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpHost {
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns {
    pub enabled: bool,
    pub domain: Option<String>,
    pub local_only: bool,
    /// Names without a dot that are not local go upstream (libvirt's
    /// `forwardPlainNames`, on unless it says 'no'); off, they get NXDOMAIN.
    pub forward_plain_names: bool,
    /// The subnet's reverse names netagent does not know get NXDOMAIN
    /// (libvirt's `localPtr='yes'`); off, they go upstream as libvirt's
    /// dnsmasq sends them.
    pub local_ptr: bool,
    /// Answer the names in the host's /etc/hosts (re-read when it changes),
    /// as libvirt's dnsmasq does. Unsaid: on in host mode (the uplink's
    /// address is "host"), off on the appliance.
    pub etc_hosts: Option<bool>,
    pub forwarders: Vec<Forwarder>,
    pub hosts: Vec<DnsHost>,
    pub srv: Vec<Srv>,
    pub txt: Vec<Txt>,
}

impl Dns {
    pub fn on() -> Dns {
        Dns {
            enabled: true,
            domain: None,
            local_only: false,
            forward_plain_names: true,
            local_ptr: false,
            etc_hosts: None,
            forwarders: Vec::new(),
            hosts: Vec::new(),
            srv: Vec::new(),
            txt: Vec::new(),
        }
    }
}

/// libvirt's `<forwarder>`: with a domain, queries under it go to `addr`;
/// with a domain and no address, that domain is answered locally only;
/// without a domain, `addr` is a default upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarder {
    pub domain: Option<String>,
    pub addr: Option<std::net::IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsHost {
    /// An A record, or AAAA for an IPv6 address.
    pub ip: std::net::IpAddr,
    pub names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub service: String,
    pub protocol: String,
    pub domain: Option<String>,
    pub target: Option<String>,
    pub port: u16,
    pub priority: u16,
    pub weight: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txt {
    pub name: String,
    pub value: String,
}
