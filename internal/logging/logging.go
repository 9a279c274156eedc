// Package logging builds the slog loggers of directord's processes:
// the daemon and its BGP speaker log alike, to the same stream.
package logging

import (
	"io"
	"log/slog"
	"os"
)

// New returns a logger writing format ("json", else text) to w at level
// (slog's names; info when empty or unknown), and the level to change.
// Under systemd (JOURNAL_STREAM set) records carry no time: the journal
// stamps each line itself.
func New(w io.Writer, format, level string) (*slog.Logger, *slog.LevelVar) {
	lv := new(slog.LevelVar)
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	lv.Set(l)
	underJournal := os.Getenv("JOURNAL_STREAM") != ""
	opts := &slog.HandlerOptions{
		Level: lv,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if underJournal && len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), lv
	}
	return slog.New(slog.NewTextHandler(w, opts)), lv
}
