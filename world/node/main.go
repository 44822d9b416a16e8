// Command kubelet-api serves the part of the kubelet's API that kube-apiserver calls on a node
// (container logs and port-forward), for the sandbox's node agent, which runs Pods as host
// processes. The node agent writes what this server reads under -node-dir:
//
//	pods/<ns>/<pod>/address                   the IP the Pod's ports listen on
//	logs/<ns>/<pod>/<container>.log           "<RFC3339Nano> <line>" per line
//	logs/<ns>/<pod>/<container>.done          present once the container has exited
//	logs/<ns>/<pod>/<container>.previous.log  the previous instance's log, if it restarted
//
// Port-forward is the kubelet's own SPDY/WebSocket handler (k8s.io/cri-streaming); the
// apiserver authenticates with its kubelet client certificate, checked against -client-ca.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/portforward"
)

type node struct{ dir string }

func main() {
	addr := flag.String("listen", "", "address:port to serve on")
	dir := flag.String("node-dir", "", "the node agent's directory")
	cert := flag.String("tls-cert", "", "serving certificate")
	key := flag.String("tls-key", "", "serving key")
	ca := flag.String("client-ca", "", "CA of the clients (the apiserver's kubelet client certificate)")
	flag.Parse()
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(*ca)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		log.Fatalf("kubelet-api: cannot read client CA %s: %v", *ca, err)
	}
	n := &node{dir: *dir}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", n.logs)
	mux.HandleFunc("/portForward/{ns}/{pod}", n.portForward)
	mux.HandleFunc("/portForward/{ns}/{pod}/{uid}", n.portForward)
	srv := &http.Server{
		Addr:    *addr,
		Handler: mux,
		TLSConfig: &tls.Config{
			ClientCAs:  pool,
			ClientAuth: tls.RequireAndVerifyClientCert,
			MinVersion: tls.VersionTLS12,
		},
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("kubelet-api: serving on %s", *addr)
	log.Fatal(srv.ListenAndServeTLS(*cert, *key))
}

// portForward relays each forwarded stream to the Pod's address.
func (n *node) portForward(w http.ResponseWriter, req *http.Request) {
	ns, pod := req.PathValue("ns"), req.PathValue("pod")
	opts, err := portforward.NewV4Options(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fw := forwarder{ip: n.address(ns, pod)}
	portforward.ServePortForward(w, req, fw, pod, req.PathValue("uid"), opts,
		4*time.Hour, 30*time.Second, portforward.SupportedProtocols)
}

func (n *node) address(ns, pod string) string {
	b, err := os.ReadFile(filepath.Join(n.dir, "pods", ns, pod, "address"))
	if err != nil {
		return "127.0.0.1"
	}
	return strings.TrimSpace(string(b))
}

type forwarder struct{ ip string }

func (f forwarder) PortForward(ctx context.Context, _ string, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(f.ip, fmt.Sprint(port)))
	if err != nil {
		return fmt.Errorf("failed to connect to %s:%d: %w", f.ip, port, err)
	}
	defer conn.Close()
	// Client to pod in the background; once the pod's side ends, the stream is closed (the
	// deferred Close), which the client reads as the end of the data.
	go func() { io.Copy(conn, stream); conn.(*net.TCPConn).CloseWrite() }()
	_, err = io.Copy(stream, conn)
	return err
}
