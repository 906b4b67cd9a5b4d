// sync-go: Go's goroutine runtime on the synchronisation and timer workloads W7, W7b, W7c, W10, W11, W12
// (docs/benchmarks.md, "Synchronisation and timers"); the Dtact side is benches/sync_bench.c.
//
// usage: sync-go WORKLOAD N WORKERS [reps=5] [mintime=0.25] [pairs=P] [tasks=T] [cap=C] [rounds=5] [seed=S]
//
//	[batches=5] [unit=1024] [factor=1000] [every=100]
//
//	W7   P pairs (default WORKERS) bounce a token N times over two unbuffered channels      ns/round-trip
//	W7b  the same over two channels of capacity 1                                           ns/round-trip
//	W7c  the same through two events (a chan struct{} of capacity 1, non-blocking set);
//	     the token travels in a shared word                                                 ns/round-trip
//	W10  T goroutines (default 4 x WORKERS) take one sync.Mutex N times in total around a
//	     plain increment; checks the counter                                                ns/lock-unlock
//	W11  one producer, one consumer, chan uint64 of capacity C (default 1024), N messages;
//	     the consumer checks order and sum                                                  ns/message
//	W12  N goroutines each time.Sleep a pseudo-random 1..100 ms (seed S), `rounds` rounds;
//	     lateness = wake time - deadline; prints p50_us, p99_us, max_us and cpu_s (getrusage
//	     user+sys over the rounds)
//	SKEW load balance under skew (benches/dtact_peer.c, docs/benchmarks.md): the root goroutine starts N
//	     goroutines in a fixed pseudo-random order (Fisher-Yates with splitmix64(seed + i)), every
//	     `every`-th of them (by shuffled index) spinning factor x unit dependent LCG steps, the others unit
//	     steps, and waits for all (WaitGroup); each times its own body. Per batch ratio = makespan /
//	     (sum of task times / WORKERS); one warm-up batch, then `batches`; each rep prints the median
//	     ratio (min, max) and the median makespan; runs with GODEBUG=asyncpreemptoff=1 (the program
//	     re-executes itself with it) and reads the clock with the runtime's nosplit nanotime around an
//	     inlined loop: a goroutine preempted inside its timed body would count the goroutines that ran
//	     meanwhile as its own work                                                      ratio
//
// GOMAXPROCS = WORKERS. A measurement (all but W12) is `batches` back-to-back runs of the workload timed
// together: one cold warm-up, a second unless the first took over 4 x mintime, then the batch count grows
// until a run lasts mintime; then `reps` timed runs, one output line each:
//
//	peer=go workload=W10 n=1000000 workers=2 rep=1 batches=1 ns_per_op=41.20 unit=ns/lock-unlock elapsed_s=0.0412 tasks=8
//
// Every result is validated; a wrong one prints CHECK FAILED on stderr and exits 1.
package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	_ "unsafe" // go:linkname
)

var (
	workload string
	n        int
	workers  int
	reps            = 5
	minTime         = 0.25
	pairs           = 0
	tasks           = 0
	capacity        = 1024
	rounds          = 5
	seed     uint64 = 42
	batches         = 5
	unit     uint64 = 1024
	factor   uint64 = 1000
	every    uint64 = 100
)

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "peer=go workload=%s n=%d CHECK FAILED: %s\n", workload, n, fmt.Sprintf(format, a...))
	os.Exit(1)
}

// ------------------------------------------------------------------ W7 family

