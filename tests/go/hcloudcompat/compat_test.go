// Package hcloudcompat drives the platform's gateway with Hetzner's official Go library
// (hcloud-go, the one Terraform's provider, Packer and the hcloud CLI are built on), unchanged:
// only the endpoint and a platform API token differ from a run against Hetzner.
//
// The scenario is what a Terraform run does: catalog reads, an SSH key, servers with labels
// listed by selector over several pages, in-place updates, power actions, change type,
// rebuild, rescue, ISO, metrics, a snapshot with protection, a server from the snapshot, a
// placement group, floating IPs (assigned, reverse DNS, protection), and everything deleted
// again with nothing left. The steps that wait for a
// family or fix not merged yet are subtests skipped with the item; remove the skip
// once it is in.
//
// It needs a running gateway: CP_HCLOUD_ENDPOINT (e.g. http://127.0.0.1:8080/v1) and
// CP_HCLOUD_TOKEN (a platform API key with servers, images and ssh_keys write scopes); without
// them the test is skipped. tests/integration/gateway/test_go_hcloud_compat.py runs it against
// a gateway of its own and validates every answer against Hetzner's spec.
package hcloudcompat

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
)

func newClient(t *testing.T) *hcloud.Client {
	t.Helper()
	endpoint, token := os.Getenv("CP_HCLOUD_ENDPOINT"), os.Getenv("CP_HCLOUD_TOKEN")
	if endpoint == "" || token == "" {
		t.Skip("set CP_HCLOUD_ENDPOINT and CP_HCLOUD_TOKEN to run against a gateway")
	}
	return hcloud.NewClient(
		hcloud.WithEndpoint(endpoint),
		hcloud.WithToken(token),
		hcloud.WithApplication("cloudplatform-hcloudcompat", "1"),
		hcloud.WithPollOpts(hcloud.PollOpts{BackoffFunc: hcloud.ConstantBackoff(50 * time.Millisecond)}),
	)
}

// publicKey is a fresh ed25519 key in OpenSSH's authorized_keys form.
func publicKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	field := func(b []byte) []byte {
		out := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
		return append(out, b...)
	}
	blob := append(field([]byte("ssh-ed25519")), field(pub)...)
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " compat@test"
}

// deleteLoadBalancer sends DELETE /load_balancers/{id}, which answers 204 as Hetzner's reference
// says: hcloud-go's LoadBalancer.Delete decodes an action from the answer, which newer Hetzner
// APIs send, so the request is sent as it is.
func deleteLoadBalancer(ctx context.Context, client *hcloud.Client, id int64) error {
	req, err := client.NewRequest(ctx, "DELETE", fmt.Sprintf("/load_balancers/%d", id), nil)
	if err != nil {
		return err
	}
	_, err = client.Do(req, nil)
	return err
}

func must[T any](t *testing.T, what string) func(T, *hcloud.Response, error) T {
	return func(value T, _ *hcloud.Response, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return value
	}
}

