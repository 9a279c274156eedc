package importer

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Service is a virtual service as ipvsadm saves it.
type Service struct {
	Line     int    // where its -A line was
	Protocol string // "tcp", "udp", "sctp"; "" for a fwmark service
	Addr     netip.AddrPort
	FWMark   uint32
	IPv6     bool // a fwmark service's family (-6)
	Sched    string
	// Persistent is -p; Timeout its seconds, Netmask -M as written.
	Persistent bool
	Timeout    int
	Netmask    string
	Flags      []string // -b, and "one-packet" for -o
	Reals      []Real
}

// Real is a real server of a service.
type Real struct {
	Line         int
	Addr         netip.AddrPort
	Forwarding   string // "dr", "tun", "nat"
	Weight       int
	Upper, Lower int
}

// Note is something of the input that is not carried over as it was.
type Note struct {
	File    string // the keepalived importer's; "" for stdin
	Line    int
	Dropped bool // false: approximated
	Text    string
}

// ParseIPVSAdm reads `ipvsadm -Sn` output. A line it cannot read at all
// is an error naming it; an option it cannot carry over is a Note.
// `ipvsadm -Ln` is refused: see errListing.
func ParseIPVSAdm(r io.Reader) ([]*Service, []Note, error) {
	var (
		svcs  []*Service
		notes []Note
	)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "IP Virtual Server version") || strings.HasPrefix(line, "Prot LocalAddress") {
			return nil, nil, fmt.Errorf("line %d: %w", n, errListing)
		}
		f := strings.Fields(line)
		var err error
		switch f[0] {
		case "-A", "--add-service":
			var s *Service
			s, err = parseService(n, f[1:], &notes)
			if err == nil {
				svcs = append(svcs, s)
			}
		case "-a", "--add-server":
			err = parseReal(n, f[1:], svcs, &notes)
		default:
			err = fmt.Errorf("line %d: %q is neither -A (a virtual service) nor -a (a real server)", n, f[0])
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	return svcs, notes, nil
}

// optArg is option i and the word after it ("" at the end): the
// argument, if the option takes one.
func optArg(args []string, i int) (opt, arg string) {
	if i+1 < len(args) {
		return args[i], args[i+1]
	}
	return args[i], ""
}

// errListing explains why `ipvsadm -Ln` is not read.
var errListing = fmt.Errorf("this is `ipvsadm -Ln`, a listing for people: its columns change between versions and it leaves out scheduler flags; pipe `ipvsadm -Sn` (ipvsadm-save -n), the form ipvsadm restores from, instead")

// serviceKey reads a service address option and its argument: -t, -u,
// --sctp-service (addr:port) or -f (mark). ok is false for another option.
func serviceKey(opt, arg string) (proto string, ap netip.AddrPort, mark uint32, ok bool, err error) {
	switch opt {
	case "-t", "--tcp-service":
		proto = "tcp"
	case "-u", "--udp-service":
		proto = "udp"
	case "--sctp-service":
		proto = "sctp"
	case "-f", "--fwmark-service":
		m, err := strconv.ParseUint(arg, 0, 32)
		if err != nil || m == 0 {
			return "", ap, 0, true, fmt.Errorf("fwmark %q is not a number from 1 to 2^32-1", arg)
		}
		return "", ap, uint32(m), true, nil
	default:
		return "", ap, 0, false, nil
	}
	ap, err = netip.ParseAddrPort(arg)
	if err != nil {
		return "", ap, 0, true, fmt.Errorf("service address %q is not address:port: %v", arg, err)
	}
	return proto, ap, 0, true, nil
}

