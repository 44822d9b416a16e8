// Command kubelet-api serves the part of the kubelet's API that kube-apiserver calls on a node
// (container logs and port-forward), for the sandbox's node agent, which runs Pods as host
// processes. The node agent writes what this server reads under -node-dir:
//
//	pods/<ns>/<pod>/address                   the IP the Pod's ports listen on
//	pods/<ns>/<pod>/netns                     the pid holding the Pod's network namespace
//	pods/<ns>/<pod>/containers/<name>         the pid of a running container (for exec)
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
	"runtime"
	"strings"
	"syscall"
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
	mux.HandleFunc("/exec/{ns}/{pod}/{container}", n.exec)
	mux.HandleFunc("/exec/{ns}/{pod}/{uid}/{container}", n.exec)
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
	fw := forwarder{ip: n.address(ns, pod), netns: n.netns(ns, pod)}
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

// netns is the pid holding the Pod's network namespace, or "" for a Pod whose server runs on
// the host at its address (the simulated operator's instances).
func (n *node) netns(ns, pod string) string {
	b, err := os.ReadFile(filepath.Join(n.dir, "pods", ns, pod, "netns"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// The main goroutine keeps the main thread to itself, so dialInPod's goroutines never run on
// it: a goroutine that entered a Pod's network namespace stays locked to its thread, and Go
// retires that thread when the goroutine ends — but it cannot retire the main thread, which
// would stay in the Pod's namespace for good. /proc/PID/ns/net is the main thread's, so this
// process would then count as inside that Pod, and the Pod's end (which kills everything in
// its namespace) would kill the kubelet API.
func init() {
	runtime.LockOSThread()
}

type forwarder struct{ ip, netns string }

// dialInPod connects to localhost:port inside the network namespace of process pid, as the
// kubelet's port-forward does through the container runtime (so a server listening on the
// Pod's loopback only is reachable, as on a real node).
func dialInPod(ctx context.Context, pid string, port int32) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// This thread's namespace changes for good: it stays locked, so Go retires it when
		// the goroutine ends.
		runtime.LockOSThread()
		f, err := os.Open("/proc/" + pid + "/ns/net")
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer f.Close()
		if _, _, e := syscall.RawSyscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
			ch <- result{nil, fmt.Errorf("setns: %w", e)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", fmt.Sprint(port)))
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func (f forwarder) PortForward(ctx context.Context, _ string, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	var conn net.Conn
	var err error
	if f.netns != "" {
		conn, err = dialInPod(ctx, f.netns, port)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", net.JoinHostPort(f.ip, fmt.Sprint(port)))
	}
	if err != nil {
		return fmt.Errorf("failed to connect to localhost:%d inside the pod: %w", port, err)
	}
	defer conn.Close()
	// Client to pod in the background; once the pod's side ends, the stream is closed (the
	// deferred Close), which the client reads as the end of the data.
	go func() { io.Copy(conn, stream); conn.(*net.TCPConn).CloseWrite() }()
	_, err = io.Copy(stream, conn)
	return err
}
