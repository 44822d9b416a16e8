package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// logOptions are the kubelet's containerLogs query parameters.
type logOptions struct {
	follow, timestamps, previous bool
	tail                         int64 // -1: all
	since                        time.Time
	limit                        int64 // 0: no limit
}

func parseLogOptions(r *http.Request) (logOptions, error) {
	q := r.URL.Query()
	o := logOptions{tail: -1}
	o.follow = q.Get("follow") == "true"
	o.timestamps = q.Get("timestamps") == "true"
	o.previous = q.Get("previous") == "true"
	var err error
	if v := q.Get("tailLines"); v != "" {
		if o.tail, err = strconv.ParseInt(v, 10, 64); err != nil {
			return o, err
		}
	}
	if v := q.Get("limitBytes"); v != "" {
		if o.limit, err = strconv.ParseInt(v, 10, 64); err != nil {
			return o, err
		}
	}
	if v := q.Get("sinceSeconds"); v != "" {
		s, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return o, err
		}
		o.since = time.Now().Add(-time.Duration(s) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		if o.since, err = time.Parse(time.RFC3339, v); err != nil {
			return o, err
		}
	}
	return o, nil
}

// logs serves one container's log as the kubelet does.
func (n *node) logs(w http.ResponseWriter, r *http.Request) {
	o, err := parseLogOptions(r)
	if err != nil {
		http.Error(w, "bad log options: "+err.Error(), http.StatusBadRequest)
		return
	}
	base := filepath.Join(n.dir, "logs", r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container"))
	path := base + ".log"
	if o.previous {
		path = base + ".previous.log"
	}
	f, err := os.Open(path)
	if err != nil {
		http.Error(w, "container \""+r.PathValue("container")+"\" in pod \""+r.PathValue("pod")+
			"\" has no log (it has not started, or there is no previous instance)", http.StatusNotFound)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain")
	out := &limited{w: w, left: o.limit}
	flush := func() {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
	}
	rd := bufio.NewReader(f)
	var lines []string
	// The lines already there, after since and tail.
	for {
		line, err := rd.ReadString('\n')
		if strings.HasSuffix(line, "\n") {
			if keep(line, o.since) {
				lines = append(lines, line)
			}
		} else if line != "" {
			// A partial last line: read again below once complete.
			rd = bufio.NewReader(io.MultiReader(strings.NewReader(line), f))
			break
		}
		if err != nil {
			break
		}
	}
	if o.tail >= 0 && int64(len(lines)) > o.tail {
		lines = lines[int64(len(lines))-o.tail:]
	}
	for _, l := range lines {
		if !out.write(render(l, o.timestamps)) {
			return
		}
	}
	flush()
	if !o.follow || o.previous {
		return
	}
	var partial string
	for {
		chunk, err := rd.ReadString('\n')
		partial += chunk
		if strings.HasSuffix(partial, "\n") {
			if keep(partial, o.since) && !out.write(render(partial, o.timestamps)) {
				return
			}
			partial = ""
			flush()
			continue
		}
		if err == nil {
			continue
		}
		if _, done := os.Stat(base + ".done"); done == nil {
			// Exited: one more read for what was written before the marker.
			rest, _ := io.ReadAll(rd)
			for _, l := range strings.SplitAfter(partial+string(rest), "\n") {
				if l != "" && keep(l, o.since) {
					out.write(render(l, o.timestamps))
				}
			}
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// keep says whether a "<timestamp> <text>" line is not older than since.
func keep(line string, since time.Time) bool {
	if since.IsZero() {
		return true
	}
	ts, _, _ := strings.Cut(line, " ")
	t, err := time.Parse(time.RFC3339Nano, ts)
	return err != nil || !t.Before(since)
}

// render drops the timestamp unless asked for.
func render(line string, timestamps bool) string {
	if timestamps {
		return line
	}
	_, text, found := strings.Cut(line, " ")
	if !found {
		return line
	}
	return text
}

type limited struct {
	w    io.Writer
	left int64
}

// write writes s (cut at the byte limit); false once the limit is reached or the client left.
func (l *limited) write(s string) bool {
	if l.left > 0 && int64(len(s)) >= l.left {
		io.WriteString(l.w, s[:l.left])
		return false
	}
	if l.left > 0 {
		l.left -= int64(len(s))
	}
	_, err := io.WriteString(l.w, s)
	return err == nil
}
