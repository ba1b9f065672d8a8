// Command portlab rehearses ConfigMgr client communication port changes.
package main

import (
	"os"

	"github.com/portlab/portlab/cli"
)

func main() { os.Exit(cli.Main()) }
