// Package gcp creates database VMs on Google Compute Engine (compute/v1):
// an instance with its machine type, boot and data disks (deleted with it),
// an internal address on a subnetwork, labels and cloud-init user data.
package gcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"time"

	compute "google.golang.org/api/compute/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud"
	"github.com/quorumdb/quorum/internal/cloud/identity"
)

// Client is a GCP Cloud for one project.
type Client struct {
	svc     *compute.Service
	project string
	// Poll is how often long-running operations are checked.
	Poll time.Duration
}

// New builds a client. opts carry credentials (option.WithCredentialsJSON)
// or, in tests, an endpoint and no authentication.
func New(ctx context.Context, project string, opts ...option.ClientOption) (*Client, error) {
	svc, err := compute.NewService(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot create the Compute Engine client: %w", err)
	}
	return &Client{svc: svc, project: project, Poll: 2 * time.Second}, nil
}

func placement(m cloud.Machine) (*computev1alpha1.GCPPlacement, error) {
	if m.GCP == nil || m.GCP.Zone == "" {
		return nil, errors.New("forProvider.gcp with a zone is required for a GCP ProviderConfig")
	}
	return m.GCP, nil
}

func notFound(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusNotFound
}

// Get implements cloud.Cloud.
func (c *Client) Get(ctx context.Context, m cloud.Machine) (*cloud.Observed, error) {
	p, err := placement(m)
	if err != nil {
		return nil, err
	}
	in, err := c.svc.Instances.Get(c.project, p.Zone, m.Name).Context(ctx).Do()
	if notFound(err) {
		return nil, cloud.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("cannot get instance %s: %w", m.Name, err)
	}
	o := &cloud.Observed{ID: strconv.FormatUint(in.Id, 10), PowerState: "Off", Size: path.Base(in.MachineType), CPUs: m.CPUs, MemoryMiB: m.MemoryMiB, Owner: identity.Read(in.Labels)}
	if in.Status == "RUNNING" {
		o.PowerState = "On"
	}
	if len(in.NetworkInterfaces) > 0 {
		o.IPAddress = in.NetworkInterfaces[0].NetworkIP
	}
	for _, d := range in.Disks {
		if d.Boot {
			continue
		}
		o.DataDisks = append(o.DataDisks, computev1alpha1.AttachedDisk{Disk: computev1alpha1.Disk{Name: d.DeviceName, SizeGiB: int32(d.DiskSizeGb)}, DevicePath: DevicePath(d.DeviceName)})
	}
	return o, nil
}

func diskName(vm, disk string) string { return vm + "-" + disk }

// Create implements cloud.Cloud.
func (c *Client) Create(ctx context.Context, m cloud.Machine) error {
	p, err := placement(m)
	if err != nil {
		return err
	}
	disks := []*compute.AttachedDisk{{
		Boot: true, AutoDelete: true, DeviceName: "boot",
		InitializeParams: &compute.AttachedDiskInitializeParams{DiskName: diskName(m.Name, "boot"), SourceImage: p.Image, DiskSizeGb: int64(m.OSDiskGiB)},
	}}
	for _, d := range m.DataDisks {
		disks = append(disks, &compute.AttachedDisk{
			AutoDelete: true, DeviceName: d.Name,
			InitializeParams: &compute.AttachedDiskInitializeParams{DiskName: diskName(m.Name, d.Name), DiskSizeGb: int64(d.SizeGiB)},
		})
	}
	ud := m.UserData
	in := &compute.Instance{
		Name:              m.Name,
		MachineType:       fmt.Sprintf("zones/%s/machineTypes/%s", p.Zone, p.MachineType),
		Disks:             disks,
		NetworkInterfaces: []*compute.NetworkInterface{{Subnetwork: m.Network.Network, NetworkIP: m.Network.IPAddress}},
		Metadata:          &compute.Metadata{Items: []*compute.MetadataItems{{Key: "user-data", Value: &ud}}},
		Labels:            labels(p.Labels, m.Owner),
	}
	op, err := c.svc.Instances.Insert(c.project, p.Zone, in).Context(ctx).Do()
	if err != nil {
		return fmt.Errorf("cannot insert instance %s: %w", m.Name, err)
	}
	if err := c.wait(ctx, p.Zone, op); err != nil {
		return fmt.Errorf("cannot insert instance %s: %w", m.Name, err)
	}
	if m.PowerState == computev1alpha1.PowerOff {
		return c.do(ctx, p.Zone, c.svc.Instances.Stop(c.project, p.Zone, m.Name).Context(ctx).Do)
	}
	return nil
}

