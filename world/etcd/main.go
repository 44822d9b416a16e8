// Command etcd is etcd's own server main: `go install go.etcd.io/etcd/server/v3` is refused
// because that module replaces its siblings with ../ paths; a dependency's replaces are ignored.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
