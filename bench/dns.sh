# Sourced by bench/run.sh: DNS beside dnsmasq and unbound (same veth pair).
DNS_MODES=${DNS_MODES:-local fwd-hit fwd-miss}
"$H/netns.sh" up
"$H/dns.sh" dnsmasq $DNS_MODES
"$H/dns.sh" unbound $DNS_MODES
"$H/netns.sh" down
BRIDGED=1 "$H/netns.sh" up
SERVER_CMD="$ROOT/bench/dns-server.sh $BIN $W/dns" "$H/dns.sh" cmd $DNS_MODES
"$H/netns.sh" down
