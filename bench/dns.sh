# Sourced by bench/run.sh: DNS beside dnsmasq and unbound. Every server
# answers through the same path: a bridge in bsrv holding 10.9.0.1/16 with
# the client's veth as its port, as a VM host's guests reach their DNS
# server. netagent makes that bridge itself; for dnsmasq and unbound the
# same bridge is made here (without it they would answer from the veth
# directly and skip the bridge's cost, about a tenth of every answer).
# DNS_PLAIN=1 runs the reference servers on the bare veth instead.
DNS_MODES=${DNS_MODES:-local fwd-hit fwd-miss}
ref_net_up() {
  if [ -n "${DNS_PLAIN:-}" ]; then "$H/netns.sh" up; return; fi
  BRIDGED=1 "$H/netns.sh" up
  ip -n bsrv link add bbr0 type bridge stp_state 0 forward_delay 0
  ip -n bsrv link set vsrv master bbr0
  ip -n bsrv addr add 10.9.0.1/16 dev bbr0
  ip -n bsrv link set bbr0 up
}
ref_net_up
"$H/dns.sh" dnsmasq $DNS_MODES
"$H/netns.sh" down
ref_net_up
"$H/dns.sh" unbound $DNS_MODES
"$H/netns.sh" down
BRIDGED=1 "$H/netns.sh" up
SERVER_CMD="$ROOT/bench/dns-server.sh $BIN $W/dns" "$H/dns.sh" cmd $DNS_MODES
"$H/netns.sh" down
