package plugin

import "testing"

// TestAddressClasses walks the IANA IPv4 and IPv6 special-purpose address
// registries: one address from every entry is refused, ordinary global
// unicast addresses are allowed.
func TestAddressClasses(t *testing.T) {
	refused := []string{
		// IPv4 special-purpose registry, in registry order.
		"0.0.0.0", "0.1.2.3", "10.1.2.3", "100.64.0.1", "100.127.255.254", "127.0.0.1", "127.255.0.1",
		"169.254.169.254", "172.16.0.1", "172.31.255.255", "192.0.0.1", "192.0.0.8", "192.0.0.9",
		"192.0.0.10", "192.0.0.170", "192.0.0.171", "192.0.2.1", "192.31.196.1", "192.52.193.1",
		"192.88.99.1", "192.168.1.1", "192.175.48.1", "198.18.0.1", "198.19.255.254", "198.51.100.1",
		"203.0.113.1", "240.0.0.1", "255.255.255.255",
		// Multicast.
		"224.0.0.1", "239.255.255.250",
		// IPv4 in IPv6 forms.
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:198.18.0.1", "::127.0.0.1", "::ffff:0:10.0.0.1",
		// IPv6 special-purpose registry, in registry order.
		"::1", "::", "64:ff9b::a00:1", "64:ff9b::808:808", "64:ff9b:1::1", "100::1", "100:0:0:1::1",
		"2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:1::1", "2001:1::2", "2001:1::3",
		"2001:2::1", "2001:3::1", "2001:4:112::1", "2001:10::1", "2001:20::1", "2001:30::1",
		"2001:db8::1", "2002:a00:1::1", "2002:808:808::1", "2620:4f:8000::1", "3fff::1", "3fff:fff::1",
		"5f00::1", "fc00::1", "fd00::1", "fe80::1", "fec0::1",
		// Multicast and reserved IPv6 space.
		"ff02::1", "ff0e::1", "4000::1", "8000::1", "e000::1",
	}
	for _, a := range refused {
		if why := addressRefusal(mustAddr(t, a)); why == "" {
			t.Errorf("%s is allowed, want refused", a)
		}
	}
	allowed := []string{
		"8.8.8.8", "1.1.1.1", "104.18.7.192", "100.63.255.255", "100.128.0.1", "172.15.255.255",
		"172.32.0.1", "192.0.1.1", "192.88.98.1", "198.17.255.255", "198.20.0.1", "223.255.255.254",
		"::ffff:8.8.8.8", "2606:4700::1111", "2001:4860:4860::8888", "2001:200::1", "2a00:1450::1",
		"2620:4f:7fff::1", "3ffe::1",
	}
	for _, a := range allowed {
		if why := addressRefusal(mustAddr(t, a)); why != "" {
			t.Errorf("%s is refused (%s), want allowed", a, why)
		}
	}
}
