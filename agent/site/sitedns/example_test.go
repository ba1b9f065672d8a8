package sitedns_test

import (
	"fmt"

	"github.com/portlab/portlab/agent/site/sitedns"
)

func ExampleSRVName() {
	name, _ := sitedns.SRVName("PS1", "corp.example")
	fmt.Println(name)
	// An HTTPS-capable MP is published at the site's HTTPS port, others at HTTP.
	fmt.Println(sitedns.SRVPort(sitedns.MP{HTTPPort: 80, HTTPSPort: 443, HTTPS: true}))
	fmt.Println(sitedns.SRVPort(sitedns.MP{HTTPPort: 80, HTTPSPort: 443}))
	// Output:
	// _mssms_mp_ps1._tcp.corp.example.
	// 443
	// 80
}
