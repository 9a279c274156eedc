package importer

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
)

// checkTypes maps keepalived's checkers to directord's check types.
var checkTypes = map[string]string{
	"TCP_CHECK": "tcp", "HTTP_GET": "http", "SSL_GET": "https", "MISC_CHECK": "exec",
	"SMTP_CHECK": "smtp", "DNS_CHECK": "dns", "UDP_CHECK": "udp", "PING_CHECK": "icmp",
}

// checker writes a health_check per checker (one per url of HTTP_GET
// and SSL_GET: keepalived wants all of them to pass, as directord wants
// all of a real's checks).
func (w *kaWriter) checker(rs *hclwrite.Body, n *Node, def checkDefaults) {
	urls := 0
	for _, c := range n.Children {
		if c.Key == "url" {
			urls++
			w.oneCheck(rs, n, c, def)
		}
	}
	if urls == 0 {
		w.oneCheck(rs, n, nil, def)
	}
}

// oneCheck writes one health_check for checker n (and url u, if any).
func (w *kaWriter) oneCheck(rs *hclwrite.Body, n, u *Node, def checkDefaults) {
	typ := checkTypes[n.Key]
	b := rs.AppendNewBlock("health_check", []string{typ}).Body()
	interval, timeout := def.interval, "5s" // keepalived's connect_timeout
	if typ == "exec" {
		timeout = interval // misc_timeout defaults to delay_loop
	}
	if def.alpha {
		setStr(b, "initial", "down")
	}
	if def.host != "" && (typ == "http" || typ == "https") {
		setStr(b, "host", def.host)
	}
	// keepalived's defaults (keepalived.conf(5)): retry, the checks
	// added after a failure, is 1 (DNS_CHECK 3, MISC_CHECK 0), and
	// delay_before_retry 3s for HTTP_GET and SSL_GET, the delay_loop for
	// DNS_CHECK, 1s otherwise.
	retry := 1
	switch n.Key {
	case "DNS_CHECK":
		retry = 3
	case "MISC_CHECK":
		retry = 0
	}
	retryDelay := map[string]string{"HTTP_GET": "3s", "SSL_GET": "3s", "DNS_CHECK": interval}[n.Key]
	if retryDelay == "" {
		retryDelay = "1s"
	}
	for _, c := range n.Children {
		switch c.Key {
		case "url":
			// written below
		case "connect_timeout", "misc_timeout":
			if d, ok := seconds(c); ok {
				timeout = d
			}
		case "delay_loop":
			if d, ok := seconds(c); ok {
				interval = d
			}
		case "retry", "nb_get_retry":
			if v, ok := intArg(c); ok {
				retry = v
			}
		case "delay_before_retry":
			if d, ok := seconds(c); ok {
				retryDelay = d
			}
		case "connect_port":
			w.setNum(b, "connect_port", c)
		case "connect_ip":
			setStr(b, "connect_address", arg(c))
		case "bindto":
			setStr(b, "bind_address", arg(c))
		case "misc_path":
			setList(b, "command", argv(c.Args))
		case "misc_dynamic":
			setBool(b, "dynamic_weight", true)
		case "helo_name":
			setStr(b, "helo_name", arg(c))
		case "type":
			setStr(b, "query_type", strings.ToUpper(arg(c)))
		case "name":
			setStr(b, "query_name", arg(c))
		case "payload":
			setStr(b, "payload", strings.ToLower(arg(c)))
		case "require_reply":
			w.requireReply(b, c)
		case "virtualhost":
			setStr(b, "host", arg(c))
		default:
			w.drop(b, c, "no directord equivalent")
		}
	}
	if u != nil {
		w.url(b, u)
	}
	if d, _ := time.ParseDuration(retryDelay); d <= 0 {
		retryDelay = "1ms" // keepalived's 0: retry at once
	}
	setStr(b, "retry_delay", retryDelay)
	w.timing(b, n, interval, timeout, retry+1)
	w.sum.Checks++
}

// timing sets interval and timeout, which directord wants no longer than
// the interval.
func (w *kaWriter) timing(b *hclwrite.Body, n *Node, interval, timeout string, fall int) {
	iv, _ := time.ParseDuration(interval)
	to, _ := time.ParseDuration(timeout)
	if to > iv {
		w.approx(b, n, "timeout "+timeout+" cut to the interval "+interval+": a probe may not outlast its interval")
		timeout = interval
	}
	setStr(b, "interval", interval)
	setStr(b, "timeout", timeout)
	// A failure and then retry more: fall is retry + 1.
	setInt(b, "fall", fall)
}

func (w *kaWriter) url(b *hclwrite.Body, u *Node) {
	for _, c := range u.Children {
		switch c.Key {
		case "path":
			setStr(b, "path", arg(c))
		case "status_code":
			setList(b, "status", c.Args)
		case "digest":
			setStr(b, "body_digest", strings.ToLower(arg(c)))
		case "virtualhost":
			setStr(b, "host", arg(c))
		default:
			w.drop(b, c, "no directord equivalent")
		}
	}
}

// requireReply: keepalived's "require_reply HEX" is the bytes a reply
// must start with; its x nibbles are wildcards directord has not.
func (w *kaWriter) requireReply(b *hclwrite.Body, n *Node) {
	v := strings.ToLower(arg(n))
	if v == "" {
		setBool(b, "require_reply", true)
		return
	}
	if _, err := hex.DecodeString(v); err != nil {
		w.approx(b, n, "reply pattern "+strconv.Quote(v)+" has wildcards: only a reply is required")
		setBool(b, "require_reply", true)
		return
	}
	setStr(b, "reply_hex", v)
}
