package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tagseg/tagseg"
)

// testCA makes a CA and, for each name, a certificate for testIP
// signed by it, as PEM files in dir: ca.pem, NAME.pem, NAME-key.pem.
func testCA(t *testing.T, dir string, names ...string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tagseg test CA " + dir},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER)
	for i, name := range names {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		c := &x509.Certificate{
			SerialNumber: big.NewInt(int64(2 + i)), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: []net.IP{net.ParseIP(testIP)},
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, c, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
		kb, _ := x509.MarshalECPrivateKey(key)
		writePEM(t, filepath.Join(dir, name+"-key.pem"), "EC PRIVATE KEY", kb)
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Raft over mutual TLS: members with certificates of the cluster's CA
// replicate; a node whose certificate another CA signed cannot join (the
// handshake fails, so the leader never reaches it and the join times out
// with no vote counted).
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	good, other := filepath.Join(dir, "good"), filepath.Join(dir, "other")
	os.MkdirAll(good, 0o755)
	os.MkdirAll(other, 0o755)
	testCA(t, good, "n1", "n2")
	testCA(t, other, "n3")
	load := func(d, name string) func(*Config) {
		return func(cfg *Config) {
			tc, err := LoadTLS(filepath.Join(d, name+".pem"), filepath.Join(d, name+"-key.pem"), filepath.Join(d, "ca.pem"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.TLS = tc
		}
	}
	c := &testCluster{t: t, dir: t.TempDir(), nodes: map[string]*testNode{}}
	defer c.stopAll()
	c.tune = load(good, "n1")
	c.start("n1", "")
	c.tune = load(good, "n2")
	c.start("n2", "http://"+c.nodes["n1"].httpAddr)
	st, body, idx := c.write("n2", testCmd{Op: "create", UUID: "cus_tls"})
	if st != http.StatusOK {
		t.Fatalf("write over TLS: %d %s", st, body)
	}
	if got := c.tags("n1", "cus_tls", idx); got == nil || len(got) != 0 {
		t.Fatalf("n1 after the write: %v", got)
	}
	if got := c.tags("n2", "cus_tls", idx); got == nil || len(got) != 0 {
		t.Fatalf("n2 after the write: %v", got)
	}

	// n3's certificate is of another CA: the leader adds it to the
	// configuration but cannot replicate to it; it never applies.
	c.tune = func(cfg *Config) {
		load(other, "n3")(cfg)
		cfg.ApplyTimeout = time.Second
	}
	n3 := c.start("n3", "http://"+c.nodes["n1"].httpAddr)
	time.Sleep(time.Second)
	if a := n3.n.Applied(); a >= idx {
		t.Fatalf("a node of another CA applied up to %d (the write was %d)", a, idx)
	}
}

// A Raft address off loopback is refused without TLS unless Insecure.
func TestRefusesPlainRaftOffLoopback(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{ID: "n1", RaftAddr: "192.0.2.1:9000", Index: filepath.Join(dir, "x.db"), Apply: testApply,
		IndexOptions: &tagseg.Options{NoSync: true}, Logger: hclog.NewNullLogger()}
	_, err := Start(context.Background(), cfg)
	if !errors.Is(err, errPlainRaft) || !strings.Contains(err.Error(), "-insecure") {
		t.Fatalf("Start off loopback without TLS = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused node created its index: %v", err)
	}
	// With -insecure it goes on (and fails to listen on an address that
	// is not this machine's: no traffic is sent).
	cfg.Insecure = true
	if _, err := Start(context.Background(), cfg); err == nil || errors.Is(err, errPlainRaft) {
		t.Fatalf("Start -insecure = %v, want a listen error", err)
	}
	for _, a := range []string{"127.0.0.1:1", "localhost:1", "[::1]:1"} {
		if !IsLoopback(a) {
			t.Errorf("IsLoopback(%s) = false", a)
		}
	}
	for _, a := range []string{"0.0.0.0:1", ":1", "192.0.2.1:1"} {
		if IsLoopback(a) {
			t.Errorf("IsLoopback(%s) = true", a)
		}
	}
}