// w7Chan: each pair has a request and a reply channel of capacity c (0: unbuffered); the initiator sends
// 2i+1, the responder checks it and answers 2i+2.
func w7Chan(m int, np int, c int) {
	var wg sync.WaitGroup
	var bad int64
	wg.Add(2 * np)
	for p := 0; p < np; p++ {
		req := make(chan uint64, c)
		rep := make(chan uint64, c)
		go func() {
			defer wg.Done()
			for i := 0; i < m; i++ {
				if v := <-req; v != uint64(2*i+1) {
					atomic.AddInt64(&bad, 1)
				}
				rep <- uint64(2*i + 2)
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < m; i++ {
				req <- uint64(2*i + 1)
				if v := <-rep; v != uint64(2*i+2) {
					atomic.AddInt64(&bad, 1)
				}
			}
		}()
	}
	wg.Wait()
	if bad != 0 {
		fail("%d bad tokens", bad)
	}
}

// event: an auto-reset event; set never blocks, wait consumes the signal.
type event chan struct{}

func (e event) set() {
	select {
	case e <- struct{}{}:
	default:
	}
}
func (e event) wait() { <-e }

func w7Event(m int, np int) {
	var wg sync.WaitGroup
	var bad int64
	wg.Add(2 * np)
	for p := 0; p < np; p++ {
		var tok uint64
		toA, toB := make(event, 1), make(event, 1)
		go func() { // responder
			defer wg.Done()
			for i := 0; i < m; i++ {
				toA.wait()
				for atomic.LoadUint64(&tok) < uint64(2*i+1) { // an event may carry an older signal
					toA.wait()
				}
				if atomic.LoadUint64(&tok) != uint64(2*i+1) {
					atomic.AddInt64(&bad, 1)
				}
				atomic.StoreUint64(&tok, uint64(2*i+2))
				toB.set()
			}
		}()
		go func() { // initiator
			defer wg.Done()
			for i := 0; i < m; i++ {
				atomic.StoreUint64(&tok, uint64(2*i+1))
				toA.set()
				toB.wait()
				for atomic.LoadUint64(&tok) < uint64(2*i+2) {
					toB.wait()
				}
				if atomic.LoadUint64(&tok) != uint64(2*i+2) {
					atomic.AddInt64(&bad, 1)
				}
			}
			if atomic.LoadUint64(&tok) != uint64(2*m) {
				atomic.AddInt64(&bad, 1)
			}
		}()
	}
	wg.Wait()
	if bad != 0 {
		fail("%d bad tokens", bad)
	}
}

// ------------------------------------------------------------------ W10 mutex

func w10(total int, nt int) {
	var mu sync.Mutex
	var counter int // plain: only the mutex protects it
	var wg sync.WaitGroup
	wg.Add(nt)
	for t := 0; t < nt; t++ {
		iters := total / nt
		if t < total%nt {
			iters++
		}
		go func(iters int) {
			defer wg.Done()
			for i := 0; i < iters; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}(iters)
	}
	wg.Wait()
	if counter != total {
		fail("counter %d != %d", counter, total)
	}
}

// ------------------------------------------------------------------ W11 channel

func w11(cnt int, c int) {
	ch := make(chan uint64, c)
	done := make(chan string, 1)
	go func() {
		for i := 0; i < cnt; i++ {
			ch <- uint64(i)
		}
	}()
	go func() {
		var sum uint64
		for i := 0; i < cnt; i++ {
			v := <-ch
			if v != uint64(i) {
				done <- fmt.Sprintf("message %d: got %d", i, v)
				return
			}
			sum += v
		}
		if want := uint64(cnt) * uint64(cnt-1) / 2; sum != want {
			done <- fmt.Sprintf("sum %d != %d", sum, want)
			return
		}
		done <- ""
	}()
	if msg := <-done; msg != "" {
		fail("%s", msg)
	}
}

// ------------------------------------------------------------------ W12 timers

// splitmix64: the same pseudo-random durations in every program of the comparison.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func sleepMs(round, i int) uint64 {
	return 1 + splitmix64(seed^(uint64(round)*uint64(n)+uint64(i)))%100
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)*1e-6
}

