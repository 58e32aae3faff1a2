//! Config → Plan decisions, one kind at a time.

use super::*;
use crate::config::{self, default_config};
use crate::firewall::render::render;

fn cfg(src: &str) -> Config {
    config::parse(src, "t.toml").unwrap_or_else(|p| panic!("{p}"))
}

fn net(kind: &str, extra: &str) -> Config {
    cfg(&format!(
        "[uplink]\ninterface = \"eth0\"\n[[network]]\nname = \"n\"\nkind = \"{kind}\"\nbridge = \"br9\"\naddress = \"10.5.0.1/24\"\n{extra}"
    ))
}

fn rules(c: &Config) -> String {
    render(&crate::firewall::ruleset(&plan(c).bridges))
}

#[test]
fn default_plan_is_libvirts_default_network() {
    let p = plan(&default_config());
    assert_eq!(p.bridges.len(), 1);
    let b = &p.bridges[0];
    assert_eq!(
        (b.name.as_str(), b.address.map(|a| a.to_string())),
        ("virbr0", Some("192.168.122.1/24".into()))
    );
    assert!(b.stp);
    assert_eq!(b.ports, vec!["vnet*".to_string(), "@nics".to_string()]);
    let pool = &p.dhcp[0];
    assert_eq!(pool.ranges[0].to_string(), "192.168.122.2-192.168.122.254");
    assert_eq!(pool.options.router, Some("192.168.122.1".parse().unwrap()));
    assert_eq!(
        pool.options.dns_servers,
        vec!["192.168.122.1".parse::<Ipv4Addr>().unwrap()]
    );
    assert!(p
        .sysctls
        .iter()
        .any(|s| s.path == "net/ipv4/ip_forward" && s.value == "1"));
    let u = p.uplink.expect("uplink");
    assert_eq!(
        (u.interface, u.addressing),
        (UplinkInterface::Auto, Addressing::Dhcp)
    );
}

#[test]
fn nat_masquerades_like_libvirt() {
    let r = rules(&net("nat", ""));
    for want in [
        "oifname \"br9\" ip daddr 10.5.0.0/24 ct state established,related accept",
        "oifname \"br9\" reject",
        "iifname \"br9\" ip saddr 10.5.0.0/24 accept",
        "iifname \"br9\" reject",
        "iifname \"br9\" oifname \"br9\" accept",
        "ip saddr 10.5.0.0/24 ip daddr 224.0.0.0/24 return",
        "ip saddr 10.5.0.0/24 ip daddr 255.255.255.255 return",
        "meta l4proto tcp ip saddr 10.5.0.0/24 ip daddr != 10.5.0.0/24 masquerade to :1024-65535",
        "meta l4proto udp ip saddr 10.5.0.0/24 ip daddr != 10.5.0.0/24 masquerade to :1024-65535",
        "ip saddr 10.5.0.0/24 ip daddr != 10.5.0.0/24 masquerade\n",
    ] {
        assert!(r.contains(want), "missing {want:?} in\n{r}");
    }
    // The multicast/broadcast exceptions come before any masquerade.
    assert!(r.find("224.0.0.0/24 return").unwrap() < r.find("masquerade").unwrap());
}

#[test]
fn nat_with_address_range_uses_snat() {
    let r = rules(&net(
        "nat",
        "[network.nat]\nports = \"3000-4000\"\naddress = \"192.0.2.5-192.0.2.9\"\n",
    ));
    assert!(r.contains("snat ip to 192.0.2.5-192.0.2.9:3000-4000"), "{r}");
    assert!(!r.contains("masquerade"), "{r}");
}

#[test]
fn routed_lets_anything_in_to_the_subnet_and_does_no_nat() {
    let r = rules(&net("route", ""));
    assert!(r.contains("oifname \"br9\" ip daddr 10.5.0.0/24 accept"), "{r}");
    assert!(!r.contains("ct state"), "{r}");
    assert!(!r.contains("postrouting"), "{r}");
}

