// Command portlab rehearses ConfigMgr client communication port changes in a
// namespace-isolated lab on one Linux host. main is one call into package cli, where
// every command lives.
package main

import (
	"os"

	"github.com/portlab/portlab/cli"
)

func main() { os.Exit(cli.Main()) }
