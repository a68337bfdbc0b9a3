"""Derives the single-colour tray glyphs and the console favicon from icons/realms.svg.

usage: derive.py SOURCE OUT_DIR FAVICON_PATH
Writes OUT_DIR/tray-light.svg (dark glyph, for light panels), OUT_DIR/tray-dark.svg (light glyph,
for dark panels) and FAVICON_PATH (the source on one line, without ids).
"""
import sys
import xml.etree.ElementTree as ET

SVG = "http://www.w3.org/2000/svg"
ET.register_namespace("", SVG)

# Tray glyphs drop the background square and fill the glyph's own box, so they read at 16-22 px.
TRAY_VIEWBOX = "7 7 18 18"
TRAY_COLOURS = {"tray-light.svg": "#111827", "tray-dark.svg": "#f9fafb"}


def main(source: str, out_dir: str, favicon: str) -> None:
    tree = ET.parse(source)
    root = tree.getroot()
    glyph = root.find(f"{{{SVG}}}path[@id='glyph']")
    if glyph is None:
        raise SystemExit(f"{source}: no <path id='glyph'>")
    for name, colour in TRAY_COLOURS.items():
        svg = ET.Element(f"{{{SVG}}}svg", {"viewBox": TRAY_VIEWBOX})
        path = ET.SubElement(svg, f"{{{SVG}}}path", dict(glyph.attrib))
        path.set("fill", colour)
        ET.ElementTree(svg).write(f"{out_dir}/{name}", encoding="unicode")
    for element in root.iter():
        element.tail = None
        element.attrib.pop("id", None)
        if element.text is not None and not element.text.strip():
            element.text = None
    compact = ET.tostring(root, encoding="unicode").replace(" />", "/>")
    with open(favicon, "w", encoding="utf-8") as out:
        out.write(compact + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
