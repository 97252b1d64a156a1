package postgresql

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Administrator connections are kept between reconciles. Every reconcile
// of a User or Database used to open its own: a TLS handshake and a SCRAM
// exchange (4,096 PBKDF2 rounds on each side) for a few catalog queries,
// most of the CPU of creating 1,000 Users on a small machine. An idle
// connection is reused only while it is young, healthy, outside a
// transaction and still on a primary (a failover turns the old primary
// into a replica under it).
const (
	maxIdlePerKey = 8
	idleFor       = 2 * time.Minute
)

type idleConn struct {
	c  *pgx.Conn
	at time.Time
}

type idlePool struct {
	mu      sync.Mutex
	m       map[string][]idleConn
	janitor sync.Once
}

var idle = &idlePool{m: map[string][]idleConn{}}

// connKey identifies what a connection is: where, as whom, with which
// trust, to which database. Hashed so no credential sits in a map key.
func connKey(cfg *pgx.ConnConfig) string {
	h := sha256.New()
	h.Write([]byte(cfg.ConnString()))
	h.Write([]byte{0})
	h.Write([]byte(cfg.User + "\x00" + cfg.Password + "\x00" + cfg.Database + "\x00"))
	if cfg.TLSConfig != nil {
		h.Write([]byte(cfg.TLSConfig.ServerName))
		if cfg.TLSConfig.RootCAs != nil {
			for _, s := range cfg.TLSConfig.RootCAs.Subjects() { //nolint:staticcheck // Identity of the pool only.
				h.Write(s)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// get returns a healthy idle connection for key, or nil.
func (p *idlePool) get(ctx context.Context, key string) *pgx.Conn {
	for {
		p.mu.Lock()
		list := p.m[key]
		if len(list) == 0 {
			p.mu.Unlock()
			return nil
		}
		ic := list[len(list)-1]
		p.m[key] = list[:len(list)-1]
		p.mu.Unlock()
		if time.Since(ic.at) < idleFor && !ic.c.IsClosed() {
			var standby bool
			if err := ic.c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); err == nil && !standby {
				return ic.c
			}
		}
		_ = ic.c.Close(ctx)
	}
}

// put keeps c for reuse, or closes it when it cannot be reused.
func (p *idlePool) put(ctx context.Context, key string, c *pgx.Conn) {
	if c.IsClosed() || c.PgConn().TxStatus() != 'I' {
		_ = c.Close(ctx)
		return
	}
	p.janitor.Do(func() { go p.sweep() })
	p.mu.Lock()
	if len(p.m[key]) < maxIdlePerKey {
		p.m[key] = append(p.m[key], idleConn{c: c, at: time.Now()})
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		_ = c.Close(ctx)
	}
}

// drain closes the idle connections of key.
func (p *idlePool) drain(ctx context.Context, key string) {
	p.mu.Lock()
	list := p.m[key]
	delete(p.m, key)
	p.mu.Unlock()
	for _, ic := range list {
		_ = ic.c.Close(ctx)
	}
}

// sweep closes connections idle too long, so a server no longer reconciled
// (its database deleted) is not held on to.
func (p *idlePool) sweep() {
	for range time.Tick(idleFor / 2) {
		var old []*pgx.Conn
		p.mu.Lock()
		for k, list := range p.m {
			keep := list[:0]
			for _, ic := range list {
				if time.Since(ic.at) < idleFor {
					keep = append(keep, ic)
				} else {
					old = append(old, ic.c)
				}
			}
			if len(keep) == 0 {
				delete(p.m, k)
			} else {
				p.m[k] = keep
			}
		}
		p.mu.Unlock()
		for _, c := range old {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.Close(ctx)
			cancel()
		}
	}
}
