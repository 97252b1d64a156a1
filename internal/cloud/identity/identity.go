// Package identity names VMs on their platform and marks them as owned, so
// that no namespace can reach another's VM by choosing a name. It is shared
// by the provider (which names and checks VMs) and the composition function
// (which refuses, with a message, names a platform cannot hold).
package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MaxNameLength is the longest platform name each platform holds, with
// what the provider derives from it:
//   - vsphere: guest customization makes the name the hostname, one DNS
//     label (63), although vCenter itself accepts 80;
//   - azure: a Linux computer name is at most 64 (the NIC "-nic" and disks
//     "-os", "-data" stay within Azure's 80);
//   - gcp: instance names are at most 63 and the boot disk is named
//     "<name>-boot", so 58.
var MaxNameLength = map[string]int{"vsphere": 63, "azure": 64, "gcp": 63 - len("-boot")}

// label is what every platform accepts in a name: lowercase letters,
// digits and inner hyphens (GCP's rule, the strictest of the three).
var label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Name is the platform name of the VM of namespace/name:
// "q<len(namespace)>-<namespace>-<name>". The length prefix makes it
// injective: "team-a"/"orders" and "team"/"a-orders" give q6-team-a-orders
// and q4-team-a-orders, which "<namespace>-<name>" did not tell apart. It
// starts with a letter whatever the namespace, as GCP requires.
func Name(namespace, name string) string {
	return "q" + strconv.Itoa(len(namespace)) + "-" + namespace + "-" + name
}

// Parse is Name's inverse: it returns ok false for a string Name never
// returns.
func Parse(platformName string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(platformName, "q")
	if !found {
		return "", "", false
	}
	digits, rest, found := strings.Cut(rest, "-")
	n, err := strconv.Atoi(digits)
	if !found || err != nil || strconv.Itoa(n) != digits || n < 1 || len(rest) < n+2 || rest[n] != '-' {
		return "", "", false
	}
	return rest[:n], rest[n+1:], true
}

// For returns the platform name of namespace/name on platform, or an error
// naming what to shorten or rename when the platform cannot hold it.
func For(platform, namespace, name string) (string, error) {
	if !label.MatchString(name) {
		return "", fmt.Errorf("VirtualMachine name %q cannot name a VM: use lowercase letters, digits and inner hyphens only (no dots)", name)
	}
	if !label.MatchString(namespace) {
		return "", fmt.Errorf("namespace %q cannot name a VM: use lowercase letters, digits and inner hyphens only", namespace)
	}
	out := Name(namespace, name)
	max, ok := MaxNameLength[platform]
	if !ok {
		return "", fmt.Errorf("platform %q has no VM naming rule: use vsphere, azure or gcp", platform)
	}
	if len(out) > max {
		return "", fmt.Errorf("the VM name %s (namespace %s, name %s) is %d characters, over the %d %s allows: shorten the namespace or the name by %d characters", out, namespace, name, len(out), max, platform, len(out)-max)
	}
	return out, nil
}

// OwnerKey is the tag, label or extraConfig key holding a VM's ownership
// mark. Valid on every platform: Azure forbids "/" in tag names and GCP
// allows only lowercase letters, digits, "-" and "_" in label keys.
const OwnerKey = "quorum-owner"

// LegacyOwnerKeys held "<namespace>/<name>" on VMs created before the mark
// (Azure tag, vSphere extraConfig); they are still recognised.
var LegacyOwnerKeys = []string{"quorum.dev/owner", "guestinfo.quorum.owner"}

// Owner is the ownership mark of the VirtualMachine namespace/name: a
// digest, because a GCP label value holds at most 63 characters from
// [a-z0-9_-]. The provider compares it before it treats a VM as its own.
func Owner(namespace, name string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	return "v1-" + hex.EncodeToString(sum[:20])
}

// FromLegacy returns the mark a legacy "<namespace>/<name>" value stands
// for, or "" if it is not one.
func FromLegacy(v string) string {
	ns, name, ok := strings.Cut(v, "/")
	if !ok || ns == "" || name == "" {
		return ""
	}
	return Owner(ns, name)
}

// Read returns the ownership mark among a VM's tags or labels: the mark
// itself, else one a legacy key stands for, else "".
func Read(tags map[string]string) string {
	if v := tags[OwnerKey]; v != "" {
		return v
	}
	for _, k := range LegacyOwnerKeys {
		if v := FromLegacy(tags[k]); v != "" {
			return v
		}
	}
	return ""
}
