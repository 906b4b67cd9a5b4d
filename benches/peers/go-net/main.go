// io-go: Go's goroutine-per-connection servers for the I/O workloads W13-W15 (docs/benchmarks.md), driven by
// benches/loadgen/loadgen.c.
//
//	io-go echo|idle|http PORT WORKERS
//
// GOMAXPROCS = WORKERS. echo and idle are the same handler: one goroutine per accepted connection reads up to
// 1 KiB into its own buffer and writes it back (an idle connection's goroutine sits in that Read). http is
// net/http's server (goroutine per connection, keep-alive by default) with one handler that answers every
// request with the 13-byte body "Hello, world!" and an explicit Content-Length. Prints "ready" on stdout once
// listening on 127.0.0.1:PORT. Go 1.19 raises RLIMIT_NOFILE's soft limit to the hard limit by itself.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
)

func serveEcho(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 1024)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

var body = []byte("Hello, world!")

func hello(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", "13")
	w.Write(body)
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: io-go echo|idle|http PORT WORKERS")
		os.Exit(2)
	}
	mode := os.Args[1]
	workers, err := strconv.Atoi(os.Args[3])
	if err != nil || workers < 1 {
		fmt.Fprintln(os.Stderr, "io-go: bad WORKERS")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(workers)
	ln, err := net.Listen("tcp4", "127.0.0.1:"+os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "io-go:", err)
		os.Exit(1)
	}
	switch mode {
	case "echo", "idle":
		fmt.Println("ready")
		for {
			c, err := ln.Accept()
			if err != nil {
				fmt.Fprintln(os.Stderr, "io-go: accept:", err)
				continue
			}
			go serveEcho(c)
		}
	case "http":
		fmt.Println("ready")
		srv := &http.Server{Handler: http.HandlerFunc(hello)}
		err = srv.Serve(ln)
		fmt.Fprintln(os.Stderr, "io-go:", err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "io-go: unknown mode", mode)
		os.Exit(2)
	}
}
