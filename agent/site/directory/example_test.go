package directory_test

import (
	"fmt"

	"github.com/portlab/portlab/agent/site/directory"
)

func ExampleDomainDN() {
	dn, _ := directory.DomainDN("corp.example")
	fmt.Println(dn)
	fmt.Println(directory.SystemManagementDN(dn))
	// Output:
	// DC=corp,DC=example
	// CN=System Management,CN=System,DC=corp,DC=example
}

func ExampleCapabilities() {
	c := directory.Capabilities{
		Version:            "5.00.9141.1000",
		SecurityModeMaskEx: directory.SecuritySSLEnabled,
		CommandLine:        "SMSSITECODE=PS1",
		RootSiteCode:       "PS1",
		Ports:              directory.Ports{HTTP: 80, HTTPAlternate: 8080, HTTPS: 443},
	}
	fmt.Println(c)
	back, _ := directory.ParseCapabilities(c.String())
	fmt.Println(back.Ports.HTTP, back.Ports.HTTPAlternate, back.Ports.HTTPS, back.HTTPS(), back.SiteCode())
	// Output:
	// <ClientOperationalSettings><Version>5.00.9141.1000</Version><SecurityConfiguration><SecurityModeMaskEx>1</SecurityModeMaskEx></SecurityConfiguration><RootSiteCode>PS1</RootSiteCode><CCM><CommandLine>SMSSITECODE=PS1</CommandLine></CCM><IISPorts HTTP="80" HTTPAlternate="8080" HTTPS="443"></IISPorts></ClientOperationalSettings>
	// 80 8080 443 true PS1
}