func w12(rep int) {
	late := make([]int64, n*rounds)
	t0, c0 := time.Now(), cpuSeconds()
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		wg.Add(n)
		for i := 0; i < n; i++ {
			go func(r, i int) {
				d := time.Duration(sleepMs(r, i)) * time.Millisecond
				deadline := time.Now().Add(d)
				time.Sleep(d)
				late[r*n+i] = int64(time.Since(deadline))
				wg.Done()
			}(r, i)
		}
		wg.Wait()
	}
	el, cpu := time.Since(t0).Seconds(), cpuSeconds()-c0
	sort.Slice(late, func(a, b int) bool { return late[a] < late[b] })
	if late[0] < 0 {
		fail("a sleep ended %d ns before its deadline", -late[0])
	}
	pct := func(q float64) float64 { return float64(late[int(q*float64(len(late)-1))]) / 1e3 }
	fmt.Printf("peer=go workload=W12 n=%d workers=%d rep=%d rounds=%d p50_us=%.1f p99_us=%.1f max_us=%.1f cpu_s=%.3f unit=us elapsed_s=%.4f\n",
		n, workers, rep, rounds, pct(0.5), pct(0.99), pct(1), cpu, el)
}

// ------------------------------------------------------------------ SKEW load balance under skew

// nanotime is the runtime's monotonic clock (time.Now's source). It is nosplit: unlike a call of
// time.Now or time.Since, calling it is not a preemption point, so a goroutine that sysmon asked to yield
// (it ran over 10 ms) is not descheduled between the end of its work and the clock read.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// skewSpin is small enough to be inlined: the timed body has no call, hence no preemption point.
func skewSpin(x uint64, iters uint64) uint64 {
	for k := uint64(0); k < iters; k++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

var (
	skewIters []uint64
	skewDur   []int64
	skewRes   []uint64
	skewSum   uint64
)

func skewSetup() int {
	perm := make([]uint64, n)
	for i := range perm {
		perm[i] = uint64(i)
	}
	for i := n - 1; i > 0; i-- {
		j := splitmix64(seed+uint64(i)) % uint64(i+1)
		perm[i], perm[j] = perm[j], perm[i]
	}
	skewIters = make([]uint64, n)
	skewDur = make([]int64, n)
	skewRes = make([]uint64, n)
	nlong := 0
	for i := range perm {
		if perm[i]%every == 0 {
			skewIters[i] = unit * factor
			nlong++
		} else {
			skewIters[i] = unit
		}
	}
	return nlong
}

func skewBatch() (float64, int64, int64) {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			s := nanotime()
			x := skewSpin(uint64(i)+1, skewIters[i])
			skewDur[i] = nanotime() - s
			skewRes[i] = x
			wg.Done()
		}(i)
	}
	wg.Wait()
	span := int64(time.Since(t0))
	var work int64
	var sum uint64
	for i := 0; i < n; i++ {
		work += skewDur[i]
		sum += skewRes[i]
	}
	if skewSum == 0 {
		skewSum = sum
	} else if sum != skewSum {
		fail("checksum %d != %d", sum, skewSum)
	}
	return float64(span) / (float64(work) / float64(workers)), span, work
}

func skew() {
	nlong := skewSetup()
	skewBatch()
	r := make([]float64, batches)
	s := make([]float64, batches)
	wk := make([]float64, batches)
	for rep := 1; rep <= reps; rep++ {
		for k := 0; k < batches; k++ {
			ratio, span, work := skewBatch()
			r[k], s[k], wk[k] = ratio, float64(span), float64(work)
		}
		sort.Float64s(r)
		sort.Float64s(s)
		sort.Float64s(wk)
		b := batches
		fmt.Printf("peer=go workload=SKEW n=%d workers=%d rep=%d batches=%d ratio=%.4f ratio_min=%.4f ratio_max=%.4f makespan_ns=%.0f work_ns=%.0f ns_per_op=%.2f unit=ratio long=%d factor=%d unit_iters=%d\n",
			n, workers, rep, b, r[b/2], r[0], r[b-1], s[b/2], wk[b/2], s[b/2]/float64(n), nlong, factor, unit)
	}
}

// ------------------------------------------------------------------ measurement

func timeBatches(batch func(), k int) float64 {
	t0 := time.Now()
	for i := 0; i < k; i++ {
		batch()
	}
	return time.Since(t0).Seconds()
}

func calibrate(batch func()) int {
	k := 1
	t := timeBatches(batch, k)
	if t < 4*minTime {
		t = timeBatches(batch, k)
	}
	for t < minTime {
		est := int(math.Ceil(float64(k) * 1.3 * minTime / math.Max(t, 1e-7)))
		if est < 2*k {
			est = 2 * k
		}
		k = est
		t = timeBatches(batch, k)
	}
	return k
}