#[test]
fn isolated_rejects_all_forwarding_and_gives_no_router() {
    let c = cfg("[[network]]\nname = \"i\"\nkind = \"isolated\"\nbridge = \"br9\"\naddress = \"10.5.0.1/24\"\n[network.dhcp]\n");
    let p = plan(&c);
    let r = render(&crate::firewall::ruleset(&p.bridges));
    assert!(
        r.contains("oifname \"br9\" reject") && r.contains("iifname \"br9\" reject"),
        "{r}"
    );
    assert!(
        !r.contains("ip saddr 10.5.0.0/24 accept"),
        "isolated guests must not get out: {r}"
    );
    assert_eq!(p.dhcp[0].options.router, None);
    assert!(!p.dns[0].forward);
    assert!(!p.sysctls.iter().any(|s| s.path == "net/ipv4/ip_forward"));
}

#[test]
fn open_and_bridge_get_no_forwarding_rules() {
    let r = rules(&net("open", ""));
    assert!(!r.contains("forward"), "{r}");
    // DNS is still guarded against the uplink side.
    assert!(
        r.contains(
            "ip daddr 10.5.0.1 meta l4proto { tcp, udp } th dport 53 iifname != \"br9\" iifname != \"lo\" drop"
        ),
        "{r}"
    );
    let c = cfg("[uplink]\ninterface = \"br0\"\n[[network]]\nname = \"lan\"\nkind = \"bridge\"\nbridge = \"br0\"\nports = [\"eth0\"]\n");
    let p = plan(&c);
    assert!(crate::firewall::ruleset(&p.bridges).objects.is_empty());
    assert!(p.dhcp.is_empty() && p.dns.is_empty());
    assert!(p.sysctls.is_empty());
}

#[test]
fn networks_cannot_open_connections_into_each_other() {
    let c = cfg(
        "[uplink]\n[[network]]\nname = \"a\"\nbridge = \"bra\"\naddress = \"10.1.0.1/24\"\n[[network]]\nname = \"b\"\nbridge = \"brb\"\naddress = \"10.2.0.1/24\"\n",
    );
    let r = rules(&c);
    // Into each NAT bridge only established traffic passes, whatever its origin;
    // guest_input is evaluated before guest_output accepts the sender's source.
    let input = r.find("chain guest_input").unwrap();
    let output = r.find("chain guest_output").unwrap();
    assert!(input < output);
    assert!(r.find("jump guest_input").unwrap() < r.find("jump guest_output").unwrap());
    for br in ["bra", "brb"] {
        assert!(r.contains(&format!("oifname \"{br}\" reject")), "{r}");
    }
}

#[test]
fn dhcp_options_follow_the_config() {
    let c = net(
        "route",
        "mtu = 9000\n[[network.route]]\nto = \"10.6.0.0/16\"\nvia = \"10.5.0.2\"\n[network.dhcp]\ndns_servers = [\"10.5.0.53\"]\n[network.dhcp.pxe]\nfile = \"boot.ipxe\"\n[network.dns]\ndomain = \"lab\"\n",
    );
    let p = plan(&c);
    let o = &p.dhcp[0].options;
    assert_eq!(o.mtu, Some(9000));
    assert_eq!(o.dns_servers, vec!["10.5.0.53".parse::<Ipv4Addr>().unwrap()]);
    assert_eq!(o.domain.as_deref(), Some("lab"));
    // Classless routes default on when routes exist, and carry the default route too.
    let cl: Vec<String> = o
        .classless_routes
        .iter()
        .map(|(n, g)| format!("{n}>{g}"))
        .collect();
    assert_eq!(cl, vec!["10.6.0.0/16>10.5.0.2", "0.0.0.0/0>10.5.0.1"]);
    assert_eq!(o.pxe.as_ref().map(|x| x.file.as_str()), Some("boot.ipxe"));
    assert_eq!(p.bridges[0].routes[0].dev, "br9");
}

#[test]
fn dns_off_means_no_dns_server_in_dhcp() {
    let p = plan(&net("nat", "[network.dhcp]\n[network.dns]\nenabled = false\n"));
    assert!(p.dhcp[0].options.dns_servers.is_empty());
    assert!(p.dns.is_empty());
    assert!(!render(&crate::firewall::ruleset(&p.bridges)).contains("dport 53"));
}