func parseService(n int, args []string, notes *[]Note) (*Service, error) {
	s := &Service{Line: n, Sched: "wlc"} // ipvsadm's default scheduler
	for i := 0; i < len(args); i++ {
		opt, arg := optArg(args, i)
		proto, ap, mark, isKey, err := serviceKey(opt, arg)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if isKey {
			s.Protocol, s.Addr, s.FWMark = proto, ap, mark
			i++
			continue
		}
		switch opt {
		case "-s", "--scheduler":
			s.Sched = arg
			i++
		case "-p", "--persistent":
			s.Persistent, s.Timeout = true, 300 // ipvsadm's default
			if t, err := strconv.Atoi(arg); err == nil {
				s.Timeout = t
				i++
			}
		case "-M", "--netmask":
			s.Netmask = arg
			i++
		case "-b", "--sched-flags":
			s.Flags = append(s.Flags, strings.Split(arg, ",")...)
			i++
		case "-o", "--ops":
			s.Flags = append(s.Flags, "one-packet")
		case "-6", "--ipv6":
			s.IPv6 = true
		case "--pe":
			*notes = append(*notes, Note{Line: n, Dropped: true, Text: fmt.Sprintf("--pe %s dropped: directord has no persistence engines", arg)})
			i++
		default:
			*notes = append(*notes, Note{Line: n, Dropped: true, Text: fmt.Sprintf("option %s dropped: not one directord knows", opt)})
		}
	}
	if s.Protocol == "" && s.FWMark == 0 {
		return nil, fmt.Errorf("line %d: -A without a service (-t, -u, --sctp-service or -f)", n)
	}
	if s.FWMark == 0 {
		s.IPv6 = s.Addr.Addr().Is6()
	}
	return s, nil
}

func parseReal(n int, args []string, svcs []*Service, notes *[]Note) error {
	var (
		svc *Service
		rl  = Real{Line: n, Forwarding: "dr", Weight: 1} // ipvsadm's defaults: -g, -w 1
	)
	for i := 0; i < len(args); i++ {
		opt, arg := optArg(args, i)
		proto, ap, mark, isKey, err := serviceKey(opt, arg)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if isKey {
			for _, s := range svcs {
				if s.Protocol == proto && s.Addr == ap && s.FWMark == mark {
					svc = s
				}
			}
			if svc == nil {
				return fmt.Errorf("line %d: real server for %s %s, which no earlier -A line adds", n, opt, arg)
			}
			i++
			continue
		}
		if err := realOption(n, opt, arg, &rl, &i, notes); err != nil {
			return err
		}
	}
	switch {
	case svc == nil:
		return fmt.Errorf("line %d: -a without the service it belongs to", n)
	case !rl.Addr.Addr().IsValid():
		return fmt.Errorf("line %d: -a without -r (the real server's address)", n)
	}
	svc.Reals = append(svc.Reals, rl)
	return nil
}

// realOption reads one option of a -a line into rl, advancing *i past its
// argument.
func realOption(n int, opt, arg string, rl *Real, i *int, notes *[]Note) error {
	num := func(what string) (int, error) {
		*i++
		v, err := strconv.Atoi(arg)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("line %d: %s %q is not a number", n, what, arg)
		}
		return v, nil
	}
	var err error
	switch opt {
	case "-r", "--real-server":
		*i++
		ap, perr := netip.ParseAddrPort(arg)
		if perr != nil {
			// ipvsadm writes no port for a fwmark service's real.
			a, aerr := netip.ParseAddr(strings.Trim(arg, "[]"))
			if aerr != nil {
				return fmt.Errorf("line %d: real server %q is not an address[:port]", n, arg)
			}
			ap = netip.AddrPortFrom(a, 0)
		}
		rl.Addr = ap
	case "-g", "--gatewaying":
		rl.Forwarding = "dr"
	case "-i", "--ipip":
		rl.Forwarding = "tun"
	case "-m", "--masquerading":
		rl.Forwarding = "nat"
	case "-w", "--weight":
		rl.Weight, err = num("weight")
	case "-x", "--u-threshold":
		rl.Upper, err = num("upper threshold")
	case "-y", "--l-threshold":
		rl.Lower, err = num("lower threshold")
	case "--tun-type", "--tun-port", "--tun-nocsum", "--tun-csum", "--tun-remcsum":
		*notes = append(*notes, Note{Line: n, Dropped: true, Text: fmt.Sprintf("%s dropped: directord tunnels with ipip only", opt)})
		if opt == "--tun-type" || opt == "--tun-port" {
			*i++
		}
	default:
		*notes = append(*notes, Note{Line: n, Dropped: true, Text: fmt.Sprintf("option %s dropped: not one directord knows", opt)})
	}
	return err
}
