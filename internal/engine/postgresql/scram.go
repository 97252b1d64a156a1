package postgresql

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // only to recognise md5 verifiers left by older servers
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/xdg-go/stringprep"
)

// scramIterations matches PostgreSQL's default scram_iterations.
const scramIterations = 4096

// maxScramIterations bounds the verifiers the provider checks (a PBKDF2
// of 100,000 rounds is tens of milliseconds).
const maxScramIterations = 100_000

// scramVerifier computes the SCRAM-SHA-256 secret PostgreSQL stores for a
// password, as libpq's PQencryptPasswordConn does. Sending the verifier
// instead of the password keeps the password out of the server's statement
// log, pg_stat_statements and any proxy in between.
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("cannot read random bytes: %w", err)
	}
	stored, server, err := scramKeys(password, salt, scramIterations)
	if err != nil {
		return "", err
	}
	b := base64.StdEncoding
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b.EncodeToString(salt), b.EncodeToString(stored), b.EncodeToString(server)), nil
}

func scramKeys(password string, salt []byte, iter int) (stored, server []byte, err error) {
	// Like PostgreSQL: SASLprep the password, or use it as is when it is not
	// a valid stringprep string.
	if p, err := stringprep.SASLprep.Prepare(password); err == nil {
		password = p
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, sha256.Size)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot derive the SCRAM key: %w", err)
	}
	mac := func(msg string) []byte {
		h := hmac.New(sha256.New, salted)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	ck := sha256.Sum256(mac("Client Key"))
	return ck[:], mac("Server Key"), nil
}

// passwordMatches reports whether a stored verifier (pg_authid.rolpassword)
// accepts password for role, without logging in.
func passwordMatches(verifier, role, password string) bool {
	if rest, ok := strings.CutPrefix(verifier, "md5"); ok {
		sum := md5.Sum([]byte(password + role)) //nolint:gosec // see import
		return subtle.ConstantTimeCompare([]byte(rest), []byte(hex.EncodeToString(sum[:]))) == 1
	}
	rest, ok := strings.CutPrefix(verifier, "SCRAM-SHA-256$")
	if !ok {
		return false
	}
	params, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return false
	}
	iterS, saltS, ok1 := strings.Cut(params, ":")
	storedS, _, ok2 := strings.Cut(keys, ":")
	iter, err := strconv.Atoi(iterS)
	if !ok1 || !ok2 || err != nil || iter < scramIterations || iter > maxScramIterations {
		// Not a verifier we would write: weaker than ours, or so costly
		// that checking it on every poll would pin a provider core (any
		// role may set its own verifier with 2^31 iterations). Drift: the
		// password is set again, with our count, without deriving this one.
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(saltS)
	want, err2 := base64.StdEncoding.DecodeString(storedS)
	if err1 != nil || err2 != nil {
		return false
	}
	got, _, err := scramKeys(password, salt, iter)
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}
