package connstr

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestURI(t *testing.T) {
	cases := []struct {
		name string
		e    Endpoint
		want string
	}{
		{
			"postgresql multi-host follows the primary",
			Endpoint{Engine: "postgresql", Hosts: []string{"10.0.0.1", "10.0.0.2"}, Port: 5432, Username: "app", Password: "pw", Database: "orders"},
			"postgresql://app:pw@10.0.0.1:5432,10.0.0.2:5432/orders?sslmode=prefer&target_session_attrs=read-write",
		},
		{
			"postgresql single host with TLS",
			Endpoint{Engine: "postgresql", Hosts: []string{"db.example"}, Port: 5432, Username: "app", Password: "pw", Database: "orders", TLS: true},
			"postgresql://app:pw@db.example:5432/orders?sslmode=require",
		},
		{
			"special characters are escaped",
			Endpoint{Engine: "postgresql", Hosts: []string{"::1"}, Port: 5432, Username: "a@b:c", Password: "p/w?#@", Database: "x y"},
			"postgresql://a%40b%3Ac:p%2Fw%3F%23%40@[::1]:5432/x%20y?sslmode=prefer",
		},
		{
			"mongodb replica set",
			Endpoint{Engine: "mongodb", Hosts: []string{"10.0.0.1", "10.0.0.2"}, Port: 27017, Username: "app", Password: "pw", Database: "orders", ReplicaSet: "rs0", TLS: true},
			"mongodb://app:pw@10.0.0.1:27017,10.0.0.2:27017/orders?authSource=admin&replicaSet=rs0&tls=true",
		},
		{
			"sqlserver availability group",
			Endpoint{Engine: "sqlserver", Hosts: []string{"10.0.0.1", "10.0.0.2"}, Port: 1433, Username: "app", Password: "pw", Database: "orders"},
			"sqlserver://app:pw@10.0.0.1:1433?database=orders&encrypt=disable&multisubnetfailover=true",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := URI(tc.e)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if pw, _ := u.User.Password(); pw != tc.e.Password || u.User.Username() != tc.e.Username {
				t.Errorf("credentials do not round-trip: %q %q", u.User.Username(), pw)
			}
		})
	}
}

func TestDetails(t *testing.T) {
	d := Details(Endpoint{Engine: "sqlserver", Hosts: []string{"h1", "h2"}, Port: 1433, Username: "u", Password: "p", Database: "d"})
	keys := map[string]string{}
	for k, v := range d {
		keys[k] = string(v)
	}
	want := map[string]string{
		"engine": "sqlserver", "username": "u", "password": "p", "host": "h1", "hosts": "h1,h2", "port": "1433", "database": "d",
		"uri": "sqlserver://u:p@h1:1433?database=d&encrypt=disable&multisubnetfailover=true",
		"url": "sqlserver://u:p@h1:1433?database=d&encrypt=disable&multisubnetfailover=true",
	}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
