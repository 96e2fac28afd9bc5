// A grpc-go load generator for scripts/bench.sh: the client stack Allstar
// itself uses (Go, grpc-go), sending AlertSink calls as fast as the sink
// answers them. It exists because of one difference that matters to a sink
// checking a bearer token on every call: grpc-go's HPACK encoder indexes the
// `authorization` header (golang.org/x/net/http2/hpack never marks a field
// sensitive unless asked, and grpc-go does not ask), so after a
// connection's first call the token crosses the wire as a one-byte index.
// tonic/h2 and nghttp2 (h2load, grpc-js) never index `authorization`: the
// whole token is sent, Huffman-coded, and decoded by the sink on every call.
//
//	alertsink_load -addr HOST:PORT -n TOTAL [-c CONCURRENCY] [-conns N]
//	    [-token-file F] [-repos N]
//
// Prints one JSON line {"kind":"load","sent":…,"ok":…,"seconds":…,"rate":…}
// like `sinkwatch load --json`; exits 1 if any call failed.
//
// The token is sent by a PerRPCCredentials that does not require TLS: the
// benchmark compares sinks over plaintext loopback (as every other mode of
// scripts/bench.sh), and HPACK works the same above TLS. The alerts are
// those of `sinkwatch load` (src/client/load.rs, nth_alert): 10 orgs, the
// nine policies, about 1 in 8 failing. Built in GOPATH mode with Debian's
// golang-google-grpc-dev, offline; the request is encoded by hand.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
)

// rawCodec passes the hand-encoded message through as it is.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append((*(v.(*[]byte)))[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// bearer is a per-call credential, as oauth.TokenSource's is, without its
// requirement of transport security (see the file comment).
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

var policies = []string{
	"Binary Artifacts", "Branch Protection", "CODEOWNERS", "Outside Collaborators",
	"OpenSSF Scorecard", "SECURITY.md", "Dangerous Workflow", "GitHub Actions",
	"Repository Administrators",
}

func varint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func field(b []byte, tag int, s string) []byte {
	b = varint(b, uint64(tag<<3|2))
	b = varint(b, uint64(len(s)))
	return append(b, s...)
}

// nthAlert encodes the n-th AlertRequest (proto/alertsink.proto) of a run.
func nthAlert(n uint64, repos uint64) []byte {
	policy := policies[n%9]
	repo := (n / 9) % repos
	pass := (n*0x9E3779B97F4A7C15)>>59 >= 4
	name := fmt.Sprintf("repo-%d", repo)
	b := field(nil, 1, fmt.Sprintf("load-org-%d", repo%10))
	b = field(b, 2, name)
	b = field(b, 3, policy)
	if !pass {
		b = field(b, 4, policy+" check failed for "+name+".\n")
	} else {
		b = append(b, 5<<3, 1)
	}
	return b
}

func main() {
	addr := flag.String("addr", "", "sink address host:port")
	total := flag.Uint64("n", 100000, "calls in all")
	conc := flag.Int("c", 64, "calls in flight")
	conns := flag.Int("conns", 4, "connections")
	repos := flag.Uint64("repos", 1000, "repos the alerts are spread over")
	tokenFile := flag.String("token-file", "", "bearer token sent on every call")
	flag.Parse()
	if *addr == "" || *conc < 1 || *conns < 1 || *repos < 1 {
		fmt.Fprintln(os.Stderr, "alertsink_load: -addr is required; -c, -conns, -repos ≥ 1")
		os.Exit(2)
	}
	opts := []grpc.DialOption{grpc.WithInsecure(), grpc.WithBlock()}
	if *tokenFile != "" {
		tok, err := ioutil.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "alertsink_load:", err)
			os.Exit(2)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(strings.TrimSpace(string(tok)))))
	}
	ctx := context.Background()
	clients := make([]*grpc.ClientConn, *conns)
	for i := range clients {
		dial, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := grpc.DialContext(dial, *addr, opts...)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "alertsink_load: dial:", err)
			os.Exit(1)
		}
		defer c.Close()
		clients[i] = c
	}
	var next, ok, failed uint64
	var first atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func(c *grpc.ClientConn) {
			defer wg.Done()
			var resp []byte
			for {
				n := atomic.AddUint64(&next, 1) - 1
				if n >= *total {
					return
				}
				req := nthAlert(n, *repos)
				if err := c.Invoke(ctx, "/AlertSink/Alert", &req, &resp, grpc.ForceCodec(rawCodec{})); err != nil {
					atomic.AddUint64(&failed, 1)
					first.Store(err.Error())
					continue
				}
				atomic.AddUint64(&ok, 1)
			}
		}(clients[w%*conns])
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	out := map[string]interface{}{
		"kind": "load", "sent": ok + failed, "ok": ok, "failed": failed,
		"seconds": secs, "rate": float64(ok+failed) / secs,
	}
	if e, has := first.Load().(string); has {
		out["failure"] = e
	}
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
	if failed > 0 {
		os.Exit(1)
	}
}
