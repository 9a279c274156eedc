package daemon

import (
	"testing"

	"directord/config"
)

// The translation of each check type's own settings into its Spec: a
// real's several checks all under its watch ID, in order; udp's payload
// and reply match; smtp's HELO name, the router_id unless helo_name
// says; exec's dynamic weight.
func TestHealthWatchesCheckSettings(t *testing.T) {
	cfg, err := config.Parse("c.hcl", []byte(`
director { router_id = "lb1.example.test" }
virtual_server "mail" {
  address = "10.0.0.1"
  port = 25
  health_check "smtp" {}
  health_check "udp" {
    connect_port = 53
    payload = "00ff"
    reply_regex = "ok"
  }
  health_check "exec" {
    command = ["/bin/true"]
    dynamic_weight = true
  }
  real_server "10.0.0.2" {}
  real_server "10.0.0.3" {
    health_check "smtp" { helo_name = "checker.example.test" }
  }
}`))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := HealthWatches(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 4 {
		t.Fatalf("%d watches, want 3 for .2 and 1 for .3: %+v", len(ws), ws)
	}
	for _, w := range ws[:3] {
		if w.ID != "mail/10.0.0.2:25" {
			t.Errorf("watch %q, want all of .2's checks under mail/10.0.0.2:25", w.ID)
		}
	}
	if s := ws[0].Spec; s.Type != "smtp" || s.HeloName != "lb1.example.test" || s.Target.String() != "10.0.0.2:25" {
		t.Errorf("smtp spec %+v, want HELO lb1.example.test to 10.0.0.2:25", s)
	}
	if s := ws[1].Spec; s.Type != "udp" || s.PayloadHex != "00ff" || s.ReplyRegex != "ok" || !s.RequireReply || s.Target.String() != "10.0.0.2:53" {
		t.Errorf("udp spec %+v", s)
	}
	if s := ws[2].Spec; s.Type != "exec" || !s.DynamicWeight {
		t.Errorf("exec spec %+v, want dynamic weight", s)
	}
	if s := ws[3].Spec; s.HeloName != "checker.example.test" {
		t.Errorf("smtp spec %+v, want HELO checker.example.test", s)
	}
}

// An icmp check has no port: one host's reals under two services are one
// probe, and the count reaches the Spec.
func TestHealthWatchesICMPSharesAcrossPorts(t *testing.T) {
	cfg, err := config.Parse("i.hcl", []byte(`
virtual_server "web" {
  address = "10.0.0.1"
  port = 80
  health_check "icmp" { count = 2 }
  real_server "10.0.0.2" {}
}
virtual_server "mail" {
  address = "10.0.0.1"
  port = 25
  health_check "icmp" { count = 2 }
  real_server "10.0.0.2" {}
}`))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := HealthWatches(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0].Spec.Key() != ws[1].Spec.Key() || ws[0].Spec.Count != 2 || ws[0].Spec.Target.Port() != 0 {
		t.Errorf("watches %+v, want one icmp probe of 2 echoes to 10.0.0.2 for both services", ws)
	}
}
