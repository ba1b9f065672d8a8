package netsim

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

// capture writes one link's frames, both directions, to a pcapng file. It reads an
// AF_PACKET (TPACKET_V3) socket opened inside the namespace of the link's non-switch
// end: pure Go, no libpcap.
type capture struct {
	path string
	tp   *afpacket.TPacket
	f    *os.File
	w    *pcapgo.NgWriter
	stop chan struct{}
	done chan struct{}
	err  error
	once sync.Once
}

// Ring size per link: 8 blocks of 128 KiB. Enough for test and scenario traffic
// bursts without pinning 64 MiB per socket as the library default would.
const (
	captureBlockSize = 128 << 10
	captureBlocks    = 8
	capturePoll      = 50 * time.Millisecond
)

// startCaptures opens one capture per link. Each file is named <segment>-<node>.pcapng
// after the segment and the node whose end of the veth is captured (for a segment with
// a switch, every member's link has its own file).
func (t *Topology) startCaptures(dir string) error {
	if err := ensureDir(dir); err != nil {
		return err
	}
	p := t.plan
	for _, l := range p.links {
		n := p.nodes[l.b]
		ifc := n.Ifaces[l.bi]
		c, err := t.openCapture(captureName(dir, l.segment, n.Name), n.Name, ifc.Name)
		if err != nil {
			return err
		}
		t.mu.Lock()
		t.captures = append(t.captures, c)
		t.mu.Unlock()
	}
	return nil
}

func (t *Topology) openCapture(path, node, ifname string) (*capture, error) {
	var tp *afpacket.TPacket
	err := t.Do(node, func() error {
		var err error
		tp, err = afpacket.NewTPacket(
			afpacket.OptInterface(ifname),
			afpacket.OptFrameSize(afpacket.DefaultFrameSize),
			afpacket.OptBlockSize(captureBlockSize),
			afpacket.OptNumBlocks(captureBlocks),
			afpacket.OptBlockTimeout(10*time.Millisecond),
			afpacket.OptPollTimeout(capturePoll),
			// TPACKET_V2 hands each frame over at once. V3 hands over whole blocks when they
			// retire, on a timer that a loaded machine delays: a capture closed soon after
			// its traffic was once seen to lose everything still in the open block.
			afpacket.TPacketVersion2,
		)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("capture %s/%s: af_packet: %w", node, ifname, err)
	}
	f, err := os.Create(path)
	if err != nil {
		tp.Close()
		return nil, fmt.Errorf("capture %s/%s: %w", node, ifname, err)
	}
	intf := pcapgo.DefaultNgInterface
	intf.Name = node + "/" + ifname
	intf.LinkType = layers.LinkTypeEthernet
	opts := pcapgo.DefaultNgWriterOptions
	opts.SectionInfo.Application = "portlab"
	w, err := pcapgo.NewNgWriterInterface(f, intf, opts)
	if err != nil {
		tp.Close()
		f.Close()
		return nil, fmt.Errorf("capture %s/%s: pcapng: %w", node, ifname, err)
	}
	c := &capture{path: path, tp: tp, f: f, w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c, nil
}

// drainMin is how long a capture keeps reading after it is asked to stop.
const drainMin = 250 * time.Millisecond

func (c *capture) run() {
	defer close(c.done)
	var stopAt time.Time
	for {
		data, ci, err := c.tp.ReadPacketData()
		idle := false
		switch {
		case err == nil:
			ci.InterfaceIndex = 0 // the file's one interface, not the kernel's ifindex
			if werr := c.w.WritePacket(ci, data); werr != nil {
				c.err = fmt.Errorf("capture %s: write: %w", c.path, werr)
				return
			}
		case errors.Is(err, afpacket.ErrTimeout), errors.Is(err, unix.EINTR):
			idle = true
		default:
			c.err = fmt.Errorf("capture %s: read: %w", c.path, err)
			return
		}
		if stopAt.IsZero() {
			select {
			case <-c.stop:
				stopAt = time.Now()
			default:
			}
		}
		// Once asked to stop, drain: read for at least drainMin (frames still in flight
		// through the namespaces' queues), then stop at an idle poll; a link that never
		// goes quiet is cut after a second.
		if !stopAt.IsZero() && ((idle && time.Since(stopAt) > drainMin) || time.Since(stopAt) > time.Second) {
			return
		}
	}
}

// close drains what the kernel already captured, then flushes and closes the file.
func (c *capture) close() error {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		c.tp.Close()
		errs := []error{c.err}
		if err := c.w.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("capture %s: flush: %w", c.path, err))
		}
		if err := c.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("capture %s: close: %w", c.path, err))
		}
		c.err = errors.Join(errs...)
	})
	return c.err
}

// Captures returns the capture files being written, one per link.
func (t *Topology) Captures() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, len(t.captures))
	for i, c := range t.captures {
		out[i] = c.path
	}
	return out
}
