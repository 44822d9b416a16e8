package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// exec runs a command in a running container as the kubelet does through the container
// runtime: in the container's mount, network and UTS namespaces, as its user, with its
// environment (what `kubectl exec` and CNPG's operator, which starts backups this way, need).
func (n *node) exec(w http.ResponseWriter, req *http.Request) {
	opts, err := remotecommand.NewOptions(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	e := execer{dir: n.dir, ns: req.PathValue("ns")}
	remotecommand.ServeExec(w, req, e, req.PathValue("pod"), req.PathValue("uid"),
		req.PathValue("container"), req.URL.Query()["command"], opts,
		4*time.Hour, 30*time.Second, remotecommand.SupportedStreamingProtocols)
}

type execer struct{ dir, ns string }

// ids reads a process's effective uid and gid from /proc.
func ids(pid string) (uid, gid string) {
	b, _ := os.ReadFile("/proc/" + pid + "/status")
	uid, gid = "0", "0"
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "Uid:" {
			uid = f[2]
		}
		if len(f) >= 3 && f[0] == "Gid:" {
			gid = f[2]
		}
	}
	return uid, gid
}

func (e execer) ExecInContainer(ctx context.Context, pod, _ string, container string, cmd []string,
	in io.Reader, out, errw io.WriteCloser, _ bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	b, err := os.ReadFile(filepath.Join(e.dir, "pods", e.ns, pod, "containers", container))
	if err != nil {
		return fmt.Errorf("container %q in pod %q is not running", container, pod)
	}
	pid := strings.TrimSpace(string(b))
	uid, gid := ids(pid)
	env, _ := os.ReadFile("/proc/" + pid + "/environ")
	args := append([]string{"-t", pid, "-m", "-n", "-u", "-S", uid, "-G", gid, "--wd=/", "--"}, cmd...)
	c := exec.CommandContext(ctx, "nsenter", args...)
	c.Env = strings.Split(strings.TrimRight(string(env), "\x00"), "\x00")
	if in != nil {
		c.Stdin = in
	}
	c.Stdout, c.Stderr = out, errw
	err = c.Run()
	if x, ok := err.(*exec.ExitError); ok {
		return utilexec.CodeExitError{Err: x, Code: x.ExitCode()}
	}
	return err
}
