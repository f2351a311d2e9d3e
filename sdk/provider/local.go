package provider

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// UsesKey says whether requests to the server at base_url u carry the
// caller's key, from the plugin's `auth` config value: "bearer" always,
// "none" never, "" (unset) unless the server looks local: plain http,
// localhost, a .local name, or a loopback, private or link-local address
// (how Speaches, LocalAI and other OpenAI-compatible servers are usually
// run, without a key). Any other value is an error naming the setting.
func UsesKey(u *url.URL, auth string) (bool, error) {
	switch auth {
	case "":
		return !IsLocal(u), nil
	case "bearer":
		return true, nil
	case "none":
		return false, nil
	}
	return false, fmt.Errorf("plugin config auth %q is not one of bearer, none", auth)
}

// IsLocal reports a server that takes no key unless the plugin's config
// says auth = "bearer" (see UsesKey).
func IsLocal(u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	if u.Scheme == "http" || host == "localhost" || strings.HasSuffix(host, ".local") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast())
}