func wait(ctx context.Context, t *testing.T, client *hcloud.Client, what string, actions ...*hcloud.Action) {
	t.Helper()
	if err := client.Action.WaitFor(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestTerraformScenario(t *testing.T) {
	client := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// This run's names and its "app" label: against a shared gateway it touches nothing else.
	run := fmt.Sprintf("compat-%d", time.Now().UnixNano()%1_000_000_000)
	mine := hcloud.ListOpts{LabelSelector: "app=" + run}

	// Catalog reads, as the provider's data sources and plan do.
	serverTypes, err := client.ServerType.All(ctx)
	if err != nil {
		t.Fatalf("server types: %v", err)
	}
	byName := map[string]*hcloud.ServerType{}
	for _, st := range serverTypes {
		byName[st.Name] = st
	}
	cx22, cx32 := byName["cx22"], byName["cx32"]
	if cx22 == nil || cx32 == nil || cx22.Disk <= 0 || cx22.Cores <= 0 || len(cx22.Pricings) == 0 {
		t.Fatalf("server types cx22 and cx32 with disk, cores and prices expected, got %+v %+v", cx22, cx32)
	}
	if got := must[*hcloud.ServerType](t, "server type by name")(client.ServerType.GetByName(ctx, "cx22")); got.ID != cx22.ID {
		t.Fatalf("server type by name: %d, want %d", got.ID, cx22.ID)
	}
	locations, err := client.Location.All(ctx)
	if err != nil || len(locations) == 0 {
		t.Fatalf("locations: %v (%d)", err, len(locations))
	}
	fsn1 := must[*hcloud.Location](t, "location fsn1")(client.Location.GetByName(ctx, "fsn1"))
	if fsn1 == nil || fsn1.NetworkZone == "" {
		t.Fatalf("location fsn1: %+v", fsn1)
	}
	if datacenters, err := client.Datacenter.All(ctx); err != nil || len(datacenters) == 0 { //nolint:staticcheck // still served by Hetzner
		t.Fatalf("datacenters: %v", err)
	}
	ubuntu := must[*hcloud.Image](t, "image ubuntu-24.04")(
		client.Image.GetByNameAndArchitecture(ctx, "ubuntu-24.04", hcloud.ArchitectureX86))
	if ubuntu == nil || ubuntu.Type != hcloud.ImageTypeSystem {
		t.Fatalf("image ubuntu-24.04: %+v", ubuntu)
	}
	if _, err := client.Image.AllWithOpts(ctx, hcloud.ImageListOpts{Type: []hcloud.ImageType{hcloud.ImageTypeSystem}}); err != nil {
		t.Fatalf("images: %v", err)
	}
	isos, err := client.ISO.All(ctx)
	if err != nil || len(isos) == 0 {
		t.Fatalf("isos: %v (%d)", err, len(isos))
	}
	pricing := must[hcloud.Pricing](t, "pricing")(client.Pricing.Get(ctx))
	if pricing.VATRate == "" || len(pricing.ServerTypes) == 0 {
		t.Fatalf("pricing: %+v", pricing)
	}

	// An SSH key.
	key := must[*hcloud.SSHKey](t, "create SSH key")(client.SSHKey.Create(ctx, hcloud.SSHKeyCreateOpts{
		Name: run + "-key", PublicKey: publicKey(t), Labels: map[string]string{"managed-by": "terraform"},
	}))
	if got := must[*hcloud.SSHKey](t, "get SSH key")(client.SSHKey.GetByID(ctx, key.ID)); got.Fingerprint != key.Fingerprint {
		t.Fatalf("SSH key by id: %+v", got)
	}
	if got := must[*hcloud.SSHKey](t, "SSH key by name")(client.SSHKey.GetByName(ctx, run+"-key")); got == nil || got.ID != key.ID {
		t.Fatalf("SSH key by name: %+v", got)
	}

	key = must[*hcloud.SSHKey](t, "update SSH key")(client.SSHKey.Update(ctx, key, hcloud.SSHKeyUpdateOpts{
		Labels: map[string]string{"managed-by": "terraform", "team": "web"},
	}))
	if key.Labels["team"] != "web" {
		t.Fatalf("SSH key labels: %v", key.Labels)
	}

	// Servers with labels; the provider waits for each create action.
	labels := map[string]string{"app": run, "managed-by": "terraform"}
	var servers []*hcloud.Server
	for i := range 3 {
		created := must[hcloud.ServerCreateResult](t, "create server")(client.Server.Create(ctx, hcloud.ServerCreateOpts{
			Name:       fmt.Sprintf("%s-%d", run, i),
			ServerType: &hcloud.ServerType{Name: "cx22"},
			Image:      &hcloud.Image{Name: "ubuntu-24.04"},
			Location:   &hcloud.Location{Name: "fsn1"},
			SSHKeys:    []*hcloud.SSHKey{key},
			Labels:     labels,
		}))
		wait(ctx, t, client, "create server", append([]*hcloud.Action{created.Action}, created.NextActions...)...)
		servers = append(servers, created.Server)
	}
	server := must[*hcloud.Server](t, "get server")(client.Server.GetByID(ctx, servers[0].ID))
	if server.Status != hcloud.ServerStatusRunning || server.PublicNet.IPv4.IP == nil || server.ServerType.Name != "cx22" ||
		server.Labels["app"] != run || server.Image == nil || server.Image.Name != "ubuntu-24.04" {
		t.Fatalf("server after create: %+v", server)
	}
	if got := must[*hcloud.Server](t, "server by name")(client.Server.GetByName(ctx, run+"-0")); got == nil || got.ID != server.ID {
		t.Fatalf("server by name: %+v", got)
	}

	// Listing by label selector, two to a page: every page is followed.
	listed, err := client.Server.AllWithOpts(ctx, hcloud.ServerListOpts{
		ListOpts: hcloud.ListOpts{LabelSelector: "app=" + run + ",managed-by", PerPage: 2},
	})
	if err != nil {
		t.Fatalf("servers by label: %v", err)
	}
	if ids(listed) != ids(servers) {
		t.Fatalf("servers by label: %v, want %v", ids(listed), ids(servers))
	}
	page, response, err := client.Server.List(ctx, hcloud.ServerListOpts{
		ListOpts: hcloud.ListOpts{LabelSelector: "app=" + run, Page: 2, PerPage: 2},
	})
	if err != nil || len(page) != 1 || response.Meta.Pagination == nil || response.Meta.Pagination.TotalEntries != 3 ||
		response.Meta.Pagination.LastPage != 2 || response.Meta.Pagination.PreviousPage != 1 {
		t.Fatalf("page 2 of servers: %v, %d servers, %+v", err, len(page), response.Meta.Pagination)
	}
	if none, err := client.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: "app=other"}}); err != nil || len(none) != 0 {
		t.Fatalf("servers app=other: %v %d", err, len(none))
	}

	// An in-place update: name and labels.
	renamed := must[*hcloud.Server](t, "update server")(client.Server.Update(ctx, server, hcloud.ServerUpdateOpts{
		Name: run + "-web", Labels: map[string]string{"app": run, "managed-by": "terraform", "tier": "web"},
	}))
	if renamed.Name != run+"-web" || renamed.Labels["tier"] != "web" {
		t.Fatalf("after update: %s %v", renamed.Name, renamed.Labels)
	}
	if web, err := client.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: "app=" + run + ",tier in (web)"}}); err != nil || ids(web) != ids(servers[:1]) {
		t.Fatalf("servers tier in (web): %v %v", err, ids(web))
	}

	// Power off, change type while off, power on.
	wait(ctx, t, client, "power off", must[*hcloud.Action](t, "power off")(client.Server.Poweroff(ctx, server)))
	if got := must[*hcloud.Server](t, "server off")(client.Server.GetByID(ctx, server.ID)); got.Status != hcloud.ServerStatusOff {
		t.Fatalf("after power off: %s", got.Status)
	}
	wait(ctx, t, client, "change type", must[*hcloud.Action](t, "change type")(client.Server.ChangeType(ctx, server,
		hcloud.ServerChangeTypeOpts{ServerType: &hcloud.ServerType{Name: "cx32"}, UpgradeDisk: false})))
	changed := must[*hcloud.Server](t, "server changed")(client.Server.GetByID(ctx, server.ID))
	if changed.ServerType.Name != "cx32" || changed.PrimaryDiskSize != cx22.Disk {
		t.Fatalf("after change type: %s, disk %d (want cx32, %d)", changed.ServerType.Name, changed.PrimaryDiskSize, cx22.Disk)
	}
	wait(ctx, t, client, "power on", must[*hcloud.Action](t, "power on")(client.Server.Poweron(ctx, server)))
	wait(ctx, t, client, "reboot", must[*hcloud.Action](t, "reboot")(client.Server.Reboot(ctx, server)))

	// Rebuild from another system image.
	rebuilt := must[hcloud.ServerRebuildResult](t, "rebuild")(client.Server.RebuildWithResult(ctx, server,
		hcloud.ServerRebuildOpts{Image: &hcloud.Image{Name: "debian-12"}}))
	wait(ctx, t, client, "rebuild", rebuilt.Action)
	if got := must[*hcloud.Server](t, "server rebuilt")(client.Server.GetByID(ctx, server.ID)); got.Image == nil || got.Image.Name != "debian-12" {
		t.Fatalf("after rebuild: %+v", got.Image)
	}

	// Rescue on and off: its root password is in the answer.
	rescue := must[hcloud.ServerEnableRescueResult](t, "enable rescue")(client.Server.EnableRescue(ctx, server,
		hcloud.ServerEnableRescueOpts{Type: hcloud.ServerRescueTypeLinux64}))
	wait(ctx, t, client, "enable rescue", rescue.Action)
	if got := must[*hcloud.Server](t, "server in rescue")(client.Server.GetByID(ctx, server.ID)); !got.RescueEnabled || rescue.RootPassword == "" {
		t.Fatalf("rescue enabled %v, root password %q", got.RescueEnabled, rescue.RootPassword)
	}
	wait(ctx, t, client, "disable rescue", must[*hcloud.Action](t, "disable rescue")(client.Server.DisableRescue(ctx, server)))
	t.Run("rescue with SSH keys", func(t *testing.T) {
		withKeys := must[hcloud.ServerEnableRescueResult](t, "enable rescue with keys")(client.Server.EnableRescue(ctx, server,
			hcloud.ServerEnableRescueOpts{Type: hcloud.ServerRescueTypeLinux64, SSHKeys: []*hcloud.SSHKey{key}}))
		wait(ctx, t, client, "enable rescue with keys", withKeys.Action)
		if withKeys.RootPassword == "" {
			t.Fatal("no rescue root password")
		}
		wait(ctx, t, client, "disable rescue", must[*hcloud.Action](t, "disable rescue")(client.Server.DisableRescue(ctx, server)))
	})

	// ISO, metrics and the server's actions.
	var iso *hcloud.ISO
	for _, candidate := range isos {
		if candidate.Architecture == nil || *candidate.Architecture == hcloud.ArchitectureX86 {
			iso = candidate
		}
	}
	if iso == nil {
		t.Fatal("no ISO for x86")
	}
	wait(ctx, t, client, "attach ISO", must[*hcloud.Action](t, "attach ISO")(client.Server.AttachISO(ctx, server, iso)))
	if got := must[*hcloud.Server](t, "server with ISO")(client.Server.GetByID(ctx, server.ID)); got.ISO == nil || got.ISO.ID != iso.ID {
		t.Fatalf("attached ISO: %+v", got.ISO)
	}
	wait(ctx, t, client, "detach ISO", must[*hcloud.Action](t, "detach ISO")(client.Server.DetachISO(ctx, server)))
	now := time.Now()
	metrics := must[*hcloud.ServerMetrics](t, "metrics")(client.Server.GetMetrics(ctx, server, hcloud.ServerGetMetricsOpts{
		Types: []hcloud.ServerMetricType{hcloud.ServerMetricCPU}, Start: now.Add(-time.Hour), End: now, Step: 60,
	}))
	if len(metrics.TimeSeries["cpu"]) == 0 {
		t.Fatalf("metrics: no cpu series: %+v", metrics)
	}
	if actions, err := client.Server.Action.AllFor(ctx, server, hcloud.ActionListOpts{}); err != nil || len(actions) < 8 {
		t.Fatalf("the server's actions: %v (%d)", err, len(actions))
	}
	if actions, err := client.Server.Action.All(ctx, hcloud.ActionListOpts{Status: []hcloud.ActionStatus{hcloud.ActionStatusSuccess}}); err != nil || len(actions) < 10 {
		t.Fatalf("server actions: %v (%d)", err, len(actions))
	}
	if got := must[*hcloud.Action](t, "server action by id")(client.Server.Action.GetByID(ctx, rebuilt.Action.ID)); got.Command != "rebuild_server" {
		t.Fatalf("server action by id: %+v", got)
	}
	if got := must[*hcloud.Action](t, "action by id")(client.Action.GetByID(ctx, rebuilt.Action.ID)); got.Status != hcloud.ActionStatusSuccess {
		t.Fatalf("action by id: %+v", got)
	}
	wait(ctx, t, client, "server protection", must[*hcloud.Action](t, "server protection")(client.Server.ChangeProtection(ctx, server,
		hcloud.ServerChangeProtectionOpts{Delete: hcloud.Ptr(true), Rebuild: hcloud.Ptr(true)})))
	wait(ctx, t, client, "server protection off", must[*hcloud.Action](t, "server protection off")(client.Server.ChangeProtection(ctx, server,
		hcloud.ServerChangeProtectionOpts{Delete: hcloud.Ptr(false), Rebuild: hcloud.Ptr(false)})))

	// A snapshot of the server.
	made := must[hcloud.ServerCreateImageResult](t, "create image")(client.Server.CreateImage(ctx, server, &hcloud.ServerCreateImageOpts{
		Type: hcloud.ImageTypeSnapshot, Description: hcloud.Ptr("compat snapshot"), Labels: labels,
	}))
	wait(ctx, t, client, "create image", made.Action)
	snapshot := must[*hcloud.Image](t, "get snapshot")(client.Image.GetByID(ctx, made.Image.ID))
	if snapshot.Type != hcloud.ImageTypeSnapshot || snapshot.Status != hcloud.ImageStatusAvailable || snapshot.Description != "compat snapshot" {
		t.Fatalf("snapshot: %+v", snapshot)
	}
	snapshot = must[*hcloud.Image](t, "update snapshot")(client.Image.Update(ctx, snapshot, hcloud.ImageUpdateOpts{
		Description: hcloud.Ptr("kept"), Labels: map[string]string{"app": run, "kind": "golden"},
	}))
	if snapshot.Description != "kept" || snapshot.Labels["kind"] != "golden" {
		t.Fatalf("snapshot after update: %q %v", snapshot.Description, snapshot.Labels)
	}
	if golden, err := client.Image.AllWithOpts(ctx, hcloud.ImageListOpts{ListOpts: hcloud.ListOpts{LabelSelector: "app=" + run + ",kind=golden"}}); err != nil || len(golden) != 1 {
		t.Fatalf("images kind=golden: %v %d", err, len(golden))
	}
	t.Run("snapshot protection", func(t *testing.T) {
		protect := must[*hcloud.Action](t, "protect snapshot")(client.Image.ChangeProtection(ctx, snapshot,
			hcloud.ImageChangeProtectionOpts{Delete: hcloud.Ptr(true)}))
		wait(ctx, t, client, "protect snapshot", protect)
		if got := must[*hcloud.Image](t, "protected snapshot")(client.Image.GetByID(ctx, snapshot.ID)); !got.Protection.Delete {
			t.Fatal("snapshot not protected")
		}
		if _, err := client.Image.Delete(ctx, snapshot); !hcloud.IsError(err, hcloud.ErrorCodeProtected) {
			t.Fatalf("deleting a protected snapshot: %v, want protected", err)
		}
		unprotect := must[*hcloud.Action](t, "unprotect snapshot")(client.Image.ChangeProtection(ctx, snapshot,
			hcloud.ImageChangeProtectionOpts{Delete: hcloud.Ptr(false)}))
		wait(ctx, t, client, "unprotect snapshot", unprotect)
	})
	t.Run("server from the snapshot", func(t *testing.T) {
		created := must[hcloud.ServerCreateResult](t, "server from snapshot")(client.Server.Create(ctx, hcloud.ServerCreateOpts{
			Name: run + "-from-snapshot", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: snapshot,
			SSHKeys: []*hcloud.SSHKey{key}, Labels: labels,
		}))
		wait(ctx, t, client, "server from snapshot", created.Action)
		got := must[*hcloud.Server](t, "server from snapshot")(client.Server.GetByID(ctx, created.Server.ID))
		if got.Image == nil || got.Image.ID != snapshot.ID {
			t.Fatalf("server from snapshot: image %+v, want %d", got.Image, snapshot.ID)
		}
	})

	var placementGroup *hcloud.PlacementGroup // deleted once its servers are
	t.Run("placement group", func(t *testing.T) {
		if types, err := client.LoadBalancerType.All(ctx); err != nil || len(types) == 0 {
			t.Fatalf("load balancer types: %v", err)
		}
		made := must[hcloud.PlacementGroupCreateResult](t, "create placement group")(client.PlacementGroup.Create(ctx,
			hcloud.PlacementGroupCreateOpts{Name: run + "-spread", Type: hcloud.PlacementGroupTypeSpread, Labels: labels}))
		placementGroup = made.PlacementGroup
		if made.Action != nil {
			wait(ctx, t, client, "create placement group", made.Action)
		}
		created := must[hcloud.ServerCreateResult](t, "server in placement group")(client.Server.Create(ctx, hcloud.ServerCreateOpts{
			Name: run + "-spread-1", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"},
			SSHKeys: []*hcloud.SSHKey{key}, Labels: labels, PlacementGroup: placementGroup,
		}))
		wait(ctx, t, client, "server in placement group", created.Action)
		got := must[*hcloud.Server](t, "server in placement group")(client.Server.GetByID(ctx, created.Server.ID))
		if got.PlacementGroup == nil || got.PlacementGroup.ID != placementGroup.ID {
			t.Fatalf("server's placement group: %+v", got.PlacementGroup)
		}
		wait(ctx, t, client, "power off", must[*hcloud.Action](t, "power off")(client.Server.Poweroff(ctx, got)))
		wait(ctx, t, client, "remove from placement group", must[*hcloud.Action](t, "remove from placement group")(
			client.Server.RemoveFromPlacementGroup(ctx, got)))
		wait(ctx, t, client, "add to placement group", must[*hcloud.Action](t, "add to placement group")(
			client.Server.AddToPlacementGroup(ctx, got, placementGroup)))
		group := must[*hcloud.PlacementGroup](t, "get placement group")(client.PlacementGroup.GetByID(ctx, placementGroup.ID))
		if len(group.Servers) != 1 || group.Servers[0] != got.ID {
			t.Fatalf("placement group servers: %v", group.Servers)
		}
	})

	t.Run("floating IPs", func(t *testing.T) {
		var made []*hcloud.FloatingIP
		for _, kind := range []hcloud.FloatingIPType{hcloud.FloatingIPTypeIPv4, hcloud.FloatingIPTypeIPv6} {
			description := run + " " + string(kind)
			created := must[hcloud.FloatingIPCreateResult](t, "create floating IP")(client.FloatingIP.Create(ctx,
				hcloud.FloatingIPCreateOpts{Type: kind, HomeLocation: fsn1, Description: &description, Labels: labels}))
			if created.Action != nil {
				wait(ctx, t, client, "create floating IP", created.Action)
			}
			if created.FloatingIP.IP == nil || created.FloatingIP.HomeLocation == nil || created.FloatingIP.HomeLocation.Name != "fsn1" {
				t.Fatalf("floating IP: %+v", created.FloatingIP)
			}
			made = append(made, created.FloatingIP)
		}
		listed, err := client.FloatingIP.AllWithOpts(ctx, hcloud.FloatingIPListOpts{
			ListOpts: hcloud.ListOpts{LabelSelector: "app=" + run, PerPage: 1},
		})
		if err != nil || len(listed) != 2 {
			t.Fatalf("floating IPs by label selector, one per page: %v %d", err, len(listed))
		}
		v4 := made[0]
		wait(ctx, t, client, "assign floating IP", must[*hcloud.Action](t, "assign floating IP")(
			client.FloatingIP.Assign(ctx, v4, server)))
		got := must[*hcloud.FloatingIP](t, "get floating IP")(client.FloatingIP.GetByID(ctx, v4.ID))
		if got.Server == nil || got.Server.ID != server.ID {
			t.Fatalf("floating IP's server: %+v", got.Server)
		}
		seen := must[*hcloud.Server](t, "server with its floating IP")(client.Server.GetByID(ctx, server.ID))
		if len(seen.PublicNet.FloatingIPs) != 1 || seen.PublicNet.FloatingIPs[0].ID != v4.ID {
			t.Fatalf("server's floating IPs: %+v", seen.PublicNet.FloatingIPs)
		}
		ptr := "www." + run + ".example.com"
		wait(ctx, t, client, "floating IP reverse DNS", must[*hcloud.Action](t, "floating IP reverse DNS")(
			client.FloatingIP.ChangeDNSPtr(ctx, v4, v4.IP.String(), &ptr)))
		if got := must[*hcloud.FloatingIP](t, "get floating IP")(client.FloatingIP.GetByID(ctx, v4.ID)); got.DNSPtrForIP(v4.IP) != ptr {
			t.Fatalf("floating IP reverse DNS: %+v", got.DNSPtr)
		}
		updated := must[*hcloud.FloatingIP](t, "update floating IP")(client.FloatingIP.Update(ctx, v4,
			hcloud.FloatingIPUpdateOpts{Description: "updated", Labels: labels}))
		if updated.Description != "updated" {
			t.Fatalf("floating IP update: %+v", updated)
		}
		protect := true
		wait(ctx, t, client, "protect floating IP", must[*hcloud.Action](t, "protect floating IP")(
			client.FloatingIP.ChangeProtection(ctx, v4, hcloud.FloatingIPChangeProtectionOpts{Delete: &protect})))
		if _, err := client.FloatingIP.Delete(ctx, v4); !hcloud.IsError(err, hcloud.ErrorCodeProtected) {
			t.Fatalf("deleting a protected floating IP: %v", err)
		}
		protect = false
		wait(ctx, t, client, "unprotect floating IP", must[*hcloud.Action](t, "unprotect floating IP")(
			client.FloatingIP.ChangeProtection(ctx, v4, hcloud.FloatingIPChangeProtectionOpts{Delete: &protect})))
		wait(ctx, t, client, "unassign floating IP", must[*hcloud.Action](t, "unassign floating IP")(
			client.FloatingIP.Unassign(ctx, v4)))
		if actions, err := client.FloatingIP.Action.All(ctx, hcloud.ActionListOpts{}); err != nil || len(actions) < 4 {
			t.Fatalf("floating IP actions: %v %d", err, len(actions))
		}
		for _, fip := range made {
			if _, err := client.FloatingIP.Delete(ctx, fip); err != nil {
				t.Fatalf("delete floating IP %d: %v", fip.ID, err)
			}
		}
		if left, err := client.FloatingIP.AllWithOpts(ctx, hcloud.FloatingIPListOpts{ListOpts: mine}); err != nil || len(left) != 0 {
			t.Fatalf("floating IPs left: %v %d", err, len(left))
		}
	})

	t.Run("load balancers and certificates", func(t *testing.T) {
		lb11 := must[*hcloud.LoadBalancerType](t, "load balancer type lb11")(client.LoadBalancerType.GetByName(ctx, "lb11"))
		lb21 := must[*hcloud.LoadBalancerType](t, "load balancer type lb21")(client.LoadBalancerType.GetByName(ctx, "lb21"))
		if lb11 == nil || lb21 == nil {
			t.Fatalf("load balancer types: %+v %+v", lb11, lb21)
		}
		port, target, interval, retries := 80, 8080, 15*time.Second, 3
		path, sticky := "/healthz", true
		var made []*hcloud.LoadBalancer
		for _, name := range []string{run + "-lb-a", run + "-lb-b"} {
			created := must[hcloud.LoadBalancerCreateResult](t, "create load balancer")(client.LoadBalancer.Create(ctx,
				hcloud.LoadBalancerCreateOpts{
					Name: name, LoadBalancerType: lb11, Location: fsn1, Labels: labels,
					Algorithm: &hcloud.LoadBalancerAlgorithm{Type: hcloud.LoadBalancerAlgorithmTypeLeastConnections},
					Services: []hcloud.LoadBalancerCreateOptsService{{
						Protocol: hcloud.LoadBalancerServiceProtocolHTTP, ListenPort: &port, DestinationPort: &target,
						HTTP: &hcloud.LoadBalancerCreateOptsServiceHTTP{StickySessions: &sticky},
						HealthCheck: &hcloud.LoadBalancerCreateOptsServiceHealthCheck{
							Protocol: hcloud.LoadBalancerServiceProtocolHTTP, Port: &target, Interval: &interval, Retries: &retries,
							HTTP: &hcloud.LoadBalancerCreateOptsServiceHealthCheckHTTP{Path: &path, StatusCodes: []string{"2??"}},
						},
					}},
					Targets: []hcloud.LoadBalancerCreateOptsTarget{
						{Type: hcloud.LoadBalancerTargetTypeServer, Server: hcloud.LoadBalancerCreateOptsTargetServer{Server: server}},
						{Type: hcloud.LoadBalancerTargetTypeLabelSelector, LabelSelector: hcloud.LoadBalancerCreateOptsTargetLabelSelector{Selector: "app=" + run}},
					},
				}))
			wait(ctx, t, client, "create load balancer", created.Action)
			made = append(made, created.LoadBalancer)
		}
		listed, err := client.LoadBalancer.AllWithOpts(ctx, hcloud.LoadBalancerListOpts{
			ListOpts: hcloud.ListOpts{LabelSelector: "app=" + run, PerPage: 1},
		})
		if err != nil || len(listed) != 2 {
			t.Fatalf("load balancers by label selector, one per page: %v %d", err, len(listed))
		}
		lb := must[*hcloud.LoadBalancer](t, "get load balancer")(client.LoadBalancer.GetByID(ctx, made[0].ID))
		if lb.Algorithm.Type != hcloud.LoadBalancerAlgorithmTypeLeastConnections || len(lb.Services) != 1 || len(lb.Targets) != 2 ||
			lb.Services[0].HealthCheck.Interval != interval || !lb.Services[0].HTTP.StickySessions || lb.PublicNet.IPv4.IP == nil {
			t.Fatalf("load balancer: %+v", lb)
		}
		tcp := 5432
		steps := []struct {
			what string
			do   func() (*hcloud.Action, *hcloud.Response, error)
		}{
			{"add service", func() (*hcloud.Action, *hcloud.Response, error) {
				return client.LoadBalancer.AddService(ctx, lb, hcloud.LoadBalancerAddServiceOpts{
					Protocol: hcloud.LoadBalancerServiceProtocolTCP, ListenPort: &tcp, DestinationPort: &tcp})
			}},
			{"add IP target", func() (*hcloud.Action, *hcloud.Response, error) {
				return client.LoadBalancer.AddIPTarget(ctx, lb, hcloud.LoadBalancerAddIPTargetOpts{IP: net.ParseIP("1.1.1.1")})
			}},
			{"change algorithm", func() (*hcloud.Action, *hcloud.Response, error) {
				return client.LoadBalancer.ChangeAlgorithm(ctx, lb, hcloud.LoadBalancerChangeAlgorithmOpts{Type: hcloud.LoadBalancerAlgorithmTypeRoundRobin})
			}},
			{"change type", func() (*hcloud.Action, *hcloud.Response, error) {
				return client.LoadBalancer.ChangeType(ctx, lb, hcloud.LoadBalancerChangeTypeOpts{LoadBalancerType: lb21})
			}},
			{"reverse DNS", func() (*hcloud.Action, *hcloud.Response, error) {
				ptr := "lb." + run + ".example.com"
				return client.LoadBalancer.ChangeDNSPtr(ctx, lb, lb.PublicNet.IPv4.IP.String(), &ptr)
			}},
			{"delete service", func() (*hcloud.Action, *hcloud.Response, error) {
				return client.LoadBalancer.DeleteService(ctx, lb, tcp)
			}},
		}
		for _, step := range steps {
			wait(ctx, t, client, step.what, must[*hcloud.Action](t, step.what)(step.do()))
		}
		lb = must[*hcloud.LoadBalancer](t, "get load balancer")(client.LoadBalancer.GetByID(ctx, lb.ID))
		if lb.LoadBalancerType.Name != "lb21" || lb.Algorithm.Type != hcloud.LoadBalancerAlgorithmTypeRoundRobin || len(lb.Targets) != 3 {
			t.Fatalf("load balancer after its actions: %+v", lb)
		}
		protect := true
		wait(ctx, t, client, "protect load balancer", must[*hcloud.Action](t, "protect load balancer")(
			client.LoadBalancer.ChangeProtection(ctx, lb, hcloud.LoadBalancerChangeProtectionOpts{Delete: &protect})))
		if err := deleteLoadBalancer(ctx, client, lb.ID); !hcloud.IsError(err, hcloud.ErrorCodeProtected) {
			t.Fatalf("deleting a protected load balancer: %v", err)
		}
		protect = false
		wait(ctx, t, client, "unprotect load balancer", must[*hcloud.Action](t, "unprotect load balancer")(
			client.LoadBalancer.ChangeProtection(ctx, lb, hcloud.LoadBalancerChangeProtectionOpts{Delete: &protect})))
		if actions, err := client.LoadBalancer.Action.All(ctx, hcloud.ActionListOpts{}); err != nil || len(actions) < 8 {
			t.Fatalf("load balancer actions: %v %d", err, len(actions))
		}
		for _, each := range made {
			if err := deleteLoadBalancer(ctx, client, each.ID); err != nil {
				t.Fatalf("delete load balancer %d: %v", each.ID, err)
			}
		}
		if left, err := client.LoadBalancer.AllWithOpts(ctx, hcloud.LoadBalancerListOpts{ListOpts: mine}); err != nil || len(left) != 0 {
			t.Fatalf("load balancers left: %v %d", err, len(left))
		}

		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		template := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: run + ".example.com"},
			DNSNames: []string{run + ".example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		cert := must[*hcloud.Certificate](t, "create certificate")(client.Certificate.Create(ctx, hcloud.CertificateCreateOpts{
			Name: run + "-cert", Type: hcloud.CertificateTypeUploaded, Labels: labels,
			Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
			PrivateKey:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
		}))
		got := must[*hcloud.Certificate](t, "get certificate")(client.Certificate.GetByID(ctx, cert.ID))
		if len(got.DomainNames) != 1 || got.DomainNames[0] != run+".example.com" || got.Fingerprint == "" || !got.NotValidAfter.After(got.NotValidBefore) {
			t.Fatalf("certificate: %+v", got)
		}
		if _, err := client.Certificate.Delete(ctx, got); err != nil {
			t.Fatalf("delete certificate: %v", err)
		}
	})

	t.Run("volumes", func(t *testing.T) {
		automount, format := true, "ext4"
		onServer := must[hcloud.VolumeCreateResult](t, "create volume on a server")(client.Volume.Create(ctx,
			hcloud.VolumeCreateOpts{Name: run + "-vol-a", Size: 10, Server: server, Automount: &automount, Format: &format, Labels: labels}))
		wait(ctx, t, client, "create volume on a server", append([]*hcloud.Action{onServer.Action}, onServer.NextActions...)...)
		loose := must[hcloud.VolumeCreateResult](t, "create volume in a location")(client.Volume.Create(ctx,
			hcloud.VolumeCreateOpts{Name: run + "-vol-b", Size: 10, Location: fsn1, Labels: labels}))
		wait(ctx, t, client, "create volume in a location", loose.Action)
		a := must[*hcloud.Volume](t, "get volume")(client.Volume.GetByID(ctx, onServer.Volume.ID))
		if a.Size != 10 || a.Server == nil || a.Server.ID != server.ID || a.Location == nil || a.Location.Name != "fsn1" ||
			a.Format == nil || *a.Format != "ext4" || a.LinuxDevice == "" || a.Status != hcloud.VolumeStatusAvailable {
			t.Fatalf("volume on a server: %+v", a)
		}
		listed, err := client.Volume.AllWithOpts(ctx, hcloud.VolumeListOpts{
			ListOpts: hcloud.ListOpts{LabelSelector: "app=" + run, PerPage: 1},
		})
		if err != nil || len(listed) != 2 {
			t.Fatalf("volumes by label selector, one per page: %v %d", err, len(listed))
		}
		if none, err := client.Volume.AllWithOpts(ctx, hcloud.VolumeListOpts{
			ListOpts: hcloud.ListOpts{LabelSelector: "app=" + run + "-other"},
		}); err != nil || len(none) != 0 {
			t.Fatalf("volumes of another label: %v %d", err, len(none))
		}
		b := loose.Volume
		wait(ctx, t, client, "attach volume", must[*hcloud.Action](t, "attach volume")(
			client.Volume.AttachWithOpts(ctx, b, hcloud.VolumeAttachOpts{Server: server, Automount: &automount})))
		if got := must[*hcloud.Volume](t, "get volume")(client.Volume.GetByID(ctx, b.ID)); got.Server == nil || got.Server.ID != server.ID {
			t.Fatalf("attached volume's server: %+v", got.Server)
		}
		if seen := must[*hcloud.Server](t, "server with its volumes")(client.Server.GetByID(ctx, server.ID)); len(seen.Volumes) != 2 {
			t.Fatalf("server's volumes: %+v", seen.Volumes)
		}
		if _, err := client.Volume.Delete(ctx, b); !hcloud.IsError(err, hcloud.ErrorCode("resource_in_use")) {
			t.Fatalf("deleting an attached volume: %v", err)
		}
		wait(ctx, t, client, "detach volume", must[*hcloud.Action](t, "detach volume")(client.Volume.Detach(ctx, b)))
		if got := must[*hcloud.Volume](t, "get volume")(client.Volume.GetByID(ctx, b.ID)); got.Server != nil {
			t.Fatalf("detached volume's server: %+v", got.Server)
		}
		wait(ctx, t, client, "resize volume", must[*hcloud.Action](t, "resize volume")(client.Volume.Resize(ctx, b, 20)))
		if got := must[*hcloud.Volume](t, "get volume")(client.Volume.GetByID(ctx, b.ID)); got.Size != 20 {
			t.Fatalf("resized volume: %d GB", got.Size)
		}
		if _, _, err := client.Volume.Resize(ctx, b, 15); !hcloud.IsError(err, hcloud.ErrorCodeInvalidInput) {
			t.Fatalf("shrinking a volume: %v", err)
		}
		protect := true
		wait(ctx, t, client, "protect volume", must[*hcloud.Action](t, "protect volume")(
			client.Volume.ChangeProtection(ctx, b, hcloud.VolumeChangeProtectionOpts{Delete: &protect})))
		if got := must[*hcloud.Volume](t, "get volume")(client.Volume.GetByID(ctx, b.ID)); !got.Protection.Delete {
			t.Fatalf("protected volume: %+v", got.Protection)
		}
		if _, err := client.Volume.Delete(ctx, b); !hcloud.IsError(err, hcloud.ErrorCodeProtected) {
			t.Fatalf("deleting a protected volume: %v", err)
		}
		protect = false
		wait(ctx, t, client, "unprotect volume", must[*hcloud.Action](t, "unprotect volume")(
			client.Volume.ChangeProtection(ctx, b, hcloud.VolumeChangeProtectionOpts{Delete: &protect})))
		if actions, err := client.Volume.Action.All(ctx, hcloud.ActionListOpts{}); err != nil || len(actions) < 6 {
			t.Fatalf("volume actions: %v %d", err, len(actions))
		}
		wait(ctx, t, client, "detach volume", must[*hcloud.Action](t, "detach volume")(client.Volume.Detach(ctx, a)))
		for _, volume := range []*hcloud.Volume{a, b} {
			if _, err := client.Volume.Delete(ctx, volume); err != nil {
				t.Fatalf("delete volume %d: %v", volume.ID, err)
			}
		}
		if left, err := client.Volume.AllWithOpts(ctx, hcloud.VolumeListOpts{ListOpts: mine}); err != nil || len(left) != 0 {
			t.Fatalf("volumes left: %v %d", err, len(left))
		}
	})

	// Terraform destroy: everything this run made goes, and nothing of it is left.
	all, err := client.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: mine})
	if err != nil {
		t.Fatalf("servers: %v", err)
	}
	for _, s := range all {
		deleted := must[*hcloud.ServerDeleteResult](t, "delete server")(client.Server.DeleteWithResult(ctx, s))
		wait(ctx, t, client, "delete server", deleted.Action)
	}
	own, err := client.Image.AllWithOpts(ctx, hcloud.ImageListOpts{ListOpts: mine})
	if err != nil {
		t.Fatalf("own images: %v", err)
	}
	for _, image := range own {
		if _, err := client.Image.Delete(ctx, image); err != nil {
			t.Fatalf("delete image %d: %v", image.ID, err)
		}
	}
	if placementGroup != nil {
		if _, err := client.PlacementGroup.Delete(ctx, placementGroup); err != nil {
			t.Fatalf("delete placement group: %v", err)
		}
	}
	if _, err := client.SSHKey.Delete(ctx, key); err != nil {
		t.Fatalf("delete SSH key: %v", err)
	}
	if got, _, err := client.Server.GetByID(ctx, server.ID); err != nil || got != nil { // hcloud-go: a 404 is nil, nil
		t.Fatalf("a deleted server: %+v, %v", got, err)
	}
	// With a tenant of its own (CP_HCLOUD_OWN_TENANT=1, as the pytest wrapper runs it) the
	// tenant has nothing at all left; otherwise nothing with this run's label.
	every := os.Getenv("CP_HCLOUD_OWN_TENANT") == "1"
	selector := mine
	if every {
		selector = hcloud.ListOpts{}
	}
	if left, err := client.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: selector}); err != nil || len(left) != 0 {
		t.Fatalf("servers left: %v %v", err, ids(left))
	}
	images, err := client.Image.AllWithOpts(ctx, hcloud.ImageListOpts{
		ListOpts: selector, Type: []hcloud.ImageType{hcloud.ImageTypeSnapshot, hcloud.ImageTypeBackup},
	})
	if err != nil || len(images) != 0 {
		t.Fatalf("images left: %v %d", err, len(images))
	}
	if keys, err := client.SSHKey.AllWithOpts(ctx, hcloud.SSHKeyListOpts{ListOpts: selector}); err != nil || (every && len(keys) != 0) {
		t.Fatalf("SSH keys left: %v %d", err, len(keys))
	}
	if every {
		if groups, err := client.PlacementGroup.All(ctx); placementGroup != nil && (err != nil || len(groups) != 0) {
			t.Fatalf("placement groups left: %v %d", err, len(groups))
		}
	}
}

func ids(servers []*hcloud.Server) string {
	out := make([]int64, 0, len(servers))
	for _, s := range servers {
		out = append(out, s.ID)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return fmt.Sprint(out)
}
