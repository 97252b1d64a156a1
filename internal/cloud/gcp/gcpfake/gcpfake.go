// Package gcpfake is a small Google Compute Engine that speaks the real wire
// protocols, so the provider's unchanged GCP client can run against it:
// OAuth 2.0's JWT bearer grant (the assertion verified against the service
// account's public key) and Compute Engine's instances, disks and zonal
// operations.
//
// It refuses what Compute Engine refuses: an unknown token, another
// project, an unknown subnetwork, an address outside its range or already
// taken, a taken instance name, a missing machine type, a machine type
// change while running, a disk that would shrink. Operations are RUNNING
// when answered and DONE when first polled.
//
// The local platform serves it over TLS (cmd/quorum-fakecloud); tests use
// it through httptest.
package gcpfake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/netip"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	compute "google.golang.org/api/compute/v1"

	"github.com/quorumdb/quorum/internal/cloud/fakeapi"
	"github.com/quorumdb/quorum/internal/cloud/gcp"
)

// Server is one project reached with one service account.
type Server struct {
	Project     string
	ClientEmail string
	// Subnetworks known to the fake, by the name instances use
	// ("regions/europe-west1/subnetworks/db").
	Subnetworks map[string]netip.Prefix

	key *rsa.PrivateKey
	// keyID names the key in the key file and in assertions.
	keyID string

	mu        sync.Mutex
	tokens    map[string]bool
	instances map[string]*compute.Instance // by zone/name
	ops       map[string]bool              // name -> polled
	n         int
	calls     fakeapi.Calls
}

// New returns an empty project with a fresh service-account key.
func New(project, clientEmail string, subnetworks map[string]netip.Prefix) (*Server, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &Server{
		Project: project, ClientEmail: clientEmail, Subnetworks: subnetworks, key: key, keyID: fakeapi.Random(20),
		tokens: map[string]bool{}, instances: map[string]*compute.Instance{}, ops: map[string]bool{},
	}, nil
}

// KeyFile is the service-account key file (as the console downloads it)
// whose token_uri is this server's, at baseURL.
func (s *Server) KeyFile(baseURL string) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]string{
		"type": "service_account", "project_id": s.Project, "private_key_id": s.keyID,
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": s.ClientEmail, "client_id": "100000000000000000001",
		"token_uri": strings.TrimSuffix(baseURL, "/") + "/token", "universe_domain": "googleapis.com",
	})
}

// VM is what the local platform's guest agent needs of an instance.
type VM struct {
	Name, Zone, Address string
	Running             bool
	// UserData is the instance's user-data metadata (cloud-init).
	UserData string
	Disks    []fakeapi.Disk
}

// VMs lists the instances, sorted by name.
func (s *Server) VMs() []VM {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []VM{}
	for _, in := range s.instances {
		v := VM{Name: in.Name, Zone: path.Base(in.Zone), Running: in.Status == "RUNNING", Address: in.NetworkInterfaces[0].NetworkIP}
		for _, d := range in.Disks {
			if !d.Boot {
				v.Disks = append(v.Disks, fakeapi.Disk{Path: gcp.DevicePath(d.DeviceName), SizeGiB: int32(d.DiskSizeGb)})
			}
		}
		if in.Metadata != nil {
			for _, it := range in.Metadata.Items {
				if it.Key == "user-data" && it.Value != nil {
					v.UserData = *it.Value
				}
			}
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Instance returns a copy of an instance as stored, or nil.
func (s *Server) Instance(zone, name string) *compute.Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.instances[zone+"/"+name]
	if in == nil {
		return nil
	}
	b, _ := in.MarshalJSON()
	out := &compute.Instance{}
	_ = json.Unmarshal(b, out)
	return out
}

// Calls returns "METHOD collection [verb]" for every Compute request, in order.
func (s *Server) Calls() []string { return s.calls.List() }

// apiError writes Google's error envelope.
func apiError(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "message": msg, "errors": []map[string]string{{"domain": "global", "reason": reason, "message": msg}},
	}})
}

// ServeHTTP routes token and Compute requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		s.token(w, r)
		return
	}
	s.compute(w, r)
}

