package e2e

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// codecs are the record batch compressions: name (as kcat and
// kafka-python spell it), the codec bits of a batch's attributes, and
// franz-go's codec.
var codecs = []struct {
	name string
	attr int8
	kgo  kgo.CompressionCodec
}{
	{"none", 0, kgo.NoCompression()},
	{"gzip", 1, kgo.GzipCompression()},
	{"snappy", 2, kgo.SnappyCompression()},
	{"lz4", 3, kgo.Lz4Compression()},
	{"zstd", 4, kgo.ZstdCompression()},
}

// filler makes values long and repetitive, so every codec shrinks a batch
// and clients do not fall back to sending it uncompressed.
var filler = strings.Repeat("freshmart-", 8)

// batchCodecs fetches every partition of topic from offset 0 with a raw
// Fetch request and counts the stored record batches by compression codec:
// it shows whether a client really sent compressed batches and the broker
// kept them as sent.
func batchCodecs(t *testing.T, b *broker, topic string, partitions int32) map[int8]int {
	t.Helper()
	// Fetch v12 is the newest that names topics rather than using ids.
	cl := b.client(kgo.MaxVersions(kversion.V2_8_0()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 100
	req.MaxBytes = 64 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	for p := int32(0); p < partitions; p++ {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.FetchOffset = 0
		rp.PartitionMaxBytes = 16 << 20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("raw fetch of %s: %v", topic, err)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("raw fetch of %s: error code %d", topic, resp.ErrorCode)
	}
	counts := map[int8]int{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("raw fetch of %s[%d]: error code %d", topic, rp.Partition, rp.ErrorCode)
			}
			raw := rp.RecordBatches
			for len(raw) >= 12 {
				n := 12 + int(int32(binary.BigEndian.Uint32(raw[8:12])))
				if n > len(raw) {
					break // a partial batch at the end of a fetch is allowed
				}
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(raw[:n]); err != nil {
					t.Fatalf("%s[%d]: stored batch does not parse: %v", topic, rp.Partition, err)
				}
				counts[int8(rb.Attributes&0x07)]++
				raw = raw[n:]
			}
		}
	}
	return counts
}

// produceGo writes n records with franz-go (acks=all, idempotent) with the
// given codec and returns their values.
func produceGo(t *testing.T, b *broker, topic string, codec kgo.CompressionCodec, prefix string, n int) []string {
	t.Helper()
	cl := b.client(kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(codec))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, n)
	values := make([]string, n)
	for i := range recs {
		values[i] = fmt.Sprintf("%s-%d-%s", prefix, i, filler)
		recs[i] = &kgo.Record{Key: []byte("go-" + strconv.Itoa(i%7)), Value: []byte(values[i])}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("franz-go produce to %s: %v", topic, err)
	}
	return values
}

// produceLarge writes n uncompressed records of about 1 KiB with franz-go,
// so that fetches return megabytes per partition (the broker sends large
// record sets differently from small ones), and returns their values.
func produceLarge(t *testing.T, b *broker, topic string, n int) []string {
	t.Helper()
	cl := b.client(kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, n)
	values := make([]string, n)
	for i := range recs {
		v := fmt.Sprintf("large-%d-", i)
		values[i] = v + strings.Repeat(strconv.Itoa(i%10), 1000-len(v))
		recs[i] = &kgo.Record{Key: []byte("large-" + strconv.Itoa(i%5)), Value: []byte(values[i])}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("franz-go produce to %s: %v", topic, err)
	}
	return values
}

// largeRecords is how many 1 KiB records the large-fetch cases read: about
// 2 MiB per partition of a 2-partition topic.
const largeRecords = 4000

// sameValues fails unless got holds exactly the values of want, each once.
func sameValues(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if slices.Equal(g, w) {
		return
	}
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	for _, v := range want {
		if seen[v] == 0 {
			t.Fatalf("%s: %q missing (%d values read, %d expected)", what, v, len(got), len(want))
		}
		seen[v]--
	}
	for v, n := range seen {
		if n != 0 {
			t.Fatalf("%s: %q read %d times too many or not expected (%d values read, %d expected)", what, v, n, len(got), len(want))
		}
	}
	t.Fatalf("%s: %d values read, %d expected", what, len(got), len(want))
}

func values(rs []consumed) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.value
	}
	return out
}

