package plugin

import "net/netip"

// refusedPrefix is an address block a plugin may not dial without
// allow_private, with the registry entry it comes from.
type refusedPrefix struct {
	prefix netip.Prefix
	name   string
}

func refuse(cidr, name string) refusedPrefix {
	return refusedPrefix{netip.MustParsePrefix(cidr), name}
}

// refusedV4 is every block of the IANA IPv4 Special-Purpose Address Registry
// (RFC 6890 and its updates), plus multicast and the reserved class E. The
// rule is simple on purpose: a provider's API is an ordinary global unicast
// address, so every special-purpose block is refused, including those the
// registry marks "globally reachable" — anycast service addresses (PCP,
// TURN, AS112, AMT) are not provider APIs, and 192.88.99.0/24 (the
// deprecated 6to4 relay anycast) relays into whatever IPv6 network answers.
var refusedV4 = []refusedPrefix{
	refuse("0.0.0.0/8", `"this network" (RFC 791): 0.0.0.0 dials the host itself`),
	refuse("10.0.0.0/8", "private use (RFC 1918)"),
	refuse("100.64.0.0/10", "shared address space, carrier-grade NAT (RFC 6598)"),
	refuse("127.0.0.0/8", "loopback (RFC 1122)"),
	refuse("169.254.0.0/16", "link local, incl. cloud metadata 169.254.169.254 (RFC 3927)"),
	refuse("172.16.0.0/12", "private use (RFC 1918)"),
	// 192.0.0.0/24 holds DS-Lite, the IPv4 dummy address, NAT64 discovery
	// (192.0.0.170-171) and the globally reachable PCP and TURN anycast
	// addresses (192.0.0.9, 192.0.0.10): none is a provider.
	refuse("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
	refuse("192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)"),
	refuse("192.31.196.0/24", "AS112-v4 DNS sink (RFC 7535), globally reachable but no provider"),
	refuse("192.52.193.0/24", "AMT relay anycast (RFC 7450), globally reachable but no provider"),
	refuse("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526): relays into other networks"),
	refuse("192.168.0.0/16", "private use (RFC 1918)"),
	refuse("192.175.48.0/24", "AS112 direct delegation (RFC 7534), globally reachable but no provider"),
	refuse("198.18.0.0/15", "benchmarking (RFC 2544): often routed to lab or internal networks"),
	refuse("198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)"),
	refuse("203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)"),
	// Not special-purpose entries but never a unicast server either.
	refuse("224.0.0.0/4", "multicast (RFC 5771)"),
	refuse("240.0.0.0/4", "reserved (RFC 1112), incl. limited broadcast 255.255.255.255 (RFC 919)"),
}

// globalV6 is 2000::/3, the only IPv6 space IANA allocates for global
// unicast (IPv6 Address Space registry). Everything outside it is refused:
// ::/8 (unspecified, loopback, IPv4-compatible and IPv4-translated forms;
// IPv4-mapped ::ffff:0:0/96 is unmapped and checked as IPv4 first), 100::/64
// discard-only and 100:0:0:1::/64 dummy prefix, 64:ff9b::/96 and
// 64:ff9b:1::/48 NAT64 (they reach any IPv4 address through the local
// translator, private ones included), 5f00::/16 SRv6 SIDs, fc00::/7 unique
// local, fe80::/10 link local, fec0::/10 old site local, ff00::/8 multicast.
var globalV6 = netip.MustParsePrefix("2000::/3")

// refusedV6 is every block of the IANA IPv6 Special-Purpose Address Registry
// that lies inside 2000::/3 (the rest is refused by globalV6).
var refusedV6 = []refusedPrefix{
	// Teredo (2001::/32) tunnels to any IPv4 address; the rest of the block
	// (PCP/TURN/DNS-SD anycast, benchmarking 2001:2::/48, AMT 2001:3::/32,
	// AS112 2001:4:112::/48, ORCHID, DRIP) is no provider either.
	refuse("2001::/23", "IETF protocol assignments (RFC 2928), incl. Teredo"),
	refuse("2001:db8::/32", "documentation (RFC 3849)"),
	refuse("2002::/16", "6to4 (RFC 3056): embeds an IPv4 address, private ones included"),
	refuse("2620:4f:8000::/48", "AS112 direct delegation (RFC 7534)"),
	refuse("3fff::/20", "documentation (RFC 9637)"),
}

// addressRefusal says why a plugin may not dial ip without allow_private,
// or "" when ip is an ordinary global unicast address.
func addressRefusal(ip netip.Addr) string {
	if !ip.IsValid() {
		return "not an IP address"
	}
	ip = ip.Unmap() // ::ffff:10.0.0.1 is 10.0.0.1 on the wire
	if ip.Is4() {
		for _, r := range refusedV4 {
			if r.prefix.Contains(ip) {
				return r.name
			}
		}
		return ""
	}
	if !globalV6.Contains(ip) {
		return "outside IPv6 global unicast 2000::/3 (loopback, link local, unique local, NAT64, multicast or reserved)"
	}
	for _, r := range refusedV6 {
		if r.prefix.Contains(ip) {
			return r.name
		}
	}
	return ""
}

func isPublic(ip netip.Addr) bool { return addressRefusal(ip) == "" }
