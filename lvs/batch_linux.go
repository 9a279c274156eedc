package lvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/cloudflare/ipvs"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The IPVS generic netlink interface, from include/uapi/linux/ip_vs.h.
const (
	ipvsGenlName    = "IPVS"
	ipvsGenlVersion = 1

	cmdNewService = 1
	cmdSetService = 2
	cmdDelService = 3
	cmdNewDest    = 5
	cmdSetDest    = 6
	cmdDelDest    = 7

	cmdAttrService = 1
	cmdAttrDest    = 2

	svcAttrAF        = 1
	svcAttrProtocol  = 2
	svcAttrAddr      = 3
	svcAttrPort      = 4
	svcAttrFWMark    = 5
	svcAttrSchedName = 6
	svcAttrFlags     = 7
	svcAttrTimeout   = 8
	svcAttrNetmask   = 9

	destAttrAddr       = 1
	destAttrPort       = 2
	destAttrFwdMethod  = 3
	destAttrWeight     = 4
	destAttrUThresh    = 5
	destAttrLThresh    = 6
	destAttrAddrFamily = 11
)

// batchSize bounds the requests per sendmsg, so that their
// acknowledgements always fit in the socket's receive buffer.
const batchSize = 256

// batcher writes many IPVS requests per system call. Netlink takes several
// messages in one sendmsg and acknowledges each by sequence number, so a
// plan of thousands of writes costs tens of system calls, not thousands:
// the cost that dominates a cold sync (every syscall is dear, in UML and
// on real hardware alike). cloudflare/ipvs sends one request per call and
// its receive path stops at the first error, hence this small codec of our
// own for writes; reads stay with cloudflare/ipvs.
type batcher struct {
	fd     int
	family uint16
	seq    uint32
	out    []byte
	in     []byte
}

func newBatcher() (*batcher, error) {
	gc, err := genetlink.Dial(nil)
	if err != nil {
		return nil, err
	}
	fam, err := gc.GetFamily(ipvsGenlName)
	gc.Close()
	if err != nil {
		return nil, ErrNoIPVS
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	// Error acknowledgements carry only the header, not the request.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	return &batcher{fd: fd, family: fam.ID, in: make([]byte, 1<<16)}, nil
}

func (b *batcher) close() error { return unix.Close(b.fd) }

// write sends ops in batches and returns each one's result.
func (b *batcher) write(ops []Op) []error {
	errs := make([]error, len(ops))
	for start := 0; start < len(ops); start += batchSize {
		end := min(start+batchSize, len(ops))
		if err := b.writeBatch(ops[start:end], errs[start:end]); err != nil {
			for i := start; i < end; i++ {
				if errs[i] == nil {
					errs[i] = err
				}
			}
		}
	}
	return errs
}

func (b *batcher) writeBatch(ops []Op, errs []error) error {
	b.out = b.out[:0]
	first := b.seq + 1
	for _, op := range ops {
		b.seq++
		msg, err := encodeOp(op)
		if err != nil {
			return err
		}
		b.out = appendMessage(b.out, b.family, b.seq, msg)
	}
	if err := unix.Sendto(b.fd, b.out, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	pending := len(ops)
	for pending > 0 {
		n, _, err := unix.Recvfrom(b.fd, b.in, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(b.in[:n])
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR || len(m.Data) < 4 {
				continue
			}
			i := int(m.Header.Seq - first)
			if i < 0 || i >= len(ops) {
				continue // a stale acknowledgement
			}
			if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
				errs[i] = syscall.Errno(-code)
			}
			pending--
		}
	}
	return nil
}

// appendMessage frames a generic netlink request asking for an ack.
func appendMessage(buf []byte, family uint16, seq uint32, payload []byte) []byte {
	const hdr = unix.SizeofNlMsghdr
	length := hdr + len(payload)
	buf = binary.NativeEndian.AppendUint32(buf, uint32(length))
	buf = binary.NativeEndian.AppendUint16(buf, family)
	buf = binary.NativeEndian.AppendUint16(buf, unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	buf = binary.NativeEndian.AppendUint32(buf, seq)
	buf = binary.NativeEndian.AppendUint32(buf, 0)
	buf = append(buf, payload...)
	for len(buf)%4 != 0 {
		buf = append(buf, 0)
	}
	return buf
}

// encodeOp is the generic netlink header and attributes of one write.
func encodeOp(op Op) ([]byte, error) {
	var cmd uint8
	switch op.Kind {
	case CreateService:
		cmd = cmdNewService
	case UpdateService:
		cmd = cmdSetService
	case DeleteService:
		cmd = cmdDelService
	case CreateDest:
		cmd = cmdNewDest
	case UpdateDest:
		cmd = cmdSetDest
	case DeleteDest:
		cmd = cmdDelDest
	}
	ae := netlink.NewAttributeEncoder()
	ae.Do(cmdAttrService, func() ([]byte, error) { return encodeService(op.Service) })
	if op.Kind >= CreateDest && op.Kind <= DeleteDest {
		ae.Do(cmdAttrDest, func() ([]byte, error) { return encodeDest(op.Dest) })
	}
	attrs, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	return append([]byte{cmd, ipvsGenlVersion, 0, 0}, attrs...), nil
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func encodeService(s Service) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Uint16(svcAttrAF, uint16(s.Family))
	if s.FWMark != 0 {
		ae.Uint32(svcAttrFWMark, s.FWMark)
	} else {
		ae.Uint16(svcAttrProtocol, uint16(s.Protocol))
		ae.Bytes(svcAttrAddr, s.Addr.AsSlice())
		ae.Bytes(svcAttrPort, be16(s.Port))
	}
	ae.String(svcAttrSchedName, s.Scheduler)
	// struct ip_vs_flags: the flags, then the mask of those to change.
	flags := binary.NativeEndian.AppendUint32(nil, uint32(s.Flags))
	ae.Bytes(svcAttrFlags, binary.NativeEndian.AppendUint32(flags, 0xffffffff))
	ae.Uint32(svcAttrTimeout, s.Timeout)
	if s.Family == ipvs.INET { // the mask itself; for AF_INET6, its length
		ae.Bytes(svcAttrNetmask, s.Netmask.AsSlice())
	} else {
		ae.Uint32(svcAttrNetmask, uint32(max(0, s.Netmask.Bits())))
	}
	return ae.Encode()
}

func encodeDest(d Destination) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Uint16(destAttrAddrFamily, uint16(d.Family))
	ae.Bytes(destAttrAddr, d.Addr.AsSlice())
	ae.Bytes(destAttrPort, be16(d.Port))
	ae.Uint32(destAttrFwdMethod, uint32(d.Forward))
	ae.Uint32(destAttrWeight, d.Weight)
	ae.Uint32(destAttrUThresh, d.Upper)
	ae.Uint32(destAttrLThresh, d.Lower)
	return ae.Encode()
}