#[test]
fn dns_zone_has_hosts_srv_txt_and_the_bridge() {
    let c = net(
        "nat",
        "[network.dhcp]\n[[network.dhcp.host]]\nmac = \"52:54:00:00:00:01\"\nip = \"10.5.0.10\"\nname = \"web\"\n[network.dns]\ndomain = \"lab\"\n[[network.dns.srv]]\nservice = \"http\"\nprotocol = \"tcp\"\ntarget = \"web\"\nport = 80\n[[network.dns.txt]]\nname = \"info\"\nvalue = \"hi\"\n",
    );
    let z = &plan(&c).dns[0];
    let has = |name: &str, data: RecordData| z.records.iter().any(|r| r.name == name && r.data == data);
    assert!(has("web.lab", RecordData::A("10.5.0.10".parse().unwrap())));
    assert!(has("10.0.5.10.in-addr.arpa", RecordData::Ptr("web.lab".into())));
    assert!(has("br9.lab", RecordData::A("10.5.0.1".parse().unwrap())));
    assert!(has(
        "_http._tcp.lab",
        RecordData::Srv {
            priority: 0,
            weight: 0,
            port: 80,
            target: "web.lab".into()
        }
    ));
    assert!(has("info.lab", RecordData::Txt("hi".into())));
}

#[test]
fn ipv6_is_disabled_on_guest_bridges_only() {
    let c = cfg(
        "[uplink]\ninterface = \"br0\"\n[[network]]\nname = \"a\"\nbridge = \"virbr0\"\naddress = \"10.1.0.1/24\"\n[[network]]\nname = \"l\"\nkind = \"bridge\"\nbridge = \"br0\"\nports = [\"eth1\"]\n",
    );
    let keys: Vec<String> = plan(&c).sysctls.into_iter().map(|s| s.path).collect();
    assert_eq!(
        keys,
        vec!["net/ipv4/ip_forward", "net/ipv6/conf/virbr0/disable_ipv6"]
    );
}

#[test]
fn bridges_get_a_stable_mac_unless_they_share_a_nic() {
    let p = plan(&default_config());
    let mac = p.bridges[0].mac.expect("a derived MAC");
    assert_eq!(mac, stable_mac("virbr0"));
    assert_eq!(&mac.0[..3], &[0x52, 0x54, 0x00]);
    assert_ne!(stable_mac("virbr0"), stable_mac("virbr1"));
    let c = cfg("[uplink]\ninterface = \"br0\"\n[[network]]\nname = \"l\"\nkind = \"bridge\"\nbridge = \"br0\"\nports = [\"eth0\"]\n");
    assert_eq!(plan(&c).bridges[0].mac, None);
}

#[test]
fn every_kind_but_isolated_and_bridge_turns_forwarding_on_as_libvirt_does() {
    for (kind, on) in [
        ("nat", true),
        ("route", true),
        ("open", true),
        ("isolated", false),
    ] {
        let p = plan(&net(kind, ""));
        let has = p
            .sysctls
            .iter()
            .any(|s| s.path == "net/ipv4/ip_forward" && s.value == "1");
        assert_eq!(has, on, "{kind}");
    }
}

/// libvirt's `<forward dev='eth1'>`: the network's traffic leaves by eth1
/// only (not a VPN's or a management NIC), in the filter and in the NAT.
#[test]
fn egress_limits_forwarding_and_nat_to_one_interface() {
    let r = rules(&net("nat", "egress = \"eth1\"\n"));
    assert!(
        r.contains("iifname \"br9\" oifname \"eth1\" ip saddr 10.5.0.0/24 accept"),
        "{r}"
    );
    assert!(!r.contains("iifname \"br9\" ip saddr 10.5.0.0/24 accept"), "{r}");
    assert!(
        r.contains(
            "iifname \"eth1\" oifname \"br9\" ip daddr 10.5.0.0/24 ct state established,related accept"
        ),
        "{r}"
    );
    assert!(
        r.contains("oifname \"eth1\" ip saddr 10.5.0.0/24 ip daddr != 10.5.0.0/24 masquerade"),
        "{r}"
    );
    assert!(
        !r.contains("\tip saddr 10.5.0.0/24 ip daddr != 10.5.0.0/24 masquerade"),
        "{r}"
    );
    let routed = rules(&net("route", "egress = \"eth1\"\n"));
    assert!(
        routed.contains("iifname \"eth1\" oifname \"br9\" ip daddr 10.5.0.0/24 accept"),
        "{routed}"
    );
    // Nowhere else to limit: the check says so.
    let e = config::parse(
        "[[network]]\nname = \"i\"\nkind = \"isolated\"\nbridge = \"br9\"\naddress = \"10.5.0.1/24\"\negress = \"eth1\"\n",
        "t.toml",
    )
    .expect_err("isolated with egress");
    assert!(e.to_string().contains("t.toml:6:"), "{e}");
}

