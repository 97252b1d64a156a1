// Package dumprepo keeps the backups an engine's own tool takes (mongodump,
// SQL Server's BACKUP run by sqlcmd) in a directory on the node: one
// directory per backup set, named by its label, with a manifest a wrapper
// script writes when the tool exits. Reading the directory back gives what
// pgBackRest's info gives for PostgreSQL: the sets with their times, size,
// annotation and outcome, and whether one is running. The manifest is the
// only record, so a set whose tool failed is still reported (as an error)
// and a crash of the provider loses nothing.
package dumprepo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/quorumdb/quorum/internal/engine/host"
	"github.com/quorumdb/quorum/internal/engine/node"
)

// Repo is a cluster's repository on one node.
type Repo struct {
	// Dir holds the sets, one directory each; with a Store, only the set
	// being taken, until it is uploaded.
	Dir string
	// Store, when set, is where the sets live: an S3-compatible bucket
	// every member reaches and that outlives them.
	Store *Store
	// RunDir holds the running backup's pid file and wrapper script.
	RunDir string
	// Keep is how many successful full sets to keep (0 keeps all); older
	// sets, and the differential and incremental ones that depend on them,
	// are removed after a successful full backup.
	Keep int
}

// Store is an S3-compatible bucket holding a repository under a prefix,
// reached with curl's AWS Signature Version 4 (curl 7.75 and later).
type Store struct {
	// Endpoint is host:port of the HTTPS endpoint (path-style URLs).
	Endpoint string
	Bucket   string
	// Prefix of the repository's keys, without leading or trailing slash.
	Prefix string
	Region string
	// Curlrc is a root-only curl configuration file holding
	// user = "<access key>:<secret>", so no secret is on a command line.
	Curlrc string
	// CA is the store's CA certificate file, or "" for the system's.
	CA string
}

// shell is the functions a script needs to reach the store: s3 (curl,
// signed), s3keys PREFIX (every key under it, paged) and S3URL.
func (st *Store) shell() string {
	ca := ""
	if st.CA != "" {
		ca = " --cacert " + host.Quote(st.CA)
	}
	return fmt.Sprintf(`S3URL=%s
s3() { curl -sSf --retry 2 -K %s%s --aws-sigv4 %s "$@"; }
# Uploads sign the file's hash (curl would sign an empty body's).
s3put() { s3 -H "x-amz-content-sha256: $(sha256sum "$1" | cut -d' ' -f1)" -T "$1" "$2"; }
s3enc() { printf %%s "$1" | sed 's#%%#%%25#g; s#/#%%2F#g; s#+#%%2B#g; s#=#%%3D#g; s#:#%%3A#g; s# #%%20#g'; }
s3keys() {
  after=""
  while :; do
    # curl signs the query as written: sorted and encoded.
    q="list-type=2&prefix=$(s3enc "$1")"; [ -z "$after" ] || q="$q&start-after=$(s3enc "$after")"
    out=$(s3 "$S3URL?$q") || return 1
    keys=$(printf '%%s' "$out" | grep -o '<Key>[^<]*</Key>' | sed 's#</\{0,1\}Key>##g' || true)
    [ -z "$keys" ] || printf '%%s\n' "$keys"
    case "$out" in *"<IsTruncated>true</IsTruncated>"*) after=$(printf '%%s\n' "$keys" | tail -n 1) ;; *) return 0 ;; esac
  done
}
`, host.Quote("https://"+st.Endpoint+"/"+st.Bucket), host.Quote(st.Curlrc), ca, host.Quote("aws:amz:"+st.Region+":s3"))
}

// key is the object key of a file of a set.
func (st *Store) key(label, file string) string { return st.Prefix + "/" + label + "/" + file }

// letters are the type suffixes of labels, as pgBackRest writes them.
var letters = map[string]string{"full": "F", "diff": "D", "incr": "I"}

// Label names a set by its start time and type: 20261122-020000F.
func Label(t time.Time, typ string) string {
	return t.UTC().Format("20060102-150405") + letters[typ]
}

var safe = regexp.MustCompile(`^[A-Za-z0-9/_.:-]+$`)

func (r Repo) pidFile() string { return path.Join(r.RunDir, "backup.pid") }

