package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// handlerBinary is ./handler as `make build` leaves it, refused unless it is the stripped build.
func handlerBinary(root string) (string, int64, error) {
	path := filepath.Join(root, "handler")
	fi, err := os.Stat(path)
	if err != nil {
		return "", 0, errors.New("./handler is missing: run `make build` first (make bench does)")
	}
	f, err := elf.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("./handler: %w", err)
	}
	defer f.Close()
	if f.Section(".symtab") != nil {
		return "", 0, errors.New("./handler has a symbol table: it is not `make build`'s stripped build")
	}
	return path, fi.Size(), nil
}

// buildBare builds the bare handler into dir the way infra/scripts/build.sh builds the product (static,
// -trimpath, stripped), so the two differ only in their code.
func buildBare(root, dir string) (string, error) {
	out := filepath.Join(dir, "bare")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./bench/bare")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the bare handler: %v\n%s", err, b)
	}
	return out, nil
}
