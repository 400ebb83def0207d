"""An input's XMP packet, made fit for the upscaled output: parsed as XML (nothing else is kept:
a packet that is not well-formed XML, or that declares a DOCTYPE or entities, is dropped), its
``tiff:Orientation`` set to 1 (the pixels are upright already), and its location — GPS
coordinates, and the place names of IPTC and Photoshop — removed unless asked to keep it
(upscaled photos get shared; the EXIF GPS block is dropped by the same rule).
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

TIFF_NS = "http://ns.adobe.com/tiff/1.0/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
# local names that place the photo: exif:GPS* (any), and the place fields of IPTC Core / Extension
# and Photoshop (their City, State, Country… in whatever namespace a writer put them)
_PLACE_NAMES = frozenset({"City", "State", "Country", "CountryCode", "Location", "Sublocation",
                          "LocationCreated", "LocationShown", "ProvinceState", "CountryName",
                          "WorldRegion"})
_PACKET_START = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_PACKET_END = '\n<?xpacket end="w"?>'
_DECLARATIONS = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


class MalformedXmp(ValueError):
    """The packet is not XML hinr will parse."""


def _local(name: str) -> tuple[str, str]:
    """'{namespace}local' → (namespace, local)."""
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return namespace, local
    return "", name


def _is_location(name: str) -> bool:
    _, local = _local(name)
    return local.startswith("GPS") or local in _PLACE_NAMES


def clean_xmp(packet: bytes, *, keep_gps: bool = False) -> bytes:
    """The packet with its orientation reset and (unless ``keep_gps``) its location removed;
    MalformedXmp if it is not well-formed XML or declares a DOCTYPE or entities."""
    text = packet.rstrip(b"\x00 \r\n\t")
    if _DECLARATIONS.search(text):
        raise MalformedXmp("it declares a DOCTYPE or entities")
    namespaces: dict[str, str] = {}
    try:
        for _, (prefix, uri) in ET.iterparse(io.BytesIO(text), events=("start-ns",)):
            namespaces.setdefault(prefix, uri)
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise MalformedXmp(f"it is not well-formed XML ({err})") from None
    for element in root.iter():
        for name in list(element.attrib):
            if name == f"{{{TIFF_NS}}}Orientation":
                element.attrib[name] = "1"
            elif not keep_gps and _is_location(name):
                del element.attrib[name]
        for child in list(element):
            if child.tag == f"{{{TIFF_NS}}}Orientation":
                child.text, child[:] = "1", []
            elif not keep_gps and _is_location(child.tag):
                element.remove(child)
    for prefix, uri in namespaces.items():  # keep the packet's own prefixes (x:, rdf:, exif:, …)
        try:
            ET.register_namespace(prefix, uri)
        except ValueError:  # a prefix ElementTree reserves (ns0, …): it picks another
            pass
    body = ET.tostring(root, encoding="unicode")
    return (_PACKET_START + body + _PACKET_END).encode("utf-8")