#[test]
fn an_ipv6_prefix_turns_ipv6_on_and_is_advertised_by_kind() {
    let c = net(
        "route",
        "address6 = \"fd00:5::1/64\"\n[network.dns]\ndomain = \"lab\"\n",
    );
    let p = plan(&c);
    let s: Vec<(String, String)> = p
        .sysctls
        .iter()
        .map(|s| (s.path.clone(), s.value.clone()))
        .collect();
    for want in [
        ("net/ipv6/conf/all/forwarding", "1"),
        ("net/ipv6/conf/br9/disable_ipv6", "0"),
        ("net/ipv6/conf/br9/accept_ra", "0"),
    ] {
        assert!(
            s.contains(&(want.0.into(), want.1.into())),
            "{want:?} not in {s:?}"
        );
    }
    let ra = &p.ra[0];
    assert_eq!(ra.prefix.to_string(), "fd00:5::/64");
    assert!(ra.autonomous && !ra.managed);
    assert_eq!(ra.router_lifetime, 1800);
    assert_eq!(ra.dns, vec!["fd00:5::1".parse::<std::net::Ipv6Addr>().unwrap()]);
    assert_eq!(ra.search, vec!["lab".to_string()]);
    assert_eq!(p.dns[0].listen6, Some("fd00:5::1".parse().unwrap()));
    // Isolated: advertised without a default route, and no forwarding.
    let p = plan(&net("isolated", "address6 = \"fd00:5::1/64\"\n"));
    assert_eq!(p.ra[0].router_lifetime, 0);
    assert!(!p.sysctls.iter().any(|s| s.path == "net/ipv6/conf/all/forwarding"));
    // A host's bridge is not advertised on unless netagent serves its LAN.
    let p = plan(&cfg(
        "[uplink]\ninterface = \"br0\"\n[[network]]\nname = \"l\"\nkind = \"bridge\"\nbridge = \"br0\"\naddress6 = \"fd00:5::1/64\"\nports = [\"eth1\"]\n",
    ));
    assert!(p.ra.is_empty());
}

#[test]
fn ipv6_is_routed_guarded_and_masqueraded_only_when_asked() {
    let r = rules(&net("nat", "address6 = \"fd00:5::1/64\"\n"));
    for want in [
        "iifname \"br9\" ip6 saddr != fd00:5::/64 reject",
        "oifname \"br9\" ip6 daddr fd00:5::/64 accept",
        "iifname \"br9\" ip6 saddr fd00:5::/64 accept",
        "ip6 daddr fd00:5::1 meta l4proto { tcp, udp } th dport 53 iifname != \"br9\" iifname != \"lo\" drop",
        "iifname \"br9\" ip6 saddr != :: ip6 saddr != fe80::/10 ip6 saddr != fd00:5::/64 drop",
    ] {
        assert!(r.contains(want), "no `{want}` in:\n{r}");
    }
    assert!(
        !r.contains("ip6 saddr fd00:5::/64 ip6 daddr != fd00:5::/64 masquerade"),
        "{r}"
    );
    let r = rules(&net(
        "nat",
        "address6 = \"fd00:5::1/64\"\n[network.nat]\nipv6 = true\n",
    ));
    for want in [
        "oifname \"br9\" ip6 daddr fd00:5::/64 ct state established,related accept",
        "ip6 saddr fd00:5::/64 ip6 daddr ff00::/8 return",
        "meta l4proto tcp ip6 saddr fd00:5::/64 ip6 daddr != fd00:5::/64 masquerade to :1024-65535",
        "ip6 saddr fd00:5::/64 ip6 daddr != fd00:5::/64 masquerade",
    ] {
        assert!(r.contains(want), "no `{want}` in:\n{r}");
    }
    // Isolated: nothing of IPv6 is let through.
    let r = rules(&net("isolated", "address6 = \"fd00:5::1/64\"\n"));
    assert!(
        !r.contains("ip6 daddr fd00:5::/64 accept") && !r.contains("ip6 saddr fd00:5::/64 accept"),
        "{r}"
    );
}
