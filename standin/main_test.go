package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestHelpListsEveryCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"help"}, &out, &errOut); code != 0 {
		t.Fatalf("help: exit %d; stderr:\n%s", code, errOut.String())
	}
	for _, c := range append(commands, command{name: "help"}) {
		if !strings.Contains(out.String(), "\n  "+c.name+" ") {
			t.Errorf("help does not list %q:\n%s", c.name, out.String())
		}
	}
}

func TestUsageErrors(t *testing.T) {
	// (A bad flag is reported by the flag package itself, on the process's stderr.)
	for _, args := range [][]string{nil, {"nope"}, {"graph", "-nope"}, {"identity", "stray"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
		if errOut.Len() == 0 && (len(args) != 2 || args[1] != "-nope") {
			t.Errorf("%q: nothing on stderr", args)
		}
	}
}
