package doctor

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
)

// Probe is a packet the firewall must let in: a VRRP advert, or a
// client's first packet to a virtual service.
type Probe struct {
	What  string     // "vrrp_instance web", "virtual_server dns"
	IPv6  bool       // family
	Proto uint8      // 112 (VRRP), 6 (TCP), 17 (UDP), 132 (SCTP)
	Dst   netip.Addr // 224.0.0.18, ff02::12, the VIP
	Port  uint16     // 0 for VRRP
}

// verdict is what a chain does with a probe.
type verdict int

const (
	passes verdict = iota
	dropped
	mayDrop // a rule we cannot read fully might drop it
)

// nftRuleset is `nft -j list ruleset`: a list of objects, each one of
// chain or rule (tables, sets and the rest are not needed).
type nftRuleset struct {
	Nftables []struct {
		Chain *struct {
			Family, Table, Name, Type, Hook, Policy string
		} `json:"chain"`
		Rule *struct {
			Family, Table, Chain string
			Handle               int
			Expr                 []map[string]json.RawMessage `json:"expr"`
		} `json:"rule"`
	} `json:"nftables"`
}

// firewall checks each probe against every base chain on the input hook
// of a filter table in the ruleset: a rule or policy that drops it fails,
// one it cannot read fully that might drop it warns.
func firewall(ruleset []byte, err error, probes []Probe) []Finding {
	if len(probes) == 0 {
		return nil
	}
	if err != nil {
		return []Finding{{Check: "firewall", Status: Warn, Detail: "nftables ruleset not read (" + err.Error() + "): rules that drop VRRP or a service are not checked",
			Fix: "nft list ruleset  # and read it for drops of IP protocol 112, 224.0.0.18, ff02::12 and the services"}}
	}
	var rs nftRuleset
	if err := json.Unmarshal(ruleset, &rs); err != nil {
		return []Finding{{Check: "firewall", Status: Warn, Detail: "nftables ruleset not understood: " + err.Error()}}
	}
	var out []Finding
	for _, p := range probes {
		f := Finding{Check: "firewall " + p.What, Status: OK, Detail: "let in: " + p.String()}
		for _, c := range rs.Nftables {
			ch := c.Chain
			if ch == nil || ch.Hook != "input" || ch.Type != "filter" || !familyApplies(ch.Family, p.IPv6) {
				continue
			}
			v, why := evalChain(rs, ch.Family, ch.Table, ch.Name, ch.Policy, p)
			where := fmt.Sprintf("%s %s chain %s", ch.Family, ch.Table, ch.Name)
			switch {
			case v == dropped:
				f.Status, f.Detail = Fail, p.String()+" is dropped by "+where+": "+why
				f.Fix = fmt.Sprintf("nft insert rule %s %s %s %s accept", ch.Family, ch.Table, ch.Name, p.match())
			case v == mayDrop && f.Status == OK:
				f.Status, f.Detail = Warn, p.String()+" may be dropped by "+where+": "+why
				f.Fix = fmt.Sprintf("nft insert rule %s %s %s %s accept", ch.Family, ch.Table, ch.Name, p.match())
			}
		}
		out = append(out, f)
	}
	return out
}

func familyApplies(fam string, v6 bool) bool {
	return fam == "inet" || (fam == "ip" && !v6) || (fam == "ip6" && v6)
}

// evalChain runs the chain's rules in order on p.
func evalChain(rs nftRuleset, fam, table, chain, policy string, p Probe) (verdict, string) {
	unsure := ""
	for _, o := range rs.Nftables {
		r := o.Rule
		if r == nil || r.Family != fam || r.Table != table || r.Chain != chain {
			continue
		}
		m, act := evalRule(r.Expr, p)
		if m == noMatch || act == "" || act == "continue" {
			continue
		}
		rule := "rule handle " + strconv.Itoa(r.Handle)
		switch {
		case m == match && act == "accept":
			if unsure != "" {
				return mayDrop, unsure
			}
			return passes, ""
		case m == match && (act == "drop" || act == "reject"):
			if unsure != "" {
				return mayDrop, unsure
			}
			return dropped, rule
		case act == "drop" || act == "reject" || act == "jump" || act == "goto":
			if unsure == "" {
				unsure = rule + " (" + act + ", with a match not checked here)"
			}
		}
	}
	if policy == "drop" {
		if unsure != "" {
			return mayDrop, unsure
		}
		return dropped, "the chain's policy drop, with no rule accepting it"
	}
	if unsure != "" {
		return mayDrop, unsure
	}
	return passes, ""
}

type matched int

const (
	match matched = iota
	noMatch
	unknown
)

// evalRule says whether the rule's matches hold for p, and its verdict
// statement ("accept", "drop", "reject", "jump", "goto"; "" for none).
func evalRule(exprs []map[string]json.RawMessage, p Probe) (matched, string) {
	m := match
	act := ""
	for _, e := range exprs {
		for k, v := range e {
			switch k {
			case "match":
				switch matchOne(v, p) {
				case noMatch:
					return noMatch, ""
				case unknown:
					m = unknown
				}
			case "accept", "drop", "reject", "jump", "goto", "continue", "return":
				act = k
			case "counter", "log", "limit":
				// statements that change nothing here
			default:
				m = max(m, unknown)
			}
		}
	}
	return m, act
}

