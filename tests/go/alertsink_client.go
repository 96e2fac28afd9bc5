// A grpc-go AlertSink client, as a Go sender such as Allstar would be:
// gzip compression on every call and a per-call OAuth credential (the
// `oauth` package's PerRPCCredentials, which grpc-go sends only over TLS).
// Built and run by tests/grpc_go.rs; it needs only grpc-go and
// golang.org/x/oauth2 (GOPATH mode, as Debian's golang-google-grpc-dev
// installs them), so the request is encoded by hand instead of generated
// from proto/alertsink.proto.
//
//	alertsink_client -addr 127.0.0.1:PORT [-ca CA.pem] [-token-file F]
//	    [-compressor gzip|x-unknown] [-details-bytes N] [-n N]
//
// Prints "ok N" and exits 0 when every call got OK; otherwise prints the
// first failure's code and message and exits 1.
package main

import (
	stdgzip "compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/oauth"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"
)

// unknownCompressor is gzip under a name the sink does not know: the
// sink must refuse it as an unsupported encoding (and so shows that the
// encoding grpc-go sends is what the sink judges).
type unknownCompressor struct{}

func (unknownCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	return stdgzip.NewWriter(w), nil
}
func (unknownCompressor) Decompress(r io.Reader) (io.Reader, error) { return stdgzip.NewReader(r) }
func (unknownCompressor) Name() string                              { return "x-unknown" }

func init() { encoding.RegisterCompressor(unknownCompressor{}) }

// rawCodec passes the hand-encoded message through as it is.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

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

// alertRequest encodes proto/alertsink.proto's AlertRequest.
func alertRequest(owner, repo, policy, details string, pass bool) []byte {
	b := field(nil, 1, owner)
	b = field(b, 2, repo)
	b = field(b, 3, policy)
	if details != "" {
		b = field(b, 4, details)
	}
	if pass {
		b = append(b, 5<<3, 1)
	}
	return b
}

func main() {
	addr := flag.String("addr", "", "sink address host:port")
	ca := flag.String("ca", "", "CA certificate (PEM) to trust: use TLS")
	tokenFile := flag.String("token-file", "", "bearer token sent on every call (oauth PerRPCCredentials; needs -ca)")
	compressor := flag.String("compressor", "", "compress every request: gzip, or x-unknown")
	n := flag.Int("n", 3, "calls")
	detailsBytes := flag.Int("details-bytes", 0, "details of every alert: this many bytes (a failing alert)")
	flag.Parse()

	opts := []grpc.DialOption{grpc.WithBlock()}
	if *ca != "" {
		creds, err := credentials.NewClientTLSFromFile(*ca, "")
		if err != nil {
			fmt.Println("setup:", err)
			os.Exit(2)
		}
		opts = append(opts, grpc.WithTransportCredentials(creds))
	} else {
		opts = append(opts, grpc.WithInsecure())
	}
	if *tokenFile != "" {
		tok, err := ioutil.ReadFile(*tokenFile)
		if err != nil {
			fmt.Println("setup:", err)
			os.Exit(2)
		}
		access := strings.TrimSpace(string(tok))
		opts = append(opts, grpc.WithPerRPCCredentials(oauth.NewOauthAccess(&oauth2.Token{AccessToken: access})))
	}
	callOpts := []grpc.CallOption{grpc.ForceCodec(rawCodec{})}
	if *compressor != "" {
		callOpts = append(callOpts, grpc.UseCompressor(*compressor))
	}
	details := strings.Repeat("d", *detailsBytes)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, *addr, opts...)
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(1)
	}
	defer conn.Close()
	for i := 0; i < *n; i++ {
		req := alertRequest("ossf", fmt.Sprintf("go-%d", i), "SECURITY.md", details, details == "")
		var resp []byte
		if err := conn.Invoke(ctx, "/AlertSink/Alert", &req, &resp, callOpts...); err != nil {
			s := status.Convert(err)
			fmt.Printf("call %d: %s: %s\n", i, s.Code(), s.Message())
			os.Exit(1)
		}
	}
	fmt.Printf("ok %d\n", *n)
}