// labels keeps only what GCP accepts as label keys (lowercase, no dots or
// slashes), with the ownership mark.
func labels(in map[string]string, owner string) map[string]string {
	out := map[string]string{identity.OwnerKey: owner}
	for k, v := range in {
		key := []rune{}
		for _, r := range k {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				key = append(key, r)
			default:
				key = append(key, '_')
			}
		}
		if string(key) != identity.OwnerKey {
			out[string(key)] = v
		}
	}
	return out
}

// Update implements cloud.Cloud. A new machine type needs the instance
// stopped, so only then is it stopped and started again.
func (c *Client) Update(ctx context.Context, m cloud.Machine, cur *cloud.Observed) error {
	p, err := placement(m)
	if err != nil {
		return err
	}
	for i, d := range m.DataDisks {
		if i >= len(cur.DataDisks) {
			return fmt.Errorf("data disk %s is missing and adding disks to a running instance is not supported: recreate the VM", d.Name)
		}
		have := cur.DataDisks[i].SizeGiB
		if have > d.SizeGiB {
			return fmt.Errorf("data disk %s is %d GiB and cannot shrink to %d GiB: %w", d.Name, have, d.SizeGiB, cloud.ErrDiskShrink)
		}
		if have < d.SizeGiB {
			req := &compute.DisksResizeRequest{SizeGb: int64(d.SizeGiB)}
			if err := c.do(ctx, p.Zone, c.svc.Disks.Resize(c.project, p.Zone, diskName(m.Name, d.Name), req).Context(ctx).Do); err != nil {
				return fmt.Errorf("cannot grow disk %s: %w", d.Name, err)
			}
		}
	}
	power := cur.PowerState
	if cur.Size != p.MachineType {
		if power == "On" {
			if err := c.do(ctx, p.Zone, c.svc.Instances.Stop(c.project, p.Zone, m.Name).Context(ctx).Do); err != nil {
				return fmt.Errorf("cannot stop %s to change its machine type: %w", m.Name, err)
			}
			power = "Off"
		}
		req := &compute.InstancesSetMachineTypeRequest{MachineType: fmt.Sprintf("zones/%s/machineTypes/%s", p.Zone, p.MachineType)}
		if err := c.do(ctx, p.Zone, c.svc.Instances.SetMachineType(c.project, p.Zone, m.Name, req).Context(ctx).Do); err != nil {
			return fmt.Errorf("cannot set machine type of %s: %w", m.Name, err)
		}
	}
	want := "On"
	if m.PowerState == computev1alpha1.PowerOff {
		want = "Off"
	}
	switch {
	case want == "On" && power != "On":
		return c.do(ctx, p.Zone, c.svc.Instances.Start(c.project, p.Zone, m.Name).Context(ctx).Do)
	case want == "Off" && power == "On":
		return c.do(ctx, p.Zone, c.svc.Instances.Stop(c.project, p.Zone, m.Name).Context(ctx).Do)
	}
	return nil
}

// Delete implements cloud.Cloud. Disks go with the instance (auto-delete).
func (c *Client) Delete(ctx context.Context, m cloud.Machine) error {
	p, err := placement(m)
	if err != nil {
		return err
	}
	op, err := c.svc.Instances.Delete(c.project, p.Zone, m.Name).Context(ctx).Do()
	if notFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot delete instance %s: %w", m.Name, err)
	}
	return c.wait(ctx, p.Zone, op)
}

func (c *Client) do(ctx context.Context, zone string, call func(...googleapi.CallOption) (*compute.Operation, error)) error {
	op, err := call()
	if err != nil {
		return err
	}
	return c.wait(ctx, zone, op)
}

// wait polls a zonal operation until it is DONE and reports its error.
func (c *Client) wait(ctx context.Context, zone string, op *compute.Operation) error {
	for op.Status != "DONE" {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.Poll):
		}
		var err error
		if op, err = c.svc.ZoneOperations.Get(c.project, zone, op.Name).Context(ctx).Do(); err != nil {
			return fmt.Errorf("cannot poll operation: %w", err)
		}
	}
	if op.Error != nil && len(op.Error.Errors) > 0 {
		e := op.Error.Errors[0]
		return fmt.Errorf("operation %s failed: %s: %s", op.Name, e.Code, e.Message)
	}
	return nil
}

// DevicePath is where a Linux guest finds the disk attached under a
// device name: the symlink Google's guest environment's udev rules make.
func DevicePath(deviceName string) string { return "/dev/disk/by-id/google-" + deviceName }
