package wire

import (
	"fmt"
	"strconv"
)

// MP_LocationManager answers two requests here: SiteInformationRequest (which site,
// which version) and ContentLocationRequest (where a package's content is). Both reply
// shapes follow what public clients read (a <Site> with <SiteCode>, <Version> and
// <BuildNumber>; <LocationRecord>s with a <ServerRemoteName>) inside the elements the
// 2007 SDK documents; the root of the site reply is unconfirmed.

// AppendSiteInformationRequest appends <SiteInformationRequest> for site.
func AppendSiteInformationRequest(dst []byte, site string) []byte {
	dst = append(dst, `<SiteInformationRequest SchemaVersion="1.00"><SiteCode`...)
	dst = xAttr(dst, "Name", site)
	return append(dst, " /></SiteInformationRequest>"...)
}

// ParseSiteInformationRequest returns the site code a <SiteInformationRequest> asks about.
func ParseSiteInformationRequest(doc []byte) (string, error) {
	var site string
	found := false
	err := visit(doc, func(s *xmlScanner, path [][]byte, t xmlToken) (bool, error) {
		if err := rootIs(path, "SiteInformationRequest"); err != nil {
			return false, err
		}
		if pathIs(path, "SiteInformationRequest", "SiteCode") {
			found = true
			var err error
			site, err = attrString(t.attrs, "Name")
			return false, err
		}
		return false, nil
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: site information request without <SiteCode>", ErrMalformed)
	}
	return site, err
}

// SiteInfo is the content of a site information reply.
type SiteInfo struct {
	SiteCode    string
	SiteName    string
	Version     string // 5.00.9141.1000
	BuildNumber int    // 9141
	// RootSiteCode is written when set (unconfirmed element).
	RootSiteCode string
}

// AppendSiteInformationReply appends <SiteInformationReply><Site>… for s.
func AppendSiteInformationReply(dst []byte, s *SiteInfo) []byte {
	dst = append(dst, `<SiteInformationReply SchemaVersion="1.00"><Site>`...)
	dst = xElem(dst, "SiteCode", s.SiteCode)
	if s.SiteName != "" {
		dst = xElem(dst, "SiteName", s.SiteName)
	}
	dst = xElem(dst, "Version", s.Version)
	dst = xElemInt(dst, "BuildNumber", int64(s.BuildNumber))
	if s.RootSiteCode != "" {
		dst = xElem(dst, "RootSiteCode", s.RootSiteCode)
	}
	return append(dst, "</Site></SiteInformationReply>"...)
}

// ParseSiteInformationReply reads the first <Site> anywhere in the reply (whatever the
// root), as public clients do.
func ParseSiteInformationReply(doc []byte) (SiteInfo, error) {
	var si SiteInfo
	siteDepth, done := 0, false // path length of the first <Site>; whether it ended
	err := visit(doc, func(s *xmlScanner, path [][]byte, t xmlToken) (bool, error) {
		switch {
		case done:
			return false, nil
		case siteDepth == 0:
			if string(t.name) == "Site" {
				siteDepth = len(path)
			}
			return false, nil
		case len(path) <= siteDepth:
			done = true
			return false, nil
		case len(path) != siteDepth+1:
			return false, nil
		}
		var err error
		var v string
		switch string(t.name) {
		case "SiteCode":
			si.SiteCode, err = textString(s, t)
		case "SiteName":
			si.SiteName, err = textString(s, t)
		case "Version":
			si.Version, err = textString(s, t)
		case "BuildNumber":
			v, err = textString(s, t)
			si.BuildNumber, _ = strconv.Atoi(v)
		case "RootSiteCode":
			si.RootSiteCode, err = textString(s, t)
		default:
			return false, nil
		}
		return true, err
	})
	if err == nil && siteDepth == 0 {
		err = fmt.Errorf("%w: site information reply without <Site>", ErrMalformed)
	}
	return si, err
}

// ContentLocationRequest is the content of a <ContentLocationRequest>.
type ContentLocationRequest struct {
	PackageID      string // e.g. PS100004
	PackageVersion int
	SiteCode       string // the assigned site
	ADSite         string
	Forest         string
	Domain         string
	IPAddress      string
	SubnetAddress  string
}

// AppendContentLocationRequest appends the <ContentLocationRequest> for r.
func AppendContentLocationRequest(dst []byte, r *ContentLocationRequest) []byte {
	dst = append(dst, `<ContentLocationRequest SchemaVersion="1.00" BGRVersion="1"><Package`...)
	dst = xAttr(dst, "ID", r.PackageID)
	dst = xAttrInt(dst, "Version", int64(r.PackageVersion))
	dst = append(dst, " /><AssignedSite"...)
	dst = xAttr(dst, "SiteCode", r.SiteCode)
	dst = append(dst, ` /><ClientLocationInfo LocationType="SMSPACKAGE" DistributeOnDemand="0" UseProtected="0" AllowCaching="0" BranchDPFlags="0" AllowHTTP="1" AllowSMB="0" AllowMulticast="0" UseInternetDP="0"><ADSite`...)
	dst = xAttr(dst, "Name", r.ADSite)
	dst = append(dst, " /><Forest"...)
	dst = xAttr(dst, "Name", r.Forest)
	dst = append(dst, " /><Domain"...)
	dst = xAttr(dst, "Name", r.Domain)
	dst = append(dst, " /><IPAddresses><IPAddress"...)
	dst = xAttr(dst, "SubnetAddress", r.SubnetAddress)
	dst = xAttr(dst, "Address", r.IPAddress)
	return append(dst, " /></IPAddresses></ClientLocationInfo></ContentLocationRequest>"...)
}

// ParseContentLocationRequest reads a <ContentLocationRequest> (the MP side).
func ParseContentLocationRequest(doc []byte) (ContentLocationRequest, error) {
	var r ContentLocationRequest
	err := visit(doc, func(s *xmlScanner, path [][]byte, t xmlToken) (bool, error) {
		if err := rootIs(path, "ContentLocationRequest"); err != nil {
			return false, err
		}
		var err error
		switch {
		case pathIs(path, "ContentLocationRequest", "Package"):
			if r.PackageID, err = attrString(t.attrs, "ID"); err != nil {
				return false, err
			}
			v, _ := attr(t.attrs, "Version")
			r.PackageVersion = parseIntLoose(v)
		case pathIs(path, "ContentLocationRequest", "AssignedSite"):
			r.SiteCode, err = attrString(t.attrs, "SiteCode")
		case pathIs(path, "ContentLocationRequest", "ClientLocationInfo", "ADSite"):
			r.ADSite, err = attrString(t.attrs, "Name")
		case pathIs(path, "ContentLocationRequest", "ClientLocationInfo", "Forest"):
			r.Forest, err = attrString(t.attrs, "Name")
		case pathIs(path, "ContentLocationRequest", "ClientLocationInfo", "Domain"):
			r.Domain, err = attrString(t.attrs, "Name")
		case pathIs(path, "ContentLocationRequest", "ClientLocationInfo", "IPAddresses", "IPAddress"):
			if r.IPAddress == "" {
				if r.IPAddress, err = attrString(t.attrs, "Address"); err != nil {
					return false, err
				}
				r.SubnetAddress, err = attrString(t.attrs, "SubnetAddress")
			}
		}
		return false, err
	})
	return r, err
}

// ContentLocation is one distribution point record of a content location reply.
type ContentLocation struct {
	ServerName string // ServerRemoteName (FQDN)
	URL        string // http://dp/SMS_DP_SMSPKG$/PS100004
	SMBPath    string // \\dp\SMSPKGC$\PS100004\
	ADSite     string
	Subnet     string
	Metric     int
	Locality   string // LOCAL, REMOTE, … (unconfirmed element)
}

// ContentLocationReply is the content of a <ContentLocationReply>.
type ContentLocationReply struct {
	SiteCode  string // the MP's site (MPSite)
	Locations []ContentLocation
}

// AppendContentLocationReply appends the <ContentLocationReply> for r: the SDK's
// Sites/Site/MPSite/LocationRecords/LocationRecord layout, each record with the
// ServerRemoteName public tools read.
func AppendContentLocationReply(dst []byte, r *ContentLocationReply) []byte {
	dst = append(dst, `<ContentLocationReply SchemaVersion="1.00"><Sites><Site><MPSite`...)
	dst = xAttr(dst, "SiteCode", r.SiteCode)
	dst = xAttr(dst, "MasterSiteCode", r.SiteCode)
	dst = append(dst, ` SiteLocality="LOCAL" /><LocationRecords>`...)
	for i := range r.Locations {
		l := &r.Locations[i]
		dst = append(dst, "<LocationRecord>"...)
		if l.URL != "" {
			dst = append(dst, "<URL"...)
			dst = xAttr(dst, "Name", l.URL)
			dst = append(dst, " />"...)
		}
		if l.SMBPath != "" {
			dst = append(dst, "<SMBPath"...)
			dst = xAttr(dst, "Name", l.SMBPath)
			dst = append(dst, " />"...)
		}
		dst = append(dst, "<ADSite"...)
		dst = xAttr(dst, "Name", l.ADSite)
		dst = append(dst, " /><IPSubnets><IPSubnet"...)
		dst = xAttr(dst, "Address", l.Subnet)
		dst = append(dst, " /></IPSubnets><Metric"...)
		dst = xAttrInt(dst, "Value", int64(l.Metric))
		dst = append(dst, " />"...)
		dst = xElem(dst, "ServerRemoteName", l.ServerName)
		if l.Locality != "" {
			dst = xElem(dst, "Locality", l.Locality)
		}
		dst = append(dst, "</LocationRecord>"...)
	}
	return append(dst, "</LocationRecords></Site></Sites></ContentLocationReply>"...)
}

// ParseContentLocationReply reads a <ContentLocationReply> (the client side).
func ParseContentLocationReply(doc []byte) (ContentLocationReply, error) {
	var r ContentLocationReply
	const rec = "LocationRecord"
	err := visit(doc, func(s *xmlScanner, path [][]byte, t xmlToken) (bool, error) {
		if err := rootIs(path, "ContentLocationReply"); err != nil {
			return false, err
		}
		var err error
		n := len(path)
		switch {
		case string(t.name) == "MPSite" && r.SiteCode == "":
			r.SiteCode, err = attrString(t.attrs, "SiteCode")
		case string(t.name) == rec:
			r.Locations = append(r.Locations, ContentLocation{})
		case n >= 2 && string(path[n-2]) == rec && len(r.Locations) > 0:
			l := &r.Locations[len(r.Locations)-1]
			switch string(t.name) {
			case "URL":
				l.URL, err = attrString(t.attrs, "Name")
			case "SMBPath":
				l.SMBPath, err = attrString(t.attrs, "Name")
			case "ADSite":
				l.ADSite, err = attrString(t.attrs, "Name")
			case "Metric":
				v, _ := attr(t.attrs, "Value")
				l.Metric = parseIntLoose(v)
			case "ServerRemoteName":
				l.ServerName, err = textString(s, t)
				return true, err
			case "Locality":
				l.Locality, err = textString(s, t)
				return true, err
			}
		case n >= 3 && string(path[n-3]) == rec && string(t.name) == "IPSubnet" && len(r.Locations) > 0:
			l := &r.Locations[len(r.Locations)-1]
			if l.Subnet == "" {
				l.Subnet, err = attrString(t.attrs, "Address")
			}
		}
		return false, err
	})
	return r, err
}