// Script is the wrapper that takes one set with dump (a shell command that
// writes into "$SET") and records its manifest.
func (r Repo) Script(label, typ, annotation, dump string) (string, error) {
	if _, ok := letters[typ]; !ok {
		return "", fmt.Errorf("backup type %q: use full, diff or incr", typ)
	}
	if !safe.MatchString(annotation) {
		return "", fmt.Errorf("backup annotation %q holds characters other than letters, digits and /_.:-", annotation)
	}
	set := path.Join(r.Dir, label)
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/sh\n# Written by Quorum: takes backup set %s, then records its manifest.\n", label)
	fmt.Fprintf(&b, "SET=%s\nexport SET\nmkdir -p \"$SET\"\nstart=$(date +%%s)\n", host.Quote(set))
	fmt.Fprintf(&b, "( %s ) > \"$SET/backup.log\" 2>&1\nrc=$?\nstop=$(date +%%s)\nsize=$(du -sb \"$SET\" | cut -f1)\n", dump)
	fmt.Fprintf(&b, "printf '{\"label\":\"%s\",\"type\":\"%s\",\"annotation\":\"%s\",\"start\":%%s,\"stop\":%%s,\"size\":%%s,\"exit\":%%s}\\n' \"$start\" \"$stop\" \"$size\" \"$rc\" > \"$SET/manifest.json.tmp\"\n", label, typ, annotation)
	if st := r.Store; st != nil {
		// Upload the set, its manifest last (a set without one is not
		// listed), then drop the local copy: the store is the repository.
		b.WriteString(st.shell())
		fmt.Fprintf(&b, "for f in \"$SET\"/*; do n=$(basename \"$f\"); [ \"$n\" = manifest.json.tmp ] && continue; s3put \"$f\" \"$S3URL/%s/$n\" >/dev/null || up=failed; done\n", st.Prefix+"/"+label)
		b.WriteString("if [ -n \"${up:-}\" ]; then sed 's/\"exit\":[0-9]*/\"exit\":97/' \"$SET/manifest.json.tmp\" > \"$SET/manifest.json\"; rc=97; else mv \"$SET/manifest.json.tmp\" \"$SET/manifest.json\"; fi\n")
		fmt.Fprintf(&b, "s3put \"$SET/manifest.json\" \"$S3URL/%s\" >/dev/null && [ \"$rc\" = 0 ] && rm -rf \"$SET\"\n", st.key(label, "manifest.json"))
		if r.Keep > 0 && typ == "full" {
			fmt.Fprintf(&b, `if [ "$rc" = 0 ]; then
  fulls=$(for k in $(s3keys %[1]s/ | grep '/manifest.json$'); do s3 "$S3URL/$k" | grep -q '"type":"full".*"exit":0' && basename "$(dirname "$k")"; done | sort)
  keep=$(printf '%%s
' "$fulls" | tail -n %[2]d | head -n 1)
  if [ -n "$keep" ]; then for k in $(s3keys %[1]s/); do n=${k#%[1]s/}; n=${n%%%%/*}; if [ "$n" \< "$keep" ]; then s3 -X DELETE "$S3URL/$k" >/dev/null; fi; done; fi
fi
`, st.Prefix, r.Keep)
		}
		fmt.Fprintf(&b, "rm -f %s\n", host.Quote(r.pidFile()))
		return b.String(), nil
	}
	b.WriteString("mv \"$SET/manifest.json.tmp\" \"$SET/manifest.json\"\n")
	if r.Keep > 0 && typ == "full" {
		// Sets sort by label (time); keep the newest Keep successful fulls
		// and everything after the oldest of them.
		fmt.Fprintf(&b, "if [ \"$rc\" = 0 ]; then\n  oldest=$(grep -l '\"type\":\"full\".*\"exit\":0' %s/*/manifest.json 2>/dev/null | sort | tail -n %d | head -n 1)\n", host.Quote(r.Dir), r.Keep)
		fmt.Fprintf(&b, "  if [ -n \"$oldest\" ]; then keep=$(basename \"$(dirname \"$oldest\")\"); for d in %s/*/; do n=$(basename \"$d\"); if [ \"$n\" \\< \"$keep\" ]; then rm -rf \"$d\"; fi; done; fi\nfi\n", host.Quote(r.Dir))
	}
	fmt.Fprintf(&b, "rm -f %s\n", host.Quote(r.pidFile()))
	return b.String(), nil
}