// jsonRecord is one record as the Python and node scripts print it.
type jsonRecord struct {
	P int32  `json:"p"`
	O int64  `json:"o"`
	K string `json:"k"`
	V string `json:"v"`
}

func parseJSONRecords(t *testing.T, out string) []string {
	t.Helper()
	var vals []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r jsonRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("client printed a line that is not a JSON record: %q: %v", line, err)
		}
		vals = append(vals, r.V)
	}
	return vals
}

// TestKcat produces and consumes with kcat (librdkafka) with every
// compression codec: kcat's batches are stored compressed as sent, franz-go
// reads what kcat wrote, kcat reads what franz-go wrote with the same codec,
// and kcat -L lists the topics.
func TestKcat(t *testing.T) {
	kcat := requireTool(t, "kcat", "the Debian package kcat")
	b := startBroker(t, t.TempDir())
	const n = 200
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "kcat-" + c.name
			b.createTopic(topic, 3, nil)
			var in strings.Builder
			var want []string
			for i := 0; i < n; i++ {
				v := fmt.Sprintf("kcat-%s-%d-%s", c.name, i, filler)
				want = append(want, v)
				fmt.Fprintf(&in, "key-%d:%s\n", i%10, v)
			}
			runCmd(t, 60*time.Second, strings.NewReader(in.String()), kcat,
				"-b", b.addr, "-P", "-t", topic, "-K", ":", "-z", c.name,
				"-X", "acks=all", "-X", "linger.ms=20")

			counts := batchCodecs(t, b, topic, 3)
			for attr, k := range counts {
				if attr != c.attr {
					t.Errorf("kcat -z %s: %d stored batches have codec %d, want all %d (%v)", c.name, k, attr, c.attr, counts)
				}
			}
			if counts[c.attr] == 0 {
				t.Fatalf("kcat -z %s: no batch stored with codec %d (%v)", c.name, c.attr, counts)
			}

			sameValues(t, "franz-go reading kcat's records", values(consumeAll(t, b, topic)), want)

			want = append(want, produceGo(t, b, topic, c.kgo, "go-"+c.name, n)...)
			out := runCmd(t, 60*time.Second, nil, kcat,
				"-b", b.addr, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%p\t%o\t%k\t%s\n")
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.SplitN(line, "\t", 4)
				if len(f) != 4 {
					t.Fatalf("kcat -C printed %q, want partition, offset, key and value", line)
				}
				got = append(got, f[3])
			}
			sameValues(t, "kcat reading kcat's and franz-go's records", got, want)
		})
	}

	t.Run("large-fetch", func(t *testing.T) {
		const topic = "kcat-large"
		b.createTopic(topic, 2, nil)
		want := produceLarge(t, b, topic, largeRecords)
		out := runCmd(t, 120*time.Second, nil, kcat,
			"-b", b.addr, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n")
		sameValues(t, "kcat reading megabytes per partition", strings.Split(strings.TrimSuffix(out, "\n"), "\n"), want)
	})

	out := runCmd(t, 30*time.Second, nil, kcat, "-b", b.addr, "-L", "-J")
	var md struct {
		Topics []struct {
			Topic      string            `json:"topic"`
			Partitions []json.RawMessage `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		t.Fatalf("kcat -L -J: %v\n%s", err, out)
	}
	parts := map[string]int{}
	for _, tp := range md.Topics {
		parts[tp.Topic] = len(tp.Partitions)
	}
	for topic, want := range map[string]int{"pos-sales": 12, "daily-sales-report": 1, "kcat-zstd": 3} {
		if parts[topic] != want {
			t.Errorf("kcat -L: topic %s has %d partitions, want %d (all: %v)", topic, parts[topic], want, parts)
		}
	}
}

// pythonWithKafka finds a python3 that can import kafka-python.
func pythonWithKafka(t *testing.T) string {
	t.Helper()
	path, tried := pythonWith("kafka")
	if path == "" {
		t.Fatalf("kafka-python is required for this test: no python3 on PATH can import kafka (tried %v; install the Debian package python3-kafka)", tried)
	}
	return path
}

// pythonWith returns the first of Debian's python3 and the one on PATH that
// can import module ("" if none can), and the interpreters it tried. The
// python3 on PATH may be another installation without Debian's modules.
func pythonWith(module string) (path string, tried []string) {
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		tried = append(tried, path)
		if exec.Command(path, "-c", "import "+module).Run() == nil {
			return path, tried
		}
	}
	return "", tried
}

// TestKafkaPython produces and consumes with kafka-python 2.0, plain and
// gzip: it reads back its own records and franz-go's, and franz-go reads
// kafka-python's.
func TestKafkaPython(t *testing.T) {
	py := pythonWithKafka(t)
	script, err := filepath.Abs("testdata/kafka_python_roundtrip.py")
	if err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, t.TempDir())
	const n = 150
	for _, c := range codecs[:2] { // kafka-python needs extra modules for the others
		t.Run(c.name, func(t *testing.T) {
			topic := "python-" + c.name
			b.createTopic(topic, 4, nil)
			want := produceGo(t, b, topic, c.kgo, "go-"+c.name, n)
			prefix := "python-" + c.name
			out := runCmd(t, 120*time.Second, nil, py, script,
				"--bootstrap", b.addr, "--topic", topic, "--count", strconv.Itoa(n),
				"--prefix", prefix, "--compression", c.name)
			for i := 0; i < n; i++ {
				want = append(want, fmt.Sprintf("%s-%d", prefix, i))
			}
			sameValues(t, "kafka-python reading its and franz-go's records", parseJSONRecords(t, out), want)
			sameValues(t, "franz-go reading kafka-python's and its records", values(consumeAll(t, b, topic)), want)
			if c.attr != 0 {
				if counts := batchCodecs(t, b, topic, 4); counts[c.attr] == 0 {
					t.Fatalf("no batch stored with codec %d: %v", c.attr, counts)
				}
			}
		})
	}
	t.Run("large-fetch", func(t *testing.T) {
		const topic = "python-large"
		b.createTopic(topic, 2, nil)
		want := produceLarge(t, b, topic, largeRecords)
		out := runCmd(t, 120*time.Second, nil, py, script, "--bootstrap", b.addr, "--topic", topic, "--count", "0")
		sameValues(t, "kafka-python reading megabytes per partition", parseJSONRecords(t, out), want)
	})
}

// TestKafkaJS produces with kafkajs's idempotent producer (plain and gzip)
// and consumes in a kafkajs consumer group; kafkajs speaks only the
// non-flexible protocol versions.
func TestKafkaJS(t *testing.T) {
	node := requireTool(t, "node", "node 20 and npm")
	npm := requireTool(t, "npm", "node 20 and npm")
	// Install kafkajs from the committed lock file into a scratch copy, so
	// the source tree stays clean.
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "roundtrip.js"} {
		data, err := os.ReadFile(filepath.Join("testdata", "kafkajs", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	install := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}

	b := startBroker(t, t.TempDir())
	const n = 150
	for _, c := range codecs[:2] { // kafkajs has gzip built in; the others need plugins
		t.Run(c.name, func(t *testing.T) {
			topic := "kafkajs-" + c.name
			b.createTopic(topic, 4, nil)
			want := produceGo(t, b, topic, c.kgo, "go-"+c.name, n)
			prefix := "kafkajs-" + c.name
			out := runCmd(t, 120*time.Second, nil, node, filepath.Join(dir, "roundtrip.js"),
				b.addr, topic, strconv.Itoa(n), prefix, c.name, "e2e-kafkajs-"+c.name)
			for i := 0; i < n; i++ {
				want = append(want, fmt.Sprintf("%s-%d", prefix, i))
			}
			sameValues(t, "kafkajs reading its and franz-go's records", parseJSONRecords(t, out), want)
			sameValues(t, "franz-go reading kafkajs's and its records", values(consumeAll(t, b, topic)), want)
			if c.attr != 0 {
				if counts := batchCodecs(t, b, topic, 4); counts[c.attr] == 0 {
					t.Fatalf("no batch stored with codec %d: %v", c.attr, counts)
				}
			}
		})
	}
	t.Run("large-fetch", func(t *testing.T) {
		const topic = "kafkajs-large"
		b.createTopic(topic, 2, nil)
		want := produceLarge(t, b, topic, largeRecords)
		out := runCmd(t, 120*time.Second, nil, node, filepath.Join(dir, "roundtrip.js"),
			b.addr, topic, "0", "unused", "none", "e2e-kafkajs-large")
		sameValues(t, "kafkajs reading megabytes per partition", parseJSONRecords(t, out), want)
	})
}
