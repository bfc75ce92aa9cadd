package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/hashicorp/raft"
)

// LoadTLS reads the node's certificate and key and the CA that signs every
// member's certificate (PEM files), for mutual TLS between members: each
// side presents its certificate and checks the other's against the CA,
// and a dialing node checks that the certificate names the address it
// dialed (an IP SAN for an IP address).
func LoadTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("raft TLS: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("raft TLS: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("raft TLS: %s: no PEM certificate", caFile)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// tlsLayer is raft's stream layer over mutual TLS.
type tlsLayer struct {
	net.Listener
	cfg       *tls.Config
	advertise net.Addr
}

func newTLSLayer(addr string, cfg *tls.Config) (*tlsLayer, error) {
	adv, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	return &tlsLayer{Listener: ln, cfg: cfg, advertise: adv}, nil
}

func (t *tlsLayer) Addr() net.Addr { return t.advertise }

func (t *tlsLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(address), t.cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// IsLoopback reports whether addr (host:port) is on a loopback address
// only: localhost, 127.0.0.0/8, ::1, or a name resolving to those alone.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}

// errPlainRaft refuses unauthenticated Raft traffic off loopback.
var errPlainRaft = errors.New("raft traffic is unauthenticated TCP")
