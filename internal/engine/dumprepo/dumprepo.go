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
	// Dir holds the sets, one directory each.
	Dir string
	// RunDir holds the running backup's pid file and wrapper script.
	RunDir string
	// Keep is how many successful full sets to keep (0 keeps all); older
	// sets, and the differential and incremental ones that depend on them,
	// are removed after a successful full backup.
	Keep int
}

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
	st, err := h.Run(ctx, "backup info", fmt.Sprintf("if %s; then echo RUNNING; fi; for f in %s/*/manifest.json; do [ -f \"$f\" ] && cat \"$f\"; done; true",
		host.Alive(r.pidFile()), host.Quote(r.Dir)))
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
