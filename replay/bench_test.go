package replay

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchEpisodes makes 1000 episodes of 1000 steps (1M transitions) with
// CartPole-sized observations (4) and one action value.
func benchEpisodes() []*Episode {
	rng := rand.New(rand.NewPCG(1, 1))
	eps := make([]*Episode, 1000)
	for i := range eps {
		eps[i] = randomEpisode(rng, "bench", 1000, 4, 1, 0)
	}
	return eps
}

// oneHotEpisodes makes 1000 episodes of 100 steps (100k transitions) with
// gridworld-like observations: 204 values, a few of them 1, the rest 0.
func oneHotEpisodes() []*Episode {
	rng := rand.New(rand.NewPCG(1, 1))
	eps := make([]*Episode, 1000)
	for i := range eps {
		ep := randomEpisode(rng, "bench", 100, 204, 1, 0)
		for j := range ep.Observations {
			ep.Observations[j] = 0
			if rng.IntN(20) == 0 {
				ep.Observations[j] = 1
			}
		}
		eps[i] = ep
	}
	return eps
}

// BenchmarkOpen loads a file; MB/s is the file's size over the load time.
func BenchmarkOpen(b *testing.B) {
	for _, bc := range []struct {
		name     string
		episodes func() []*Episode
		compress bool
	}{
		{"dense4-1M/raw", benchEpisodes, false},
		{"dense4-1M/deflate", benchEpisodes, true},
		{"onehot204-100k/raw", oneHotEpisodes, false},
		{"onehot204-100k/deflate", oneHotEpisodes, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			eps := bc.episodes()
			path := filepath.Join(b.TempDir(), "bench.evds")
			w, err := Create(path, &WriteOptions{SyncEvery: 1 << 30, Compress: bc.compress})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for _, ep := range eps {
				n += ep.Len()
				if err := w.Write(ep); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			eps = nil
			st, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(st.Size())
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				ds, err := Open(path, Options{})
				if err != nil || ds.Transitions() != n {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "transitions/s")
			b.ReportMetric(float64(st.Size())/float64(n), "file-bytes/transition")
		})
	}
}

// BenchmarkWrite writes the same 1M transitions (one fsync at Close).
func BenchmarkWrite(b *testing.B) {
	eps := benchEpisodes()
	dir := b.TempDir()
	var size int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		path := filepath.Join(dir, "w"+string(rune('a'+i%26))+".evds")
		os.Remove(path)
		w, err := Create(path, &WriteOptions{SyncEvery: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		for _, ep := range eps {
			if err := w.Write(ep); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		if size == 0 {
			st, _ := os.Stat(path)
			size = st.Size()
			b.SetBytes(size)
		}
	}
}

// BenchmarkSample fills a DT batch (B=64, K=20) from 1M transitions.
func BenchmarkSample(b *testing.B) {
	eps := benchEpisodes()
	s, err := NewSampler(eps)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	batch := NewBatch(64, 20, 4, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := s.Sample(rng, batch); err != nil {
			b.Fatal(err)
		}
	}
}
