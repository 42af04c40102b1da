// Command dockerfile-lint checks deploy/Dockerfile offline with BuildKit's own Dockerfile frontend:
// it parses the file and runs the checks of `docker build --check` for each VARIANT, answering
// every base image with a stub config (nothing is pulled; CopyIgnoredFile, which needs the build
// context, is covered by test/unit/deploy/dockerfile.test.ts). It fails on any warning or error,
// and on a base image that is not pinned by digest once the build arguments are expanded.
//
//	dockerfile-lint <path to deploy/Dockerfile>
package main

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerui"
	digest "github.com/opencontainers/go-digest"
)

// offlineResolver records each base image the frontend asks for and answers with a minimal config.
type offlineResolver struct{ refs []string }

func (r *offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	if !slices.Contains(r.refs, ref) {
		r.refs = append(r.refs, ref)
	}
	return ref, "", []byte(`{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/bin:/usr/bin:/bin"]}}`), nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerfile-lint <Dockerfile>")
		os.Exit(2)
	}
	path := os.Args[1]
	dt, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	failures := 0
	for _, variant := range []string{"default", "softhsm"} {
		r := &offlineResolver{}
		res, err := dockerfile2llb.DockerfileLint(context.Background(), dt, dockerfile2llb.ConvertOpt{
			Config:       dockerui.Config{BuildArgs: map[string]string{"VARIANT": variant}},
			MetaResolver: r,
			SourceMap:    sourceMap(path, dt),
		})
		if err != nil {
			fmt.Fprintf(os.Stderr, "FAIL %s (VARIANT=%s): %v\n", path, variant, err)
			failures++
			continue
		}
		bad := 0
		if res.Error != nil {
			fmt.Fprintf(os.Stderr, "FAIL %s (VARIANT=%s): %s\n", path, variant, res.Error.Message)
			bad++
		}
		for _, w := range res.Warnings {
			fmt.Fprintf(os.Stderr, "FAIL %s (VARIANT=%s): %s: %s\n", path, variant, w.RuleName, w.Detail)
			bad++
		}
		for _, ref := range r.refs {
			named, err := reference.ParseNormalizedNamed(ref)
			if _, pinned := named.(reference.Canonical); err != nil || !pinned {
				fmt.Fprintf(os.Stderr, "FAIL %s (VARIANT=%s): base image %s is not pinned by digest\n", path, variant, ref)
				bad++
			}
		}
		if len(r.refs) == 0 {
			fmt.Fprintf(os.Stderr, "FAIL %s (VARIANT=%s): no base image resolved\n", path, variant)
			bad++
		}
		if bad == 0 {
			fmt.Printf("ok   %s (VARIANT=%s): BuildKit parse and checks clean; %d base image(s), all pinned by digest\n", path, variant, len(r.refs))
		}
		failures += bad
	}
	if failures > 0 {
		os.Exit(1)
	}
}

// sourceMap is what the lint results refer their locations to.
func sourceMap(path string, dt []byte) *llb.SourceMap {
	sm := llb.NewSourceMap(nil, path, "Dockerfile", dt)
	def, err := llb.Scratch().Marshal(context.Background())
	if err != nil {
		panic(err)
	}
	sm.Definition = def
	return sm
}
