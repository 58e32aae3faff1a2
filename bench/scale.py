#!/usr/bin/env python3
"""`make bench BENCH=scale`: what netagent costs as a host grows.

Run inside a fresh network namespace (bench/scale.sh makes one per size).
For NETWORKS x PORTS (NAT networks with DHCP and DNS, veth ports), prints
one JSON line: `run --once` cold and no-op times, idle CPU and RSS of
`netagent run` over IDLE seconds (after SETTLE seconds), and the time from a new port's link
appearing to its being enslaved (median and worst of several).
"""
import json, os, subprocess, sys, tempfile, time

BIN, NETS, PORTS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
IDLE = float(os.environ.get("IDLE", "30"))
SETTLE = float(os.environ.get("SETTLE", "10"))
TICK = os.sysconf("SC_CLK_TCK")


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def batch(lines):
    subprocess.run(["ip", "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True)


def config():
    out = ['[uplink]\ninterface = "up0"\naddress = "10.250.0.2/24"\n']
    for i in range(NETS):
        a, b = 100 + i // 250, i % 250
        out.append(
            f'[[network]]\nname = "s{i}"\nbridge = "sb{i}"\naddress = "10.{a}.{b}.1/24"\n'
            f'stp = false\nports = ["p{i}x*"]\n'
            f'[network.dhcp]\nranges = ["10.{a}.{b}.100-10.{a}.{b}.200"]\n'
        )
    return "".join(out)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime, stime, and the children it waited for (nft): fields 14-17.
    return sum(int(x) for x in fields[11:15])


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t) * 1000


def enslave_ms(name, peer):
    t = time.perf_counter()
    sh("ip", "link", "add", name, "type", "veth", "peer", "name", peer)
    master = f"/sys/class/net/{name}/master"
    while not os.path.exists(master):
        if time.perf_counter() - t > 5:
            return None
        time.sleep(0.0005)
    return (time.perf_counter() - t) * 1000


def main():
    d = tempfile.mkdtemp(prefix="netagent-scale.")
    cfg = os.path.join(d, "scale.toml")
    with open(cfg, "w") as f:
        f.write(config())
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1")
    sh("ip", "link", "set", "up0", "up")
    batch([f"link add p{i}x{j} type veth peer name q{i}x{j}" for i in range(NETS) for j in range(PORTS)])
    args = ["-c", cfg, "--state-dir", f"{d}/state", "--lease-dir", f"{d}/leases"]
    cold = timed([BIN, "run", "--once", *args])
    noop = timed([BIN, "run", "--once", *args])
    log = open(os.path.join(d, "run.log"), "w")
    agent = subprocess.Popen([BIN, "run", *args], stderr=log, stdout=subprocess.DEVNULL)
    try:
        t = time.time()
        while "networks are up" not in open(log.name).read():
            if time.time() - t > 60 or agent.poll() is not None:
                raise SystemExit("netagent did not come up:\n" + open(log.name).read())
            time.sleep(0.05)
        # Servers start and the burst of events from the first pass settles;
        # the window then holds one 30 s safety-net pass.
        time.sleep(SETTLE)
        c0, t0 = cpu_ticks(agent.pid), time.time()
        time.sleep(IDLE)
        c1, t1 = cpu_ticks(agent.pid), time.time()
        idle = (c1 - c0) / TICK / (t1 - t0) * 100
        rss = rss_kib(agent.pid)
        lat = []
        for k in range(7):
            lat.append(enslave_ms(f"p0xn{k}", f"q0xn{k}"))
            time.sleep(0.3)
        lat = sorted(x for x in lat if x is not None)
        print(json.dumps({
            "networks": NETS, "ports": PORTS,
            "idle_cpu_pct": round(idle, 2), "rss_mib": round(rss / 1024, 1),
            "once_cold_ms": round(cold), "once_noop_ms": round(noop),
            "enslave_ms_median": round(lat[len(lat) // 2], 1) if lat else None,
            "enslave_ms_max": round(lat[-1], 1) if lat else None,
        }), flush=True)
    finally:
        agent.terminate()
        agent.wait()
        subprocess.run([BIN, "down", *args[:2], "--state-dir", f"{d}/state"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


main()
