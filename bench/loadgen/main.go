// loadgen drives one HTTP endpoint with a fixed number of concurrent connections, either as
// fast as the server answers (closed loop, -rate 0) or at a fixed request rate (open loop), and
// prints what it measured as one JSON object. Standard library only: `make bench-gateway`
// builds it with the Go toolchain, no module download.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	URL         string  `json:"url"`
	Concurrency int     `json:"concurrency"`
	TargetRate  float64 `json:"target_rate"`
	Seconds     float64 `json:"seconds"`
	Requests    int64   `json:"requests"`
	Non2xx      int64   `json:"non_2xx"`
	Errors      int64   `json:"errors"`
	Rate        float64 `json:"requests_per_second"`
	P50         float64 `json:"p50_ms"`
	P90         float64 `json:"p90_ms"`
	P99         float64 `json:"p99_ms"`
	Max         float64 `json:"max_ms"`
}

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	url := flag.String("url", "", "URL to GET")
	concurrency := flag.Int("c", 16, "concurrent connections")
	duration := flag.Duration("d", 10*time.Second, "how long to run")
	warmup := flag.Duration("warmup", 2*time.Second, "run this long first without measuring")
	rate := flag.Float64("rate", 0, "requests per second in all (0: as fast as answered)")
	var hdrs headers
	flag.Var(&hdrs, "H", "header 'Name: value' (repeatable)")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "-url is required")
		os.Exit(2)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: *concurrency, MaxConnsPerHost: *concurrency}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	var measuring atomic.Bool
	var stop atomic.Bool
	var requests, non2xx, errors atomic.Int64
	latencies := make([][]float64, *concurrency)

	// Open loop: a ticker hands out request slots; workers take them.
	var slots chan struct{}
	if *rate > 0 {
		slots = make(chan struct{}, *concurrency*4)
		go func() {
			interval := time.Duration(float64(time.Second) / *rate)
			next := time.Now()
			for !stop.Load() {
				next = next.Add(interval)
				time.Sleep(time.Until(next))
				select {
				case slots <- struct{}{}:
				default: // all workers busy: the server is behind; the slot is lost and shows as a lower rate
				}
			}
			close(slots)
		}()
	}

	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for !stop.Load() {
				if slots != nil {
					if _, ok := <-slots; !ok {
						return
					}
				}
				request, _ := http.NewRequest(http.MethodGet, *url, nil)
				for _, h := range hdrs {
					name, value, _ := strings.Cut(h, ":")
					request.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
				}
				start := time.Now()
				response, err := client.Do(request)
				if err == nil {
					io.Copy(io.Discard, response.Body)
					response.Body.Close()
				}
				elapsed := float64(time.Since(start).Microseconds()) / 1000
				if !measuring.Load() {
					continue
				}
				requests.Add(1)
				if err != nil {
					errors.Add(1)
					continue
				}
				if response.StatusCode < 200 || response.StatusCode > 299 {
					non2xx.Add(1)
				}
				latencies[w] = append(latencies[w], elapsed)
			}
		}(w)
	}
	time.Sleep(*warmup)
	measuring.Store(true)
	began := time.Now()
	time.Sleep(*duration)
	measuring.Store(false)
	seconds := time.Since(began).Seconds()
	stop.Store(true)
	wg.Wait()

	var all []float64
	for _, l := range latencies {
		all = append(all, l...)
	}
	sort.Float64s(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return all[int(p*float64(len(all)-1))]
	}
	out := result{
		URL: *url, Concurrency: *concurrency, TargetRate: *rate, Seconds: seconds,
		Requests: requests.Load(), Non2xx: non2xx.Load(), Errors: errors.Load(),
		Rate: float64(requests.Load()) / seconds,
		P50:  pct(0.50), P90: pct(0.90), P99: pct(0.99), Max: pct(1),
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