func measure(batch func(), unit string, ops float64, extra string) {
	k := calibrate(batch)
	for r := 1; r <= reps; r++ {
		el := timeBatches(batch, k)
		fmt.Printf("peer=go workload=%s n=%d workers=%d rep=%d batches=%d ns_per_op=%.2f unit=%s elapsed_s=%.4f%s\n",
			workload, n, workers, r, k, el*1e9/(float64(k)*ops), unit, el, extra)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: sync-go W7|W7b|W7c|W10|W11|W12|SKEW N WORKERS [reps=5] [mintime=0.25] [pairs=P] [tasks=T] [cap=C] [rounds=5] [seed=S] [batches=5] [unit=1024] [factor=1000] [every=100]")
	os.Exit(2)
}

func atoi(s string) int {
	v, err := strconv.Atoi(s)
	if err != nil {
		usage()
	}
	return v
}

func main() {
	if len(os.Args) < 4 {
		usage()
	}
	workload, n, workers = os.Args[1], atoi(os.Args[2]), atoi(os.Args[3])
	for _, a := range os.Args[4:] {
		kv := strings.SplitN(a, "=", 2)
		if len(kv) != 2 {
			usage()
		}
		switch kv[0] {
		case "reps":
			reps = atoi(kv[1])
		case "mintime":
			f, err := strconv.ParseFloat(kv[1], 64)
			if err != nil {
				usage()
			}
			minTime = f
		case "pairs":
			pairs = atoi(kv[1])
		case "tasks":
			tasks = atoi(kv[1])
		case "cap":
			capacity = atoi(kv[1])
		case "rounds":
			rounds = atoi(kv[1])
		case "batches":
			batches = atoi(kv[1])
		case "unit":
			unit = uint64(atoi(kv[1]))
		case "factor":
			factor = uint64(atoi(kv[1]))
		case "every":
			every = uint64(atoi(kv[1]))
		case "seed":
			s, err := strconv.ParseUint(kv[1], 0, 64)
			if err != nil {
				usage()
			}
			seed = s
		default:
			usage()
		}
	}
	if n <= 0 || workers <= 0 || rounds <= 0 || capacity < 0 || batches <= 0 || unit == 0 || factor == 0 || every == 0 {
		usage()
	}
	if pairs <= 0 {
		pairs = workers
	}
	if tasks <= 0 {
		tasks = 4 * workers
	}
	if workload == "SKEW" && !strings.Contains(os.Getenv("GODEBUG"), "asyncpreemptoff=1") {
		exe, err := os.Executable()
		if err != nil {
			fail("os.Executable: %v", err)
		}
		env := append(os.Environ(), "GODEBUG=asyncpreemptoff=1")
		fail("exec: %v", syscall.Exec(exe, os.Args, env))
	}
	runtime.GOMAXPROCS(workers)
	switch workload {
	case "W7":
		measure(func() { w7Chan(n, pairs, 0) }, "ns/round-trip", float64(n*pairs), fmt.Sprintf(" pairs=%d via=chan0", pairs))
	case "W7b":
		measure(func() { w7Chan(n, pairs, 1) }, "ns/round-trip", float64(n*pairs), fmt.Sprintf(" pairs=%d via=chan1", pairs))
	case "W7c":
		measure(func() { w7Event(n, pairs) }, "ns/round-trip", float64(n*pairs), fmt.Sprintf(" pairs=%d via=event", pairs))
	case "W10":
		measure(func() { w10(n, tasks) }, "ns/lock-unlock", float64(n), fmt.Sprintf(" tasks=%d", tasks))
	case "W11":
		measure(func() { w11(n, capacity) }, "ns/message", float64(n), fmt.Sprintf(" cap=%d", capacity))
	case "W12":
		for r := 1; r <= reps; r++ {
			w12(r)
		}
	case "SKEW":
		skew()
	default:
		fmt.Fprintf(os.Stderr, "sync-go: unknown workload %s\n", workload)
		os.Exit(2)
	}
}