// Start writes the wrapper and runs it in the background, refusing to start
// a second backup while one runs.
func Start(ctx context.Context, h host.Host, r Repo, label, typ, annotation, dump string) error {
	script, err := r.Script(label, typ, annotation, dump)
	if err != nil {
		return err
	}
	f := path.Join(r.RunDir, "backup.sh")
	if _, err := h.Run(ctx, "prepare backup directories", fmt.Sprintf("mkdir -p %s %s && chmod 700 %s", host.Quote(r.Dir), host.Quote(r.RunDir), host.Quote(r.RunDir))); err != nil {
		return err
	}
	if _, err := h.WriteFile(ctx, f, []byte(script), 0o700, "root:root"); err != nil {
		return err
	}
	_, err = h.Run(ctx, "start "+typ+" backup", fmt.Sprintf("if %s; then echo 'a backup is already running' >&2; exit 1; fi; nohup sh %s > /dev/null 2>&1 < /dev/null & echo $! > %s",
		host.Alive(r.pidFile()), host.Quote(f), host.Quote(r.pidFile())))
	return err
}

// Read lists the repository from the node.
func Read(ctx context.Context, h host.Host, r Repo) (node.RepoInfo, error) {
	cmd := fmt.Sprintf("if %s; then echo RUNNING; fi; for f in %s/*/manifest.json; do [ -f \"$f\" ] && cat \"$f\"; done; true",
		host.Alive(r.pidFile()), host.Quote(r.Dir))
	if st := r.Store; st != nil {
		// A listing that fails is an error (no credentials, no store); a
		// manifest gone between the listing and its read is a set that
		// retention has just removed.
		cmd = st.shell() + fmt.Sprintf("set -e\nkeys=$(s3keys %s/)\nif %s; then echo RUNNING; fi\nfor k in $(printf '%%s\\n' \"$keys\" | grep '/manifest.json$' || true); do s3 \"$S3URL/$k\" || true; echo; done",
			st.Prefix, host.Alive(r.pidFile()))
	}
	st, err := h.Run(ctx, "backup info", cmd)
	if err != nil {
		return node.RepoInfo{}, err
	}
	return Parse(st.Stdout)
}

// Parse decodes Read's output: RUNNING when a backup runs, then one
// manifest per line.
func Parse(out string) (node.RepoInfo, error) {
	info := node.RepoInfo{Status: "ok"}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			continue
		case line == "RUNNING":
			info.Running = true
			continue
		}
		var m struct {
			Label      string `json:"label"`
			Type       string `json:"type"`
			Annotation string `json:"annotation"`
			Start      int64  `json:"start"`
			Stop       int64  `json:"stop"`
			Size       int64  `json:"size"`
			Exit       int    `json:"exit"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return node.RepoInfo{}, fmt.Errorf("cannot decode a backup manifest %q: %w", line, err)
		}
		info.Sets = append(info.Sets, node.BackupSet{
			Label: m.Label, Type: m.Type, Annotation: m.Annotation, SizeBytes: m.Size, Error: m.Exit != 0,
			Started: time.Unix(m.Start, 0).UTC(), Finished: time.Unix(m.Stop, 0).UTC(),
		})
	}
	sort.Slice(info.Sets, func(i, j int) bool { return info.Sets[i].Label < info.Sets[j].Label })
	return info, sc.Err()
}

// Fetch is a shell command that makes the set named by the shell word
// label available under dir (downloading it from the store), printing
// nothing; with no store the set is already there.
func (r Repo) Fetch(label string) string {
	st := r.Store
	if st == nil {
		return "true"
	}
	return st.shell() + fmt.Sprintf(`set -e; mkdir -p %[1]s/%[2]s
for k in $(s3keys %[3]s/%[2]s/); do s3 -o %[1]s/%[2]s/"$(basename "$k")" "$S3URL/$k"; done`, host.Quote(r.Dir), label, st.Prefix)
}

// Newest is a shell expression printing the label of the newest
// successful set, in the store or in Dir.
func (r Repo) Newest() string {
	st := r.Store
	if st == nil {
		return Latest(r.Dir)
	}
	return "$(" + st.shell() + fmt.Sprintf(`for k in $(s3keys %s/ | grep '/manifest.json$'); do s3 "$S3URL/$k" | grep -q '"exit":0' && basename "$(dirname "$k")"; done | sort | tail -n 1)`, st.Prefix)
}

// SetToRestore is a shell word naming the set a restore reads from dir:
// the one named, or the newest successful one.
func SetToRestore(dir, named string) string {
	if named != "" {
		return host.Quote(named)
	}
	return Latest(dir)
}

// Latest is a shell expression printing the label of the newest successful
// set in dir, for restores that name none.
func Latest(dir string) string {
	return fmt.Sprintf("$(grep -l '\"exit\":0' %s/*/manifest.json 2>/dev/null | sort | tail -n 1 | xargs -r dirname | xargs -r basename)", host.Quote(dir))
}
