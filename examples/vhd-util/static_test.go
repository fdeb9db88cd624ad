package main

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readmeBuildCommand returns the build command the README documents: the
// first line of a shell block that runs "go build", without its comment.
func readmeBuildCommand(t *testing.T, readme string) []string {
	t.Helper()
	f, err := os.Open(readme)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if fields := strings.Fields(line); strings.Contains(line, "go build") && len(fields) > 0 {
			return fields
		}
	}
	t.Fatalf("%s documents no go build command", readme)
	return nil
}

// TestStaticBinaries runs the README's build command, with its output
// directory moved to a temporary one, and checks with debug/elf that every
// example program is statically linked: no interpreter (PT_INTERP), no
// shared library (DT_NEEDED), so a dom0 can take the binaries as they are.
func TestStaticBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every example program; skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("ELF binaries are checked on Linux")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmdline := readmeBuildCommand(t, filepath.Join(root, "README.md"))
	out := t.TempDir()
	var env, args []string
	for i := 0; i < len(cmdline); i++ {
		switch a := cmdline[i]; {
		case len(args) == 0 && a != "go" && strings.Contains(a, "="):
			env = append(env, a)
		case a == "-o" && i+1 < len(cmdline):
			args = append(args, a, out+string(filepath.Separator))
			i++
		default:
			args = append(args, a)
		}
	}
	if len(args) < 2 || args[0] != "go" || args[1] != "build" || !strings.Contains(strings.Join(args, " "), "-o") {
		t.Fatalf("README build command %q: want go build -o DIR/ PACKAGES", strings.Join(cmdline, " "))
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not found: %v", err)
	}
	build := exec.Command(goTool, args[1:]...)
	build.Dir = root
	build.Env = append(os.Environ(), env...)
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmdline, " "), err, b)
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if diff := cmp.Diff([]string{"demo", "vdi-transfer", "vhd-util"}, names); diff != "" {
		t.Errorf("programs built (-want +got)\n%s", diff)
	}
	for _, n := range names {
		f, err := elf.Open(filepath.Join(out, n))
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		var interp []string
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				interp = append(interp, "PT_INTERP")
			}
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			t.Errorf("%s: %v", n, err)
		}
		f.Close()
		if diff := cmp.Diff([]string(nil), append(interp, libs...)); diff != "" {
			t.Errorf("%s is not statically linked: (-want +got)\n%s", n, diff)
		}
	}
}
