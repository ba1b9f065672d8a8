package wire

import (
	"fmt"

	"github.com/Azure/go-ntlmssp"
)

// The client side of NTLM for portlab's simulated clients, on github.com/Azure/go-ntlmssp
// (NTLMv2 only; no key exchange, no MIC).

// ComputerAccount is a domain computer account a simulated client authenticates with.
type ComputerAccount struct {
	Domain      string // CORP
	User        string // CLIENT1$ (a computer account ends in $)
	Password    string // may be empty
	Workstation string // CLIENT1; empty: User without the $
}

// NegotiateToken returns the NTLM NEGOTIATE message (for "Authorization: NTLM …"). It
// names neither domain nor workstation, as go-ntlmssp recommends and Windows does.
func (a *ComputerAccount) NegotiateToken() ([]byte, error) {
	m, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		return nil, fmt.Errorf("ntlm negotiate for %s\\%s: %w", a.Domain, a.User, err)
	}
	return m, nil
}

// AuthenticateToken answers the server's CHALLENGE message with the AUTHENTICATE
// message for the account.
func (a *ComputerAccount) AuthenticateToken(challenge []byte) ([]byte, error) {
	ws := a.Workstation
	if ws == "" {
		ws = trimDollar(a.User)
	}
	user := a.User
	if a.Domain != "" {
		user = a.Domain + `\` + a.User
	}
	m, err := ntlmssp.NewAuthenticateMessage(challenge, user, a.Password, &ntlmssp.AuthenticateMessageOptions{WorkstationName: ws})
	if err != nil {
		return nil, fmt.Errorf("ntlm authenticate for %s\\%s: %w", a.Domain, a.User, err)
	}
	return m, nil
}

func trimDollar(s string) string {
	if len(s) > 1 && s[len(s)-1] == '$' {
		return s[:len(s)-1]
	}
	return s
}
