"""Every namespace URI and fixed protocol URI, named once (REFERENCE.md section 0).

``PREFIXES`` maps the prefixes we emit to their namespaces; they are registered
with ElementTree on import of :mod:`firmware.wire.xml` so serialized messages
read ``soap:``, ``wsa:``, ``wscn:`` and so on.
"""

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
WSDP = "http://schemas.xmlsoap.org/ws/2006/02/devprof"
WSE = "http://schemas.xmlsoap.org/ws/2004/08/eventing"
MEX = "http://schemas.xmlsoap.org/ws/2004/09/mex"
WST = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
SCAN = "http://schemas.microsoft.com/windows/2006/08/wdp/scan"
PNPX = "http://schemas.microsoft.com/windows/pnpx/2005/10"
DF = "http://schemas.microsoft.com/windows/2008/09/devicefoundation"
XOP = "http://www.w3.org/2004/08/xop/include"
XML = "http://www.w3.org/XML/1998/namespace"
ESCL = "http://schemas.hp.com/imaging/escl/2011/05/03"  # eSCL (Mopria / AirScan) scan elements
PWG = "http://www.pwg.org/schemas/2010/12/sm"  # PWG semantic model elements eSCL uses

PREFIXES = {
    "soap": SOAP,
    "wsa": WSA,
    "wsd": WSD,
    "wsdp": WSDP,
    "wse": WSE,
    "mex": MEX,
    "wscn": SCAN,
    "pnpx": PNPX,
    "df": DF,
    "xop": XOP,
    "scan": ESCL,
    "pwg": PWG,
}

# WS-Addressing fixed values
ANONYMOUS = WSA + "/role/anonymous"
ADDRESSING_FAULT_ACTION = WSA + "/fault"

# Scan service action URIs: request = SCAN_ACTION_BASE + Op, response = + "Response"
SCAN_ACTION_BASE = SCAN + "/"


def scan_action(operation: str) -> str:
    """Return the wsa:Action URI of a WS-Scan operation or event, e.g. ``scan_action("CreateScanJob")``."""
    return SCAN_ACTION_BASE + operation