func (p Probe) String() string {
	proto := map[uint8]string{112: "vrrp", 6: "tcp", 17: "udp", 132: "sctp"}[p.Proto]
	if p.Port != 0 {
		return fmt.Sprintf("%s to %s", proto, netip.AddrPortFrom(p.Dst, p.Port))
	}
	return fmt.Sprintf("%s to %s", proto, p.Dst)
}

// match is the nft match that accepts p.
func (p Probe) match() string {
	fam := "ip"
	if p.IPv6 {
		fam = "ip6"
	}
	s := fmt.Sprintf("%s daddr %s meta l4proto %d", fam, p.Dst, p.Proto)
	if p.Port != 0 {
		s += fmt.Sprintf(" th dport %d", p.Port)
	}
	return s
}

// matchOne evaluates one nft match expression on p.
func matchOne(raw json.RawMessage, p Probe) matched {
	var m struct {
		Op    string          `json:"op"`
		Left  json.RawMessage `json:"left"`
		Right json.RawMessage `json:"right"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return unknown
	}
	val, ok := probeValue(m.Left, p)
	switch {
	case !ok:
		return unknown
	case val == nil:
		return noMatch // the field is not in this packet (tcp dport of VRRP)
	}
	in, ok := rightHas(m.Right, val)
	if !ok {
		return unknown
	}
	switch m.Op {
	case "==", "in":
	case "!=":
		in = !in
	default:
		return unknown
	}
	if in {
		return match
	}
	return noMatch
}

// probeValue is p's value of the field left names: ok false for a field
// not checked here, a nil value for one p does not have.
func probeValue(left json.RawMessage, p Probe) (any, bool) {
	var l struct {
		Payload *struct{ Protocol, Field string } `json:"payload"`
		Meta    *struct{ Key string }             `json:"meta"`
	}
	if json.Unmarshal(left, &l) != nil {
		return nil, false
	}
	switch {
	case l.Meta != nil && l.Meta.Key == "l4proto":
		return p.Proto, true
	case l.Meta != nil && l.Meta.Key == "nfproto":
		return map[bool]string{false: "ipv4", true: "ipv6"}[p.IPv6], true
	case l.Payload == nil:
		return nil, false
	}
	pl := *l.Payload
	switch {
	case pl.Protocol == "ip" && p.IPv6, pl.Protocol == "ip6" && !p.IPv6:
		return nil, true
	case (pl.Protocol == "ip" && pl.Field == "protocol") || (pl.Protocol == "ip6" && pl.Field == "nexthdr"):
		return p.Proto, true
	case (pl.Protocol == "ip" || pl.Protocol == "ip6") && pl.Field == "daddr":
		return p.Dst, true
	case pl.Field == "dport":
		want := map[string]uint8{"tcp": 6, "udp": 17, "sctp": 132}[pl.Protocol]
		if p.Port == 0 || (pl.Protocol != "th" && want != p.Proto) {
			return nil, true
		}
		return p.Port, true
	}
	return nil, false
}

// rightHas reports whether the right side of a match (a value, a set,
// a prefix or a range) holds val; ok false for a form not read here.
func rightHas(raw json.RawMessage, val any) (has, ok bool) {
	var set struct {
		Set    []json.RawMessage `json:"set"`
		Prefix *struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		} `json:"prefix"`
		Range []json.RawMessage `json:"range"`
	}
	if raw[0] == '{' {
		if json.Unmarshal(raw, &set) != nil {
			return false, false
		}
		switch {
		case set.Set != nil:
			for _, e := range set.Set {
				h, ok := rightHas(e, val)
				if !ok {
					return false, false
				}
				if h {
					return true, true
				}
			}
			return false, true
		case set.Prefix != nil:
			a, err := netip.ParseAddr(set.Prefix.Addr)
			d, isAddr := val.(netip.Addr)
			if err != nil || !isAddr {
				return false, false
			}
			return netip.PrefixFrom(a, set.Prefix.Len).Contains(d), true
		case len(set.Range) == 2:
			lo, ok1 := number(set.Range[0])
			hi, ok2 := number(set.Range[1])
			v, ok3 := asNumber(val)
			if !ok1 || !ok2 || !ok3 {
				return false, false
			}
			return lo <= v && v <= hi, true
		}
		return false, false
	}
	switch v := val.(type) {
	case netip.Addr:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return false, false
		}
		a, err := netip.ParseAddr(s)
		return err == nil && a == v, err == nil
	case string:
		var s string
		return json.Unmarshal(raw, &s) == nil && s == v, true
	}
	n, ok := number(raw)
	v, ok2 := asNumber(val)
	return ok && ok2 && n == v, ok && ok2
}

// number reads a number or a protocol name.
func number(raw json.RawMessage) (int, bool) {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n, true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return 0, false
	}
	if p, ok := map[string]int{"vrrp": 112, "tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "ipv6-icmp": 58}[s]; ok {
		return p, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func asNumber(v any) (int, bool) {
	switch n := v.(type) {
	case uint8:
		return int(n), true
	case uint16:
		return int(n), true
	}
	return 0, false
}
