package wire

import (
	"fmt"
	"time"
)

// MP_DdrEndpoint (heartbeat discovery) and MP_StatusReceiver (status messages) both take
// a <Report>: a <ReportHeader> identifying the client and the kind of report, then a
// <ReportBody>. The header follows the DDR public clients send (the SDK's inventory
// report header); the bodies are shape-only (unconfirmed): an MP only has to accept
// them.

// ReportClient identifies the reporting client in a <ReportHeader>.
type ReportClient struct {
	ClientID      string // the SMSID, GUID:…
	NetBIOSName   string
	ClientVersion string // 5.00.9141.1000 (default)
	CodePage      int    // 437 (default)
	LCID          int    // SystemDefaultLCID, 1033 (default)
}

func appendReportHeader(dst []byte, c *ReportClient, content, reportType string, date time.Time, actionID, description string) []byte {
	dst = append(dst, "<Report><ReportHeader><Identification><Machine><ClientInstalled>1</ClientInstalled><ClientType>1</ClientType>"...)
	dst = xElem(dst, "ClientID", c.ClientID)
	dst = xElem(dst, "ClientVersion", or(c.ClientVersion, "5.00.9141.1000"))
	dst = xElem(dst, "NetBIOSName", c.NetBIOSName)
	cp, lcid := c.CodePage, c.LCID
	if cp == 0 {
		cp = 437
	}
	if lcid == 0 {
		lcid = 1033
	}
	dst = xElemInt(dst, "CodePage", int64(cp))
	dst = xElemInt(dst, "SystemDefaultLCID", int64(lcid))
	dst = append(dst, "<Priority /></Machine></Identification><ReportDetails>"...)
	dst = xElem(dst, "ReportContent", content)
	dst = xElem(dst, "ReportType", reportType)
	dst = xElemWMITime(dst, "Date", date)
	dst = append(dst, "<Version>1.0</Version><Format>1.1</Format></ReportDetails>"...)
	if actionID != "" {
		dst = append(dst, `<InventoryAction ActionType="Predefined">`...)
		dst = xElem(dst, "InventoryActionID", actionID)
		dst = xElem(dst, "Description", description)
		dst = xElemWMITime(dst, "InventoryActionLastUpdateTime", date)
		dst = append(dst, "</InventoryAction>"...)
	}
	return append(dst, "</ReportHeader>"...)
}

// HeartbeatDDR is a heartbeat discovery record.
type HeartbeatDDR struct {
	Client   ReportClient
	Date     time.Time
	FQDN     string
	Domain   string
	SiteCode string
	IP       string
}

// discoveryActionID is the predefined inventory action of discovery (public DDRs).
const discoveryActionID = "{00000000-0000-0000-0000-000000000003}"

// AppendHeartbeatDDR appends the heartbeat <Report> for r: the header public clients
// send (ReportContent "Inventory Data", action {…0003} "Discovery"), and a body with
// one CCM_System-like instance (unconfirmed shape).
func AppendHeartbeatDDR(dst []byte, r *HeartbeatDDR) []byte {
	dst = appendReportHeader(dst, &r.Client, "Inventory Data", "Full", r.Date, discoveryActionID, "Discovery")
	dst = append(dst, `<ReportBody><Instance ParentClass="CCM_DiscoveryData" Class="CCM_DiscoveryData" Namespace="\\.\root\ccm" Content="New"><CCM_DiscoveryData>`...)
	dst = xElem(dst, "Name", r.Client.NetBIOSName)
	dst = xElem(dst, "FQDN", r.FQDN)
	dst = xElem(dst, "Domain", r.Domain)
	dst = xElem(dst, "SMSAssignedSite", r.SiteCode)
	dst = xElem(dst, "IPAddress", r.IP)
	dst = xElem(dst, "SMSUniqueIdentifier", r.Client.ClientID)
	return append(dst, "</CCM_DiscoveryData></Instance></ReportBody></Report>"...)
}

// StatusMessage is a client status message (to MP_StatusReceiver).
type StatusMessage struct {
	Client    ReportClient
	Date      time.Time
	Component string // e.g. PolicyAgent
	MessageID int    // e.g. 10002
	Severity  uint32 // 0x40000000 informational, 0x80000000 warning, 0xC0000000 error
	Insert    string // first insertion string, optional
}

// AppendStatusMessage appends the status <Report> for m (ReportContent "Status
// Message"; the body element and its attributes are unconfirmed).
func AppendStatusMessage(dst []byte, m *StatusMessage) []byte {
	dst = appendReportHeader(dst, &m.Client, "Status Message", "Delta", m.Date, "", "")
	dst = append(dst, "<ReportBody><StatusMessage"...)
	dst = xAttr(dst, "ModuleName", "SMS Client")
	dst = xAttr(dst, "Component", m.Component)
	dst = xAttrInt(dst, "MessageID", int64(m.MessageID))
	dst = xAttrInt(dst, "Severity", int64(m.Severity))
	dst = xAttrTime(dst, "Time", m.Date)
	dst = append(dst, ">"...)
	if m.Insert != "" {
		dst = xElem(dst, "InsertionString", m.Insert)
	}
	return append(dst, "</StatusMessage></ReportBody></Report>"...)
}

// ReportInfo is what an MP reads from a <Report>.
type ReportInfo struct {
	ClientID    string
	NetBIOSName string
	Content     string // ReportContent: Inventory Data, Status Message, …
	ActionID    string // InventoryActionID, when present
}

// ParseReport reads the header of a <Report> (DDR, status or inventory): enough for an
// MP to accept it and count it.
func ParseReport(doc []byte) (ReportInfo, error) {
	var r ReportInfo
	sawHeader := false
	err := visit(doc, func(s *xmlScanner, path [][]byte, t xmlToken) (bool, error) {
		if err := rootIs(path, "Report"); err != nil {
			return false, err
		}
		var err error
		switch {
		case pathIs(path, "Report", "ReportHeader"):
			sawHeader = true
			return false, nil
		case pathIs(path, "Report", "ReportHeader", "Identification", "Machine", "ClientID"):
			r.ClientID, err = textString(s, t)
		case pathIs(path, "Report", "ReportHeader", "Identification", "Machine", "NetBIOSName"):
			r.NetBIOSName, err = textString(s, t)
		case pathIs(path, "Report", "ReportHeader", "ReportDetails", "ReportContent"):
			r.Content, err = textString(s, t)
		case pathIs(path, "Report", "ReportHeader", "InventoryAction", "InventoryActionID"):
			r.ActionID, err = textString(s, t)
		case pathIs(path, "Report", "ReportBody"):
			return true, s.skip(t)
		default:
			return false, nil
		}
		return true, err
	})
	if err == nil && !sawHeader {
		err = fmt.Errorf("%w: report without <ReportHeader>", ErrMalformed)
	}
	return r, err
}
