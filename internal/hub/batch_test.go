package hub

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestPublishBatch: a batch reaches each client once per message, in order, with Coalesce
// replacing a key queued earlier in the same batch; NextBatch hands over the whole queue.
func TestPublishBatch(t *testing.T) {
	h, _ := newHub(t, Config{Policy: Coalesce})
	a := h.Subscribe(ClientConfig{Topics: []string{"x", "y"}})
	b := h.Subscribe(ClientConfig{Topics: []string{"y"}})
	defer a.Close()
	defer b.Close()
	h.PublishBatch([]Message{
		{Topics: []string{"x", "y"}, Key: "k1", Data: []byte("1")},
		{Topics: []string{"y"}, Key: "k2", Data: []byte("2")},
		{Topics: []string{"x"}, Key: "k1", Data: []byte("3")},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := func(c *Client) string {
		ms, err := c.NextBatch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		for _, m := range ms {
			out = append(out, m.Data...)
		}
		return string(out)
	}
	if s := got(a); s != "23" {
		t.Fatalf("a got %q, want 23 (k1's first value replaced by its second)", s)
	}
	if s := got(b); s != "12" {
		t.Fatalf("b got %q, want 12", s)
	}
}

// TestServeCombine: what is queued when the writer is free goes out as one frame made by
// Combine, and a Combine error that is a CloseError closes with its code and reason.
func TestServeCombine(t *testing.T) {
	h, _ := newHub(t, Config{Policy: Coalesce})
	ts := serveHub(t, h, ServeOptions{
		First: [][]byte{[]byte("snapshot")},
		Combine: func(data [][]byte) ([]byte, error) {
			if string(data[0]) == "fail" {
				return nil, websocket.CloseError{Code: websocket.StatusTryAgainLater, Reason: "too far behind"}
			}
			return bytes.Join(data, []byte("+")), nil
		},
	}, func(*Client) {
		h.PublishBatch([]Message{
			{Topics: []string{"S001"}, Key: "a", Data: []byte("a1")},
			{Topics: []string{"S001"}, Key: "b", Data: []byte("b1")},
			{Topics: []string{"S001"}, Key: "a", Data: []byte("a2")},
		})
	}, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, s := ts.dial(t, "S001", 0, nil)
	got, err := readN(ctx, conn, 2)
	if err != nil || got[0] != "snapshot" || got[1] != "b1+a2" {
		t.Fatalf("got %q, %v; want the snapshot then one combined frame b1+a2", got, err)
	}
	h.Publish(Message{Topics: []string{"S001"}, Key: "c", Data: []byte("fail")})
	_, _, err = conn.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusTryAgainLater || ce.Reason != "too far behind" {
		t.Fatalf("after a failing Combine the peer read %v", err)
	}
	if err := s.result(t, 10*time.Second); websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
		t.Fatalf("Serve returned %v", err)
	}
}
