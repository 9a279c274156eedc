// Package importer turns what LVS operators run today into directord
// configuration, so that moving in starts from their own setup.
//
//   - ipvsadm.go reads the table as ipvsadm(8) saves it (`ipvsadm -Sn`, the
//     form `ipvsadm -R` restores from): one "-A" line per virtual service
//     and one "-a" line per real server, with the options of ipvsadm's
//     manual (-t/-u/--sctp-service/-f, -s, -p, -M, -b, -o, -6; -r, -g/-i/-m,
//     -w, -x, -y).
//   - hcl.go writes virtual_server blocks with hclwrite, formatted as
//     `directord validate` reads them. What cannot be carried over is a
//     comment in the output naming the input line and the reason, and is
//     counted in the summary.
//
// The parsers are pure and fuzzed; the guest test runs the seed's
// director script on a real IPVS kernel and imports what ipvsadm saves.
package importer