// token implements the JWT bearer grant (RFC 7523) Google uses for service
// accounts: the assertion must be signed by the account's key, issued by
// it, meant for this token URI and not expired.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	fail := func(desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": desc})
	}
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		fail("Bad Request")
		return
	}
	if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		fail("Invalid grant_type")
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		fail("Invalid JWT")
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		fail("Invalid JWT signature")
		return
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&s.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		fail("Invalid JWT Signature.")
		return
	}
	var claims struct {
		Iss   string `json:"iss"`
		Aud   string `json:"aud"`
		Exp   int64  `json:"exp"`
		Scope string `json:"scope"`
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if json.Unmarshal(raw, &claims) != nil || claims.Iss != s.ClientEmail {
		fail("Invalid JWT: iss is not the service account")
		return
	}
	if claims.Aud != "https://"+r.Host+"/token" {
		fail("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
		return
	}
	if claims.Exp < time.Now().Unix() {
		fail("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
		return
	}
	if !strings.Contains(claims.Scope, "compute") && !strings.Contains(claims.Scope, "cloud-platform") {
		fail("Invalid OAuth scope or ID token audience provided.")
		return
	}
	tok := "ya29." + fakeapi.Random(24)
	s.mu.Lock()
	s.tokens[tok] = true
	s.mu.Unlock()
	fakeapi.JSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})
}

// operation records a new operation, RUNNING until polled once.
func (s *Server) operation(w http.ResponseWriter, zone, kind, target string) {
	s.n++
	name := fmt.Sprintf("operation-%d-%s", s.n, fakeapi.Random(4))
	s.ops[name] = false
	fakeapi.JSON(w, http.StatusOK, &compute.Operation{Name: name, Status: "RUNNING", OperationType: kind, Zone: zone, TargetLink: target})
}

