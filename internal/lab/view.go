package lab

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Keys the live view understands.
const Keys = "k kill the master · s start killed directors · 1-3 fail/restore a real · r reload the configs · q quit"

// Render draws the live view: directors, real servers with their health
// and weight, the master's IPVS table, the client's last answers and
// recent events. It returns text with "\n" line ends.
func (e *Engine) Render(note string) string {
	var b strings.Builder
	vips := VIP.String() + ":80"
	if e.Client6 != nil {
		vips += " and [" + VIP6.String() + "]:80"
	}
	fmt.Fprintf(&b, "directord lab: the seed's LVS-DR setup, VIP %s, wrr, direct routing  (%s)\n", vips, time.Since(e.Started).Round(time.Second))
	if note != "" {
		fmt.Fprintln(&b, note)
	}
	fmt.Fprintf(&b, "configs: %s\n\n", strings.Join(e.ConfigPaths(), "  "))

	e.mu.Lock()
	docs := map[string]any{}
	for k, v := range e.docs {
		docs[k] = v
	}
	e.mu.Unlock()
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DIRECTOR\tADDRESS\tDIRECTORD\tVRRP STATE\tPRIORITY\tADVERTS SENT\tRECEIVED")
	master := e.Master()
	for _, d := range e.Directors {
		run, state, prio, sent, recv := "running", "-", "-", "-", "-"
		if !d.Running() {
			run = "KILLED"
		} else if doc, err := d.Status(); err == nil && len(doc.VRRP.Instances) > 0 {
			in := doc.VRRP.Instances[0]
			state, prio = in.State, fmt.Sprintf("%d/%d", in.EffectivePriority, in.Priority)
			sent, recv = fmt.Sprint(in.AdvertsSent), fmt.Sprint(in.AdvertsReceived)
			if in.PreemptHeld != "" {
				state += " (preempt held)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Host.Name, d.Addr, run, state, prio, sent, recv)
	}
	tw.Flush()

	fmt.Fprintln(&b)
	weights := e.Weights(master)
	health := map[string]string{}
	if master != nil {
		if doc, err := master.Status(); err == nil {
			for _, rs := range doc.RealServers {
				addr := endpointAddr(rs.RealServer).String()
				h := "up"
				if !rs.Up {
					h = "DOWN"
				}
				if rs.Last != nil {
					h += fmt.Sprintf(" (%s, %.1fms)", rs.Last.Reason, float64(rs.Last.Latency)/1e6)
				}
				health[addr] = h
			}
		}
	}
	recent := e.Client.Last(40)
	tally := Tally(recent)
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REAL SERVER\tADDRESS\tHTTP\tHEALTH (master's checks)\tWEIGHT\tLAST 40 ANSWERS")
	for i, r := range e.Lab.Reals {
		serving := "serving"
		if !r.Serving() {
			serving = "STOPPED"
		}
		w := "-"
		if v, ok := weights[r.Addr.String()]; ok {
			w = fmt.Sprint(v)
		}
		if r.Addr6.IsValid() {
			w6 := "-"
			if v, ok := weights[r.Addr6.String()]; ok {
				w6 = fmt.Sprint(v)
			}
			w += " / " + w6
		}
		fmt.Fprintf(tw, "%d %s\t%s\t%s\t%s\t%s\t%s\n", i+1, r.Name, r.Addr, serving, dash(health[r.Addr.String()]), w,
			strings.Repeat("#", tally[r.Name])+fmt.Sprintf(" %d", tally[r.Name]))
	}
	tw.Flush()

	fmt.Fprintln(&b)
	all := e.Client.Since(time.Time{})
	o := Summarize(all)
	fmt.Fprintf(&b, "client %s: %d requests, %d failed; last answers: %s\n", e.Lab.Client.Addr, o.Requests, o.Failed, lastAnswers(recent, 16))
	if e.Client6 != nil {
		o6 := Summarize(e.Client6.Since(time.Time{}))
		fmt.Fprintf(&b, "client %s: %d requests, %d failed; last answers: %s\n", e.Lab.Client.Addr6, o6.Requests, o6.Failed, lastAnswers(e.Client6.Last(40), 16))
	}

	if master != nil {
		if doc, err := master.Status(); err == nil && doc.IPVS != nil {
			fmt.Fprintf(&b, "\nIPVS on %s (the master):\n", master.Host.Name)
			for _, s := range doc.IPVS.Table {
				fmt.Fprintf(&b, "  %s %s  %d conns\n", strings.ToUpper(s.Name), s.Scheduler, s.Stats.Connections)
				for _, d := range s.Dests {
					fmt.Fprintf(&b, "    -> %-18s %-6s weight %-3d active %-3d inactive %-4d conns %d\n",
						d.Name, d.Forward, d.Weight, d.ActiveConns, d.InactiveConns, d.Stats.Connections)
				}
			}
		}
	}

	fmt.Fprintln(&b, "\nevents:")
	evs := e.Events()
	slices.SortStableFunc(evs, func(a, b Event) int { return a.At.Compare(b.At) })
	for _, ev := range evs[max(0, len(evs)-8):] {
		fmt.Fprintf(&b, "  %s  %s\n", ev.At.Format("15:04:05.000"), ev.Text)
	}
	fmt.Fprintf(&b, "\nkeys: %s\n", Keys)
	return b.String()
}

func lastAnswers(reqs []Request, n int) string {
	var parts []string
	for _, r := range reqs[max(0, len(reqs)-n):] {
		if r.OK {
			parts = append(parts, r.Real)
		} else {
			parts = append(parts, "FAIL")
		}
	}
	return strings.Join(parts, " ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Interact runs the live view: it redraws about once a second and acts
// on keys read from in until q, Ctrl-C or Ctrl-D. Lines end in "\r\n",
// since the terminal is in raw mode.
func (e *Engine) Interact(in io.Reader, out io.Writer, note string) {
	keys := make(chan byte)
	go func() {
		buf := make([]byte, 1)
		for {
			if n, err := in.Read(buf); err != nil || n == 0 {
				close(keys)
				return
			} else {
				keys <- buf[0]
			}
		}
	}()
	draw := func(msg string) {
		view := e.Render(note)
		if msg != "" {
			view += "\n" + msg + "\n"
		}
		// Clear, home, draw.
		io.WriteString(out, "\x1b[H\x1b[2J"+strings.ReplaceAll(view, "\n", "\r\n"))
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	msg := ""
	draw(msg)
	for {
		select {
		case <-tick.C:
		case k, ok := <-keys:
			if !ok {
				return
			}
			msg = ""
			var err error
			switch k {
			case 'q', 3, 4: // q, Ctrl-C, Ctrl-D
				return
			case 'k':
				_, err = e.KillMaster()
			case 's':
				err = e.Restore()
			case '1', '2', '3', '4':
				err = e.ToggleReal(int(k - '1'))
			case 'r':
				err = e.Reload()
			default:
				msg = "unknown key; " + Keys
			}
			if err != nil {
				msg = "error: " + err.Error()
			}
		}
		draw(msg)
	}
}
