package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/smtp"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/services/reorder"
)

// Sender delivers the composed vendor emails of reorder.emails, each once: by SMTP to SMTP
// (net/smtp, no authentication; STARTTLS when the server offers it) or, without SMTP, as the
// file <SpoolDir>/<po number>.eml (written to a temporary name, synced, renamed, the directory
// synced). Each email is locked (FOR UPDATE SKIP LOCKED, so replicas never send one together),
// delivered, and marked sent in one transaction. A crash between the delivery and the mark
// delivers it again: the spool file is rewritten under the same name with the same bytes, and
// an SMTP server receives a second copy with the same Message-ID (at least once, the receiver
// can drop the copy). A failed delivery is counted in attempts with its error and retried on
// the next pass.
type Sender struct {
	// Pool is the service's database.
	Pool *pgxpool.Pool
	// SMTP is the server (smtp://host:port); nil spools to SpoolDir.
	SMTP *url.URL
	// SpoolDir is where .eml files go without SMTP; created when missing.
	SpoolDir string
	// Clock stamps sent_at.
	Clock clock.Clock
	// Log receives failures.
	Log *slog.Logger
	// Every is how often Run looks for unsent emails.
	Every time.Duration

	sent *prometheus.CounterVec
}

// Run sends pending emails every s.Every until ctx ends.
func (s *Sender) Run(ctx context.Context) error {
	t := time.NewTicker(s.Every)
	defer t.Stop()
	for {
		if _, err := s.Once(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("sending vendor emails", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Once sends every email not yet sent, oldest first, and returns how many it sent.
func (s *Sender) Once(ctx context.Context) (int, error) {
	n := 0
	for {
		sent, err := s.next(ctx)
		if err != nil || !sent {
			return n, err
		}
		n++
	}
}

// next sends one unsent email; false when there is none (or the one it tried failed).
func (s *Sender) next(ctx context.Context) (bool, error) {
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	var po, rcpt string
	var msg []byte
	err = tx.QueryRow(ctx, `SELECT po_number, recipient, message FROM reorder.emails WHERE sent_at IS NULL
		ORDER BY attempts, queued_at, po_number LIMIT 1 FOR UPDATE SKIP LOCKED`).Scan(&po, &rcpt, &msg)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	via := "spool"
	if s.SMTP != nil {
		via = "smtp"
		err = s.smtp(rcpt, msg)
	} else {
		err = s.spool(po, msg)
	}
	if err != nil {
		s.count(via, "failed")
		if _, uerr := tx.Exec(ctx, `UPDATE reorder.emails SET attempts = attempts + 1, last_error = $2 WHERE po_number = $1`, po, err.Error()); uerr != nil {
			return false, uerr
		}
		if cerr := tx.Commit(ctx); cerr != nil {
			return false, cerr
		}
		return false, fmt.Errorf("email of %s: %w", po, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE reorder.emails SET sent_at = $2, sent_via = $3, attempts = attempts + 1, last_error = NULL
		WHERE po_number = $1`, po, s.Clock.Now(), via); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, err
	}
	s.count(via, "sent")
	return true, nil
}

func (s *Sender) count(via, outcome string) {
	if s.sent != nil {
		s.sent.WithLabelValues(via, outcome).Inc()
	}
}

// smtp delivers msg to rcpt through the server.
func (s *Sender) smtp(rcpt string, msg []byte) error {
	from := "purchasing@" + reorder.MailDomain
	if err := smtp.SendMail(s.SMTP.Host, nil, from, []string{rcpt}, msg); err != nil {
		return fmt.Errorf("smtp %s: %w", s.SMTP.Host, err)
	}
	return nil
}

// spool writes msg as <SpoolDir>/<po>.eml, durably: a temporary file, synced, renamed over the
// name, then the directory synced.
func (s *Sender) spool(po string, msg []byte) error {
	if err := os.MkdirAll(s.SpoolDir, 0o755); err != nil {
		return err
	}
	name := filepath.Join(s.SpoolDir, po+".eml")
	tmp, err := os.CreateTemp(s.SpoolDir, "."+po+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if _, err := tmp.Write(msg); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	d, err := os.Open(s.SpoolDir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
