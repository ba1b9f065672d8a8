package directory

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFilter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error // nil: parses
	}{
		{"(objectClass=*)", nil},
		{"(cn=SMS-MP-*)", nil},
		{"(cn=*MP*CORP*)", nil},
		{"(cn=*example)", nil},
		{"(&(objectClass=mSSMSManagementPoint)(mSSMSSiteCode=PS1))", nil},
		{"(|(mSSMSSiteCode=PS1)(!(mSSMSSiteCode=PS2)))", nil},
		{"(mSSMSVersion>=9000)", nil},
		{"(mSSMSVersion<=9999)", nil},
		{"(cn~=sms-site-ps1)", nil},
		{"(mSSMSVersion:1.2.840.113556.1.4.803:=1)", nil},
		{"(cn:dn:=System)", nil},
		{"(:dn:2.5.13.2:=System)", nil},
		{"(cn;lang-en=x)", nil},
		{"(2.5.4.3=x)", nil},
		{"(cn=a\\2ab)", nil},
		{"(&)", nil},
		{"(|)", nil},
		{"", ErrFilterSyntax},
		{"objectClass=*", ErrFilterSyntax},
		{"(objectClass=*", ErrFilterSyntax},
		{"(objectClass=*))", ErrFilterSyntax},
		{"(objectClass)", ErrFilterSyntax},
		{"(=x)", ErrFilterSyntax},
		{"(c n=x)", ErrFilterSyntax},
		{"(cn=a\\2)", ErrFilterSyntax},
		{"(cn=a\\zz)", ErrFilterSyntax},
		{"(cn>=a*)", ErrFilterSyntax},
		{"(:=x)", ErrFilterSyntax},
		{"(cn:bad rule:=x)", ErrFilterSyntax},
		{"(!(a=b)(c=d))", ErrFilterSyntax},
		{"(&(a=b)", ErrFilterSyntax},
		{"(a=(b))", ErrFilterSyntax},
		{strings.Repeat("(!", 40) + "(a=b)" + strings.Repeat(")", 40), ErrFilterTooLarge},
		{"(|" + strings.Repeat("(a=b)", 300) + ")", ErrFilterTooLarge},
		{"(cn=" + strings.Repeat("x", MaxFilterLen) + ")", ErrFilterTooLarge},
	} {
		_, err := parseFilter(tc.in)
		if tc.want == nil && err != nil {
			t.Errorf("%.60q: %v", tc.in, err)
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%.60q: err %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	n, err := testPublication().normalize()
	if err != nil {
		t.Fatal(err)
	}
	tr := buildTree(n, "dc1.corp.example")
	mp1 := tr.byDN[mustNormalizeDN("CN=SMS-MP-PS1-MP1.CORP.EXAMPLE,CN=System Management,CN=System,DC=corp,DC=example")]
	if mp1 == nil {
		t.Fatal("no mp1 entry")
	}
	for _, tc := range []struct {
		f    string
		want bool
	}{
		{"(objectClass=*)", true},
		{"(objectClass=mSSMSManagementPoint)", true},
		{"(objectclass=MSSMSMANAGEMENTPOINT)", true},
		{"(objectClass=serviceConnectionPoint)", true},
		{"(objectClass=mSSMSSite)", false},
		{"(objectCategory=mSSMSManagementPoint)", true},
		{"(objectCategory=CN=MS-SMS-Management-Point,CN=Schema,CN=Configuration,DC=corp,DC=example)", true},
		{"(objectCategory=mSSMSSite)", false},
		{"(mSSMSAddress=*)", false},
		{"(mSSMSMPAddress=*)", true},
		{"(mSSMSSiteCode=ps1)", true},
		{"(cn=SMS-MP-*)", true},
		{"(cn=*MP1*EXAMPLE)", true},
		{"(cn=SMS-MP-PS2*)", false},
		{"(cn=*.corp)", false},
		{"(mSSMSVersion>=9141)", true},
		{"(mSSMSVersion>=9142)", false},
		{"(mSSMSVersion<=9141)", true},
		{"(mSSMSVersion<=10000)", true}, // as integers, not text
		{"(mSSMSVersion<=900)", false},
		{"(dNSHostName~=MP1.corp.example)", true},
		{"(mSSMSVersion:1.2.840.113556.1.4.803:=5)", true},  // 9141 = 0b10001110110101
		{"(mSSMSVersion:1.2.840.113556.1.4.803:=2)", false}, // bit 1 clear
		{"(mSSMSVersion:1.2.840.113556.1.4.804:=3)", true},
		{"(mSSMSVersion:1.9.9:=3)", false},
		{"(cn:dn:=System Management)", true},
		{"(cn:=System Management)", false},
		{"(:dn:2.5.13.2:=corp)", true},
		{"(&(objectClass=mSSMSManagementPoint)(mSSMSDefaultMP=TRUE))", true},
		{"(&(objectClass=mSSMSManagementPoint)(mSSMSDefaultMP=FALSE))", false},
		{"(|(mSSMSSiteCode=XXX)(mSSMSSiteCode=PS1))", true},
		{"(!(mSSMSSiteCode=PS1))", false},
		{"(&)", true},
		{"(|)", false},
		{"(cn=sms-mp-ps1-mp1.corp.example)", true},
		{"(cn=sms\\2dmp\\2dps1\\2dmp1.corp.example)", true},
	} {
		f, err := parseFilter(tc.f)
		if err != nil {
			t.Errorf("%s: %v", tc.f, err)
			continue
		}
		if got := f.match(mp1); got != tc.want {
			t.Errorf("%s on mp1: %v, want %v", tc.f, got, tc.want)
		}
	}
}

// FuzzParseFilter: any text either parses within the bounds or is refused with one of
// the two errors; a parsed filter can be evaluated on every served entry.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"(objectClass=*)", "(&(objectClass=mSSMSManagementPoint)(mSSMSSiteCode=PS1))", "(cn=*a*b*c)",
		"(|(a>=1)(b<=2)(c~=3)(!(d=4)))", "(cn:dn:1.2.840.113556.1.4.803:=7)", "(:dn:2.5.13.2:=x)", "(cn=\\2a\\28)",
		"(&)", "(|)", "((", "(a=b))", "(a=\\",
	} {
		f.Add(s)
	}
	n, err := testPublication().normalize()
	if err != nil {
		f.Fatal(err)
	}
	tr := buildTree(n, "dc1.corp.example")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 2*MaxFilterLen {
			return // the bound is checked first; longer inputs only cost time
		}
		flt, err := parseFilter(s)
		if err != nil {
			if !errors.Is(err, ErrFilterSyntax) && !errors.Is(err, ErrFilterTooLarge) {
				t.Fatalf("%q: unexpected error kind %v", s, err)
			}
			return
		}
		if len(s) > MaxFilterLen {
			t.Fatalf("parsed %d bytes, over the bound", len(s))
		}
		for _, e := range tr.entries {
			flt.match(e)
		}
	})
}