func (s *Server) compute(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !s.tokens[tok] {
		apiError(w, http.StatusUnauthorized, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	// /compute/v1/projects/{p}/zones/{z}/{collection}[/{name}[/{verb}]]
	p := strings.Split(strings.TrimPrefix(r.URL.Path, "/compute/v1/"), "/")
	if len(p) < 5 || p[0] != "projects" || p[2] != "zones" {
		apiError(w, http.StatusNotFound, "notFound", "The requested URL "+r.URL.Path+" was not found.")
		return
	}
	if p[1] != s.Project {
		apiError(w, http.StatusNotFound, "notFound", fmt.Sprintf("The resource 'projects/%s' was not found", p[1]))
		return
	}
	zone, coll, name, verb := p[3], p[4], "", ""
	if len(p) > 5 {
		name = p[5]
	}
	if len(p) > 6 {
		verb = p[6]
	}
	s.calls.Add(strings.TrimSpace(r.Method + " " + coll + " " + verb))
	notFound := func(what string) {
		apiError(w, http.StatusNotFound, "notFound", fmt.Sprintf("The resource 'projects/%s/zones/%s/%s/%s' was not found", s.Project, zone, what, name))
	}
	switch {
	case coll == "operations":
		if _, ok := s.ops[name]; !ok {
			notFound("operations")
			return
		}
		s.ops[name] = true
		fakeapi.JSON(w, http.StatusOK, &compute.Operation{Name: name, Status: "DONE", Zone: zone})
	case coll == "instances" && r.Method == http.MethodPost && name == "":
		s.insert(w, r, zone)
	case coll == "instances":
		in, ok := s.instances[zone+"/"+name]
		if !ok {
			notFound("instances")
			return
		}
		switch {
		case r.Method == http.MethodGet && verb == "":
			fakeapi.JSON(w, http.StatusOK, in)
			return
		case r.Method == http.MethodDelete:
			delete(s.instances, zone+"/"+name)
		case verb == "stop":
			in.Status = "TERMINATED"
		case verb == "start":
			in.Status = "RUNNING"
		case verb == "setMachineType":
			if in.Status == "RUNNING" {
				apiError(w, http.StatusBadRequest, "resourceNotReady", fmt.Sprintf("The resource 'projects/%s/zones/%s/instances/%s' is not ready: instance must be stopped to change its machine type", s.Project, zone, name))
				return
			}
			req := &compute.InstancesSetMachineTypeRequest{}
			_ = json.NewDecoder(r.Body).Decode(req)
			in.MachineType = req.MachineType
		default:
			apiError(w, http.StatusBadRequest, "invalid", "Invalid request "+r.Method+" "+verb)
			return
		}
		s.operation(w, zone, r.Method+" "+verb, in.SelfLink)
	case coll == "disks" && verb == "resize":
		req := &compute.DisksResizeRequest{}
		_ = json.NewDecoder(r.Body).Decode(req)
		for _, in := range s.instances {
			for _, d := range in.Disks {
				if path.Base(d.Source) == name && path.Base(in.Zone) == zone {
					if req.SizeGb < d.DiskSizeGb {
						apiError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("Invalid value for field 'sizeGb': '%d'. Requested disk size cannot be smaller than the current size (%d GB).", req.SizeGb, d.DiskSizeGb))
						return
					}
					d.DiskSizeGb = req.SizeGb
					s.operation(w, zone, "resizeDisk", d.Source)
					return
				}
			}
		}
		notFound("disks")
	default:
		apiError(w, http.StatusNotImplemented, "notImplemented", "not faked: "+r.Method+" "+r.URL.Path)
	}
}

func (s *Server) insert(w http.ResponseWriter, r *http.Request, zone string) {
	in := &compute.Instance{}
	if err := json.NewDecoder(r.Body).Decode(in); err != nil || in.Name == "" {
		apiError(w, http.StatusBadRequest, "invalid", "Invalid value for field 'resource.name': ''.")
		return
	}
	if msg, ok := checkName("resource.name", in.Name); !ok {
		apiError(w, http.StatusBadRequest, "invalid", msg)
		return
	}
	if msg, ok := checkLabels(in.Labels); !ok {
		apiError(w, http.StatusBadRequest, "invalid", msg)
		return
	}
	for i, d := range in.Disks {
		if d.InitializeParams == nil {
			continue
		}
		if msg, ok := checkName(fmt.Sprintf("resource.disks[%d].initializeParams.diskName", i), d.InitializeParams.DiskName); !ok {
			apiError(w, http.StatusBadRequest, "invalid", msg)
			return
		}
	}
	if _, ok := s.instances[zone+"/"+in.Name]; ok {
		apiError(w, http.StatusConflict, "alreadyExists", fmt.Sprintf("The resource 'projects/%s/zones/%s/instances/%s' already exists", s.Project, zone, in.Name))
		return
	}
	if in.MachineType == "" {
		apiError(w, http.StatusBadRequest, "invalid", "Invalid value for field 'resource.machineType': ''. Machine type must be specified.")
		return
	}
	if len(in.NetworkInterfaces) != 1 {
		apiError(w, http.StatusBadRequest, "invalid", "Invalid value for field 'resource.networkInterfaces': one network interface is supported.")
		return
	}
	ni := in.NetworkInterfaces[0]
	prefix, ok := s.Subnetworks[ni.Subnetwork]
	if !ok {
		apiError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("Invalid value for field 'resource.networkInterfaces[0].subnetwork': '%s'. The referenced subnetwork resource cannot be found.", ni.Subnetwork))
		return
	}
	inUse := func(a string) *compute.Instance {
		for _, o := range s.instances {
			if o.NetworkInterfaces[0].NetworkIP == a {
				return o
			}
		}
		return nil
	}
	if ni.NetworkIP == "" {
		// An ephemeral internal address: the lowest free one.
		for a := prefix.Masked().Addr(); ni.NetworkIP == "" && prefix.Contains(a); a = a.Next() {
			if !reserved(prefix, a) && inUse(a.String()) == nil {
				ni.NetworkIP = a.String()
			}
		}
		if ni.NetworkIP == "" {
			apiError(w, http.StatusBadRequest, "resourceExhausted", fmt.Sprintf("IP space of '%s' is exhausted.", ni.Subnetwork))
			return
		}
	}
	addr, err := netip.ParseAddr(ni.NetworkIP)
	if err != nil || !prefix.Contains(addr) {
		apiError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("Invalid value for field 'resource.networkInterfaces[0].networkIP': '%s'. Requested internal IP is outside the subnetwork CIDR range (%s).", ni.NetworkIP, prefix))
		return
	}
	if reserved(prefix, addr) {
		apiError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("Invalid value for field 'resource.networkInterfaces[0].networkIP': '%s'. Requested internal IP is reserved in the subnetwork CIDR range (%s).", ni.NetworkIP, prefix))
		return
	}
	if o := inUse(ni.NetworkIP); o != nil {
		apiError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("IP '%s' is already being used by another resource (%s).", ni.NetworkIP, o.Name))
		return
	}
	s.n++
	in.Id = uint64(1000 + s.n)
	in.Status = "RUNNING"
	in.Zone = fmt.Sprintf("projects/%s/zones/%s", s.Project, zone)
	in.SelfLink = fmt.Sprintf("https://%s/compute/v1/%s/instances/%s", r.Host, in.Zone, in.Name)
	for _, d := range in.Disks {
		if d.InitializeParams != nil {
			d.DiskSizeGb = d.InitializeParams.DiskSizeGb
			d.Source = fmt.Sprintf("https://%s/compute/v1/%s/disks/%s", r.Host, in.Zone, d.InitializeParams.DiskName)
			d.InitializeParams = nil
		}
	}
	s.instances[zone+"/"+in.Name] = in
	s.operation(w, zone, "insert", in.SelfLink)
}
