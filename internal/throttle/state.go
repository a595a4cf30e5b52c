package throttle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// stateFile keeps the pauses of a process where its successor finds them. A worker that received a 429
// and was waiting it out in-process, or had not yet secured its message, can be killed at any moment (on
// the host's shutdown, at functionTimeout, by the operating system): the message is abandoned and
// delivered again at once, and a new process that knew nothing of the 429 would call Graph again before
// its Retry-After. With the state file the new process starts paused until the Retry-After has passed.
//
// The file holds one time per class, written whole to a temporary file and renamed over the old one, so a
// reader sees the old state or the new, never half of one. Several processes may share it (instances of the
// same app on one machine): each writes the latest of what it read at its start and what it learned since,
// and reads the file only when it starts. A pause is only ever lengthened within a process, so
// the worst a race between processes can do is lose a pause that the other process still holds in memory.
type stateFile struct {
	path    string
	onError func(error)

	mu      sync.Mutex
	written [2]time.Time // per class: what this process read or wrote last
}

// stateJSON is the file's content: the end of the pause of each class, RFC 3339 (absent: none).
type stateJSON struct {
	Write time.Time `json:"writesPausedUntil,omitzero"`
	Read  time.Time `json:"readsPausedUntil,omitzero"`
}

// load reads the pauses, per class; a missing file is no pause, and an unreadable one is reported and
// ignored.
func (f *stateFile) load() [2]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return f.written
	}
	var st stateJSON
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		f.report(fmt.Errorf("reading the throttling state %s: %w", f.path, err))
		return f.written
	}
	f.written[Write], f.written[Read] = st.Write, st.Read
	return f.written
}

// save records that class is paused until until, keeping the other class's pause. Calls may arrive out
// of order: an end no later than the one written is not written again.
func (f *stateFile) save(class Class, until time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !until.After(f.written[class]) {
		return
	}
	f.written[class] = until
	b, err := json.Marshal(stateJSON{Write: f.written[Write], Read: f.written[Read]})
	if err == nil {
		err = writeReplacing(f.path, b)
	}
	if err != nil {
		f.report(fmt.Errorf("keeping the throttling state in %s: %w", f.path, err))
	}
}

func (f *stateFile) report(err error) {
	if f.onError != nil {
		f.onError(err)
	}
}

// writeReplacing writes b to a temporary file beside path and renames it over path.
func writeReplacing(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
