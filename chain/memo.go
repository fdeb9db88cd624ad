package chain

import (
	"errors"
	"sync"

	"github.com/vhdkit/vhdkit/vhd"
)

// memoResolver is the parent opener Validate gives vhd.CheckFile: for the
// duration of one validation it resolves each locator path of each child
// once (blktap's three locators hold the same path), and opens the paths it
// resolved without evaluating them again.
type memoResolver struct {
	r *Resolver

	mu       sync.Mutex
	resolved map[[2]string]memoResult // by child name and locator path
	real     map[string]bool          // paths Resolve returned in confined mode
}

type memoResult struct {
	path string
	err  error
}

func newMemoResolver(r *Resolver) *memoResolver {
	return &memoResolver{r: r, resolved: map[[2]string]memoResult{}, real: map[string]bool{}}
}

// Resolve implements vhd.ParentOpener.
func (m *memoResolver) Resolve(child *vhd.File, loc vhd.Locator) (string, error) {
	if loc.Err != nil || child.Name() == "" {
		return m.r.Resolve(child, loc)
	}
	key := [2]string{child.Name(), loc.Path}
	m.mu.Lock()
	res, ok := m.resolved[key]
	m.mu.Unlock()
	if !ok {
		res.path, res.err = m.r.Resolve(child, loc)
		m.mu.Lock()
		m.resolved[key] = res
		if res.err == nil && m.r.mode == Confined {
			m.real[res.path] = true
		}
		m.mu.Unlock()
	}
	if res.err != nil {
		// The same answer, for this slot.
		if le := (*LocatorError)(nil); errors.As(res.err, &le) {
			c := *le
			c.Slot, c.Code = loc.Slot, loc.Entry.Code
			return "", &c
		}
		return "", res.err
	}
	return res.path, nil
}

// Open implements vhd.ParentOpener.
func (m *memoResolver) Open(path string) (*vhd.File, error) {
	m.mu.Lock()
	checked := m.real[path]
	m.mu.Unlock()
	if checked {
		return m.r.openReal(path)
	}
	return m.r.Open(path)
}
