"""A new guest's first lease: a veth pair appears as a VM's tap would (the
server's end named vnetN), and a client on the guest's end sends a DHCP
DISCOVER every 50 ms until an OFFER comes, then REQUESTs every 50 ms until
the ACK. Prints the milliseconds from the tap's creation to the ACK.

  python3 newguest.py SERVER_NS GUEST_NS TAP [BRIDGE]
  (it runs itself as `client MAC` in the guest namespace)

BRIDGE: enslave the tap by hand (as libvirt does); without it the server
(netagent) takes the tap itself, as its `vnet*` pattern says.
"""
import os
import socket
import struct
import subprocess
import sys
import time


def ns_exec(ns, *args):
    subprocess.run(["ip", "netns", "exec", ns, *args], check=True)


def packet(xid, mac, kind, extra=b""):
    head = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000,
                       b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 4, mac + b"\0" * 10, b"", b"")
    return head + b"\x63\x82\x53\x63" + bytes([53, 1, kind]) + extra + b"\xff"


def options(b):
    out, i = {}, 240
    while i + 1 < len(b) and b[i] != 255:
        if b[i] == 0:
            i += 1
            continue
        out[b[i]] = b[i + 2:i + 2 + b[i + 1]]
        i += 2 + b[i + 1]
    return out


def client(mac):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
    s.bind(("0.0.0.0", 68))
    s.settimeout(0.05)
    xid = int.from_bytes(os.urandom(4), "big")
    offer = None
    while True:
        if offer is None:
            s.sendto(packet(xid, mac, 1), ("255.255.255.255", 67))
        else:
            yi, sid = offer
            s.sendto(packet(xid, mac, 3, bytes([50, 4]) + yi + bytes([54, 4]) + sid), ("255.255.255.255", 67))
        end = time.monotonic() + 0.05
        while time.monotonic() < end:
            try:
                b = s.recv(1500)
            except socket.timeout:
                break
            if len(b) < 240 or b[4:8] != xid.to_bytes(4, "big"):
                continue
            o = options(b)
            if o.get(53) == b"\x02" and offer is None:
                offer = (b[16:20], o.get(54, b"\0" * 4))
                break
            if o.get(53) == b"\x05":
                return


def main():
    if sys.argv[1] == "client":
        # In the guest's namespace: wait for eth0, then lease; print when.
        while not os.path.exists("/sys/class/net/eth0"):
            time.sleep(0.002)
        subprocess.run(["ip", "link", "set", "eth0", "up"], check=True)
        client(bytes.fromhex(sys.argv[2]))
        print(f"{time.monotonic():.6f}")
        return
    server_ns, guest_ns, tap = sys.argv[1:4]
    bridge = sys.argv[4] if len(sys.argv) > 4 else None
    mac = bytes([0x52, 0x54, 0x00]) + os.urandom(3)
    c = subprocess.Popen(["ip", "netns", "exec", guest_ns, sys.executable, __file__, "client", mac.hex()],
                         stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)  # the client is up and waiting for eth0
    t0 = time.monotonic()
    subprocess.run(["ip", "link", "add", tap, "netns", server_ns, "type", "veth", "peer", "name", "eth0",
                    "netns", guest_ns], check=True)
    if bridge:
        ns_exec(server_ns, "ip", "link", "set", tap, "master", bridge, "up")
    done = float(c.communicate(timeout=60)[0].strip())
    print(f"{(done - t0) * 1000:.0f}")


main()
